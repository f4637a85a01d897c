//! Symbolizing real files: this test binary and the C library it runs with.

use std::{fs, path::PathBuf};

use super::*;

/// Frames alone, as a stack with nothing read from its top.
trait SymbolizeFrames {
    fn symbolize_raw(&mut self, frames: &[RawFrame], places: &Places) -> Vec<Frame>;
}

impl SymbolizeFrames for Symbolizer {
    fn symbolize_raw(&mut self, frames: &[RawFrame], places: &Places) -> Vec<Frame> {
        let stack = RawStack {
            frames: frames.to_vec(),
            ..RawStack::default()
        };
        self.symbolize(&stack, places)
    }
}

/// No process has this pid, so nothing is looked up through /proc.
const GONE: u32 = u32::MAX - 1;

const MARKER_LINE: u32 = line!();
#[inline(never)]
fn stack_symbolizer_marker_fn(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_mul(31)
}

/// The mapping of this process that holds `addr`: (file offset of `addr`, path).
fn file_offset_of(addr: u64) -> (u64, String) {
    let maps = fs::read_to_string("/proc/self/maps").expect("own maps");
    for line in maps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (start, end) = fields[0].split_once('-').expect("range");
        let start = u64::from_str_radix(start, 16).expect("start");
        let end = u64::from_str_radix(end, 16).expect("end");
        if (start..end).contains(&addr) {
            let offset = u64::from_str_radix(fields[2], 16).expect("offset");
            return (addr - start + offset, fields[5..].join(" "));
        }
    }
    panic!("{addr:#x} is in no mapping");
}

fn build_id(path: &str) -> Vec<u8> {
    blazesym::helper::read_elf_build_id(path)
        .expect("readable ELF file")
        .expect("a build id")
        .into_owned()
}

/// The marker function as the kernel would report it: its address and build id + file offset.
fn marker_frame() -> (RawFrame, String) {
    let ip = stack_symbolizer_marker_fn as *const () as u64;
    let (file_offset, path) = file_offset_of(ip);
    let module = ModuleRef {
        build_id: build_id("/proc/self/exe"),
        file_offset,
    };
    (
        RawFrame {
            ip,
            module: Some(module),
        },
        path,
    )
}

/// `getpid` in the C library this process runs with.
fn getpid_frame() -> (RawFrame, String) {
    // dlsym rather than `libc::getpid as u64`: a function pointer may be a PLT stub in the
    // executable rather than the function in libc.
    // SAFETY: a lookup of a symbol by a nul-terminated name, in the global scope.
    let ip = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"getpid".as_ptr()) } as u64;
    assert_ne!(ip, 0, "getpid resolves");
    let (file_offset, path) = file_offset_of(ip);
    let module = ModuleRef {
        build_id: build_id(&path),
        file_offset,
    };
    (
        RawFrame {
            ip,
            module: Some(module),
        },
        path,
    )
}

fn host_places(pid: u32, exe: Option<String>) -> Places {
    Places {
        pid,
        roots: vec![PathBuf::from("/")],
        exe,
    }
}

fn exe_path() -> String {
    std::env::current_exe()
        .expect("own exe")
        .to_string_lossy()
        .into_owned()
}

fn assert_is_marker(frame: &Frame) {
    let function = frame.function.as_deref().unwrap_or_default();
    assert!(
        function.ends_with("stack_symbolizer_marker_fn"),
        "{frame:?}"
    );
    assert!(
        frame
            .file
            .as_deref()
            .unwrap_or_default()
            .ends_with("stack/tests.rs"),
        "{frame:?}"
    );
    let line = frame.line.expect("a line");
    assert!(
        (MARKER_LINE + 1..=MARKER_LINE + 3).contains(&line),
        "{frame:?}"
    );
    assert!(!frame.inlined);
}

#[test]
fn names_a_function_of_a_dead_process_through_its_exe() {
    let (raw, path) = marker_frame();
    let mut symbolizer = Symbolizer::new();
    let frames = symbolizer.symbolize_raw(
        std::slice::from_ref(&raw),
        &host_places(GONE, Some(exe_path())),
    );
    assert_eq!(frames.len(), 1, "{frames:?}");
    let frame = &frames[0];
    assert_is_marker(frame);
    assert_eq!(frame.ip, raw.ip);
    assert_eq!(frame.function_offset, Some(0));
    assert_eq!(frame.module.as_deref(), Some(path.as_str()));
    let module = raw.module.as_ref().expect("module");
    assert_eq!(frame.file_offset, Some(module.file_offset));
    assert_eq!(frame.build_id, Some(buildid::hex(&module.build_id)));
    assert_eq!(symbolizer.stats().modules_found, 1);
}

#[test]
fn looks_up_return_addresses_one_byte_back() {
    let (first, _) = marker_frame();
    let mut second = first.clone();
    second.ip += 1;
    if let Some(module) = &mut second.module {
        module.file_offset += 1;
    }
    let mut symbolizer = Symbolizer::new();
    let frames = symbolizer.symbolize_raw(
        &[first, second.clone()],
        &host_places(GONE, Some(exe_path())),
    );
    assert_eq!(frames.len(), 2, "{frames:?}");
    // The return address is one past the marker's first byte: that byte is looked up, and the
    // offset reported is that of the address as captured.
    assert_is_marker(&frames[1]);
    assert_eq!(frames[1].ip, second.ip);
    assert_eq!(frames[1].function_offset, Some(1));
    assert_eq!(frames[1].file_offset, second.module.map(|m| m.file_offset));
}

#[test]
#[ignore = "needs root for /proc/PID/map_files: cargo xtask test runs it as root"]
fn names_a_function_of_a_live_process_through_map_files() {
    let (raw, path) = marker_frame();
    let mut symbolizer = Symbolizer::new();
    // No roots and no exe: only the live process's mappings can lead to the file.
    let places = Places {
        pid: std::process::id(),
        roots: Vec::new(),
        exe: None,
    };
    let frames = symbolizer.symbolize_raw(&[raw], &places);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_is_marker(&frames[0]);
    assert_eq!(frames[0].module.as_deref(), Some(path.as_str()));
}

#[test]
fn finds_libc_through_the_library_directories() {
    let (raw, path) = getpid_frame();
    let mut symbolizer = Symbolizer::new();
    let frames = symbolizer.symbolize_raw(std::slice::from_ref(&raw), &host_places(GONE, None));
    let frame = frames.last().expect("a frame");
    assert!(
        frame
            .function
            .as_deref()
            .unwrap_or_default()
            .contains("getpid"),
        "{frames:?}"
    );
    assert_eq!(frame.module.as_deref(), Some(path.as_str()));
    assert_eq!(frame.ip, raw.ip);
    let stats = symbolizer.stats();
    assert_eq!(
        (
            stats.module_lookups,
            stats.modules_found,
            stats.indexes_built
        ),
        (1, 1, 1)
    );
}

#[test]
fn symbolizes_again_from_the_cache() {
    let frames = [marker_frame().0, getpid_frame().0];
    let places = host_places(GONE, Some(exe_path()));
    let mut symbolizer = Symbolizer::new();
    let first = symbolizer.symbolize_raw(&frames, &places);
    let before = symbolizer.stats();
    assert_eq!((before.cached_frames, before.symbolized_frames), (0, 2));
    let second = symbolizer.symbolize_raw(&frames, &places);
    assert_eq!(first, second);
    let after = symbolizer.stats();
    assert_eq!(after.cached_frames, 2);
    assert_eq!(after.symbolized_frames, before.symbolized_frames);
    assert_eq!(after.module_lookups, before.module_lookups);
}

#[test]
fn an_unknown_build_id_keeps_what_the_kernel_said() {
    let raw = RawFrame {
        ip: 0x7f00_1234_5678,
        module: Some(ModuleRef {
            build_id: vec![0xde, 0xad, 0xbe, 0xef],
            file_offset: 0x1678,
        }),
    };
    let mut symbolizer = Symbolizer::new();
    let places = host_places(GONE, Some(exe_path()));
    let expected = vec![Frame {
        ip: 0x7f00_1234_5678,
        build_id: Some("deadbeef".into()),
        file_offset: Some(0x1678),
        ..Frame::default()
    }];
    assert_eq!(
        symbolizer.symbolize_raw(std::slice::from_ref(&raw), &places),
        expected
    );
    // Known to be missing from these places: not searched again, until a new one is given.
    assert_eq!(
        symbolizer.symbolize_raw(std::slice::from_ref(&raw), &places),
        expected
    );
    assert_eq!(symbolizer.stats().module_lookups, 1);
    let elsewhere = Places {
        roots: vec!["/".into(), std::env::temp_dir()],
        ..places
    };
    assert_eq!(symbolizer.symbolize_raw(&[raw], &elsewhere), expected);
    assert_eq!(symbolizer.stats().module_lookups, 2);
}

#[test]
fn frames_without_module_of_a_gone_process_keep_their_ip() {
    let raw = RawFrame {
        ip: 0x55_0000_1000,
        module: None,
    };
    let frames = Symbolizer::new().symbolize_raw(&[raw], &host_places(GONE, None));
    assert_eq!(
        frames,
        vec![Frame {
            ip: 0x55_0000_1000,
            ..Frame::default()
        }]
    );
}

#[test]
#[ignore = "needs root for /proc/PID/map_files: cargo xtask test runs it as root"]
fn frames_without_module_of_a_live_process_are_asked_of_it() {
    let (raw, path) = marker_frame();
    let raw = RawFrame {
        module: None,
        ..raw
    };
    let places = Places {
        pid: std::process::id(),
        ..Places::default()
    };
    let frames = Symbolizer::new().symbolize_raw(&[raw], &places);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_is_marker(&frames[0]);
    assert_eq!(frames[0].module.as_deref(), Some(path.as_str()));
}

#[test]
fn an_offset_past_the_end_of_the_file_names_nothing() {
    let (raw, path) = getpid_frame();
    let module = raw.module.map(|m| ModuleRef {
        file_offset: 1 << 40,
        ..m
    });
    let raw = RawFrame { module, ..raw };
    let frames = Symbolizer::new().symbolize_raw(&[raw], &host_places(GONE, None));
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].module.as_deref(), Some(path.as_str()));
    assert_eq!(frames[0].function, None);
}

/// A root whose `usr/lib` holds `files`, removed when dropped.
struct Root(PathBuf);

impl Root {
    fn new(name: &str, files: &[(&str, &[u8])]) -> Self {
        let root = std::env::temp_dir().join(format!("tracer-stack-{name}-{}", std::process::id()));
        let lib = root.join("usr/lib");
        fs::create_dir_all(&lib).expect("temp dir");
        for (file, bytes) in files {
            fs::write(lib.join(file), bytes).expect("write");
        }
        Self(root)
    }

    fn places(&self, exe: &str) -> Places {
        Places {
            pid: GONE,
            roots: vec![self.0.clone()],
            exe: Some(exe.into()),
        }
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// This test binary with everything between its start and its section headers overwritten,
/// the build id note (the first section) excepted: the same build id, with garbage for code,
/// symbols and debug information.
fn corrupt_exe() -> Vec<u8> {
    let mut exe = fs::read("/proc/self/exe").expect("own exe");
    let shoff = u64::from_le_bytes(exe[0x28..0x30].try_into().expect("8 bytes"));
    let end = usize::try_from(shoff).expect("offset");
    for (n, byte) in exe[4096..end].iter_mut().enumerate() {
        *byte = (n % 251) as u8;
    }
    exe
}

#[test]
fn files_that_are_not_whole_elf_files_are_passed_over() {
    let (raw, libc) = getpid_frame();
    let elf = fs::read(libc).expect("libc");
    let root = Root::new(
        "junk",
        &[
            ("libtext.so", b"INPUT(libc.so.6)\n"),
            ("libempty.so", b""),
            ("libhead.so", &elf[..64]),
            ("libhalf.so", &elf[..elf.len() / 2]),
        ],
    );
    let mut symbolizer = Symbolizer::new();
    let frames = symbolizer.symbolize_raw(
        std::slice::from_ref(&raw),
        &root.places("/usr/lib/libhalf.so"),
    );
    assert_eq!(frames.len(), 1);
    assert_eq!(
        (frames[0].ip, &frames[0].module, &frames[0].function),
        (raw.ip, &None, &None)
    );
    // Were one of them taken for the module all the same, blazesym would find nothing in it.
    let offset = raw.module.map(|m| m.file_offset).unwrap_or_default();
    for file in ["libtext.so", "libempty.so", "libhead.so", "libhalf.so"] {
        let source = Source::Elf(Elf::new(root.0.join("usr/lib").join(file)));
        let found = symbolizer.lookup(&source, Input::FileOffset(offset), Some(file));
        let function = found.and_then(|frames| frames.into_iter().find_map(|f| f.function));
        assert_eq!(function, None, "{file}");
    }
}

#[test]
fn a_corrupt_file_with_the_right_build_id_does_not_panic() {
    let root = Root::new("corrupt", &[("libcorrupt.so", &corrupt_exe())]);
    let (raw, _) = marker_frame();
    let frames = Symbolizer::new().symbolize_raw(
        std::slice::from_ref(&raw),
        &root.places("/usr/lib/libcorrupt.so"),
    );
    assert!(!frames.is_empty());
    assert_eq!(frames[0].ip, raw.ip);
    assert_eq!(frames[0].module.as_deref(), Some("/usr/lib/libcorrupt.so"));
}

#[inline(always)]
fn stack_symbolizer_inlined_fn(x: u64) -> u64 {
    std::hint::black_box(x) ^ 0x55
}

const CALL_LINE: u32 = line!() + 3;
#[inline(never)]
fn stack_symbolizer_outer_fn(x: u64) -> u64 {
    stack_symbolizer_inlined_fn(x).wrapping_add(1)
}

#[test]
fn a_function_inlined_at_the_address_comes_first() {
    let ip = stack_symbolizer_outer_fn as *const () as u64;
    let (file_offset, _) = file_offset_of(ip);
    let build_id = build_id("/proc/self/exe");
    let mut symbolizer = Symbolizer::new();
    let places = host_places(GONE, Some(exe_path()));
    // Some instruction in the outer function's first bytes is the inlined one's.
    let inlined = (0..64).find_map(|n| {
        let module = ModuleRef {
            build_id: build_id.clone(),
            file_offset: file_offset + n,
        };
        let frames = symbolizer.symbolize_raw(
            &[RawFrame {
                ip: ip + n,
                module: Some(module),
            }],
            &places,
        );
        (frames.len() == 2).then_some(frames)
    });
    let frames = inlined.expect("an address in the inlined function");
    let names: Vec<_> = frames
        .iter()
        .map(|f| (f.function.as_deref().unwrap_or_default(), f.inlined))
        .collect();
    assert!(
        names[0].0.ends_with("stack_symbolizer_inlined_fn") && names[0].1,
        "{frames:?}"
    );
    assert!(
        names[1].0.ends_with("stack_symbolizer_outer_fn") && !names[1].1,
        "{frames:?}"
    );
    assert_eq!(frames[1].line, Some(CALL_LINE), "the call site");
    assert_eq!(frames[0].function_offset, None);
    assert!(frames[1].function_offset.is_some());
}

/// libc's `syscall()` at the instruction after its `syscall`, as the innermost frame.
fn syscall_wrapper_frame() -> RawFrame {
    // SAFETY: a lookup of a symbol by a nul-terminated name, in the global scope.
    let start = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"syscall".as_ptr()) } as u64;
    assert_ne!(start, 0, "syscall resolves");
    let ip = start + 0x19;
    let (file_offset, path) = file_offset_of(ip);
    RawFrame {
        ip,
        module: Some(ModuleRef {
            build_id: build_id(&path),
            file_offset,
        }),
    }
}

/// A return address into the marker function, and the frame the walk went on with.
fn marker_return_and_outer() -> (u64, RawFrame) {
    let (marker, _) = marker_frame();
    let (mut outer, _) = marker_frame();
    outer.ip += 8;
    if let Some(module) = &mut outer.module {
        module.file_offset += 8;
    }
    (marker.ip + 4, outer)
}

#[test]
fn the_caller_a_frameless_wrapper_hides_is_found_on_the_stack_top() {
    let wrapper = syscall_wrapper_frame();
    let (return_address, outer) = marker_return_and_outer();
    let stack = RawStack {
        frames: vec![wrapper.clone(), outer.clone()],
        sp: Some(0x7ffc_0000),
        top: vec![return_address, 0, 0, 0, 0, 0, 0, 0],
    };
    let frames = Symbolizer::new().symbolize(&stack, &host_places(GONE, Some(exe_path())));
    let names: Vec<_> = frames.iter().map(|f| f.function.clone()).collect();
    assert_eq!(frames.len(), 3, "{frames:?}");
    assert!(
        names[0].as_deref().unwrap_or_default().contains("syscall"),
        "{names:?}"
    );
    assert_is_marker(&frames[1]);
    assert_eq!(frames[1].ip, return_address);
    assert_eq!(frames[2].ip, outer.ip);
}

#[test]
fn no_caller_is_invented_where_the_walk_missed_nothing() {
    let wrapper = syscall_wrapper_frame();
    let (return_address, outer) = marker_return_and_outer();
    let places = host_places(GONE, Some(exe_path()));
    // The walk already has it.
    let walked = RawStack {
        frames: vec![
            wrapper.clone(),
            RawFrame {
                ip: return_address,
                ..outer.clone()
            },
        ],
        sp: Some(0x7ffc_0000),
        top: vec![return_address; 8],
    };
    assert_eq!(Symbolizer::new().symbolize(&walked, &places).len(), 2);
    // The word on the stack top points at no code of the stack's modules.
    let data = RawStack {
        frames: vec![wrapper.clone(), outer.clone()],
        sp: Some(0x7ffc_0000),
        top: vec![0x7ffc_1234; 8],
    };
    assert_eq!(Symbolizer::new().symbolize(&data, &places).len(), 2);
}

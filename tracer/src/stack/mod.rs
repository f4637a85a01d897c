//! Symbolizing user stacks: naming the function, file and line of each frame the kernel
//! programs captured, even once the process is gone.
//!
//! The kernel reports each frame's module by build id and file offset, which still name the
//! code after the process died: `modules` finds a file with that build id (through the live
//! process, the executable's path or the library directories of the process's root), and
//! blazesym reads its symbols and debug information. Both the files found and the frames
//! symbolized are cached, so that a crash loop costs one lookup.

mod buildid;
mod cache;
mod frames;
mod index;
mod leaf;
mod maps;
mod modules;

use std::path::PathBuf;

use blazesym::{
    Pid,
    symbolize::{
        self as blaze, Input,
        evict::{self, Evict},
        source::{Elf, Process as ProcessSource, Source},
    },
};

use cache::Bounded;
use modules::{Modules, Process};

/// How many symbolized addresses are kept: enough for the distinct frames of many crash loops.
const MAX_RESULTS: usize = 8192;
/// How many modules' code ranges, and innermost frames' return address words, are kept.
const MAX_CODE_RANGES: usize = 128;
const MAX_LEAVES: usize = 4096;

/// A stack as the kernel captured it: its frames, innermost first, and the top of the stack.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawStack {
    pub frames: Vec<RawFrame>,
    /// The user stack pointer, and the words it points to.
    pub sp: Option<u64>,
    pub top: Vec<u64>,
}

/// One frame as the kernel captured it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawFrame {
    /// The instruction pointer in the process (return addresses as captured: for frames past
    /// the first, the address after the call).
    pub ip: u64,
    /// The module (ELF file) the kernel found the frame in: its build id and the frame's file
    /// offset.
    pub module: Option<ModuleRef>,
}

/// A module by build id, and an offset into its file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModuleRef {
    pub build_id: Vec<u8>,
    pub file_offset: u64,
}

/// A frame as tracer reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Frame {
    pub ip: u64,
    /// Path of the module as the process saw it (inside its container), where found.
    pub module: Option<String>,
    /// Lower-case hex.
    pub build_id: Option<String>,
    pub file_offset: Option<u64>,
    /// Demangled function name, and the offset of `ip` from its start.
    pub function: Option<String>,
    pub function_offset: Option<u64>,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// True for a frame of a function inlined into the next one (blazesym reports inlined
    /// callers).
    pub inlined: bool,
}

impl Frame {
    /// A frame as the kernel captured it, named by nothing more: what goes out where it could
    /// not be symbolized in time.
    pub fn unsymbolized(raw: &RawFrame) -> Self {
        Frame {
            ip: raw.ip,
            build_id: raw.module.as_ref().map(|m| buildid::hex(&m.build_id)),
            file_offset: raw.module.as_ref().map(|m| m.file_offset),
            ..Frame::default()
        }
    }
}

/// Where the files a process had mapped can be found now, tried in order.
#[derive(Clone, Debug, Default)]
pub struct Places {
    pub pid: u32,
    /// Directories that stand for the process's root directory: `/proc/<pid>/root` while it
    /// lives, a container's merged/upper/lower layer directories, `/` for a host process.
    pub roots: Vec<PathBuf>,
    /// The executable's path as the process saw it (e.g. `/usr/local/bin/app`), if known.
    pub exe: Option<String>,
}

/// What the caches saved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SymbolizerStats {
    /// Build ids searched for: not among the modules found before, nor known to be missing
    /// from the places given.
    pub module_lookups: u64,
    /// Of those, the ones whose file was found.
    pub modules_found: u64,
    /// Library directory indexes built (one per root, rebuilt when stale).
    pub indexes_built: u64,
    /// Frames whose symbolization came from the cache.
    pub cached_frames: u64,
    /// Frames blazesym was asked to symbolize.
    pub symbolized_frames: u64,
}

/// Symbolizes stacks, keeping what it learns for the next ones.
///
/// Not `Send`: blazesym's symbolizer is not. Create it on the thread that uses it.
pub struct Symbolizer {
    blaze: blaze::Symbolizer,
    modules: Modules,
    /// (build id, file offset looked up) → the frames found there, with module, names and
    /// source locations but no ip, build id or file offset.
    results: Bounded<(Vec<u8>, u64), Vec<Frame>>,
    /// Build id → its file's executable ranges.
    code_ranges: Bounded<Vec<u8>, Vec<std::ops::Range<u64>>>,
    /// (build id, file offset) of an innermost frame → the stack top word holding its return
    /// address, where the function keeps no frame of its own.
    leaves: Bounded<(Vec<u8>, u64), Option<usize>>,
    cached_frames: u64,
    symbolized_frames: u64,
}

impl Default for Symbolizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Symbolizer {
    pub fn new() -> Self {
        let blaze = blaze::Symbolizer::builder()
            // Files are chosen by build id, so the file blazesym opened at a path stays the
            // right one for that id even if the path is replaced (or, for map_files, gone).
            // `Modules` says when a path has to be read again; blazesym need not stat every
            // path on every lookup to find out.
            .enable_auto_reload(false)
            .build();
        Self {
            blaze,
            modules: Modules::new(),
            results: Bounded::new(MAX_RESULTS),
            code_ranges: Bounded::new(MAX_CODE_RANGES),
            leaves: Bounded::new(MAX_LEAVES),
            cached_frames: 0,
            symbolized_frames: 0,
        }
    }

    /// Symbolizes the stack of one event, with the frame a frame-pointer walk skipped where
    /// it can be found. Never fails: a frame that cannot be symbolized keeps its ip and
    /// whatever module info is known.
    pub fn symbolize(&mut self, stack: &RawStack, places: &Places) -> Vec<Frame> {
        let mut process = Process::new(places.pid);
        let mut frames = stack.frames.clone();
        if let Some(caller) = self.skipped_caller(stack, &mut process, places) {
            frames.insert(1, caller);
        }
        self.symbolize_frames(&frames, &mut process, places)
    }

    /// The caller of the innermost function, where that function keeps no frame of its own
    /// (so the walk went from it to its caller's caller): its return address is on the stack
    /// top, in the word the function's call frame information names.
    fn skipped_caller(
        &mut self,
        stack: &RawStack,
        process: &mut Process,
        places: &Places,
    ) -> Option<RawFrame> {
        let innermost = stack.frames.first()?;
        let module = innermost.module.as_ref()?;
        let key = (module.build_id.clone(), module.file_offset);
        let word = match self.leaves.get(&key) {
            Some(word) => *word,
            None => {
                let elf = self.read_module(&module.build_id, innermost.ip, process, places)?;
                let word = leaf::return_address_word(&elf, module.file_offset);
                self.code_ranges
                    .insert(module.build_id.clone(), leaf::code_ranges(&elf));
                self.leaves.insert(key, word);
                word
            }
        }?;
        let return_address = *stack.top.get(word)?;
        if stack.frames.get(1).map(|f| f.ip) == Some(return_address) {
            return None;
        }
        // Which module it is in: one of the stack's own, mapped where its frames say.
        for frame in &stack.frames {
            let Some(module) = &frame.module else {
                continue;
            };
            // Within one mapping, addresses and file offsets move together.
            let distance = return_address.wrapping_sub(frame.ip) as i64;
            let Some(file_offset) = module
                .file_offset
                .checked_add_signed(distance)
                .filter(|_| distance.unsigned_abs() < 1 << 40)
            else {
                continue;
            };
            if self.is_code(&module.build_id, frame.ip, file_offset, process, places) {
                return Some(RawFrame {
                    ip: return_address,
                    module: Some(ModuleRef {
                        build_id: module.build_id.clone(),
                        file_offset,
                    }),
                });
            }
        }
        // In a module none of the frames is in: the process, if it lives, can tell.
        (process.maps().is_some()).then_some(RawFrame {
            ip: return_address,
            module: None,
        })
    }

    /// Whether `file_offset` is in the code of the module with build id `id`.
    fn is_code(
        &mut self,
        id: &[u8],
        ip: u64,
        file_offset: u64,
        process: &mut Process,
        places: &Places,
    ) -> bool {
        if self.code_ranges.get(id).is_none() {
            let Some(elf) = self.read_module(id, ip, process, places) else {
                return false;
            };
            self.code_ranges
                .insert(id.to_vec(), leaf::code_ranges(&elf));
        }
        self.code_ranges
            .get(id)
            .is_some_and(|ranges| ranges.iter().any(|r| r.contains(&file_offset)))
    }

    /// The bytes of the module with build id `id`; twice, like [`Self::in_module`]'s lookup,
    /// for a file found through a process that is gone by the time it is read.
    fn read_module(
        &mut self,
        id: &[u8],
        ip: u64,
        process: &mut Process,
        places: &Places,
    ) -> Option<Vec<u8>> {
        for _ in 0..2 {
            let file = self.modules.find(id, ip, process, places)?;
            if let Ok(elf) = std::fs::read(&file.host) {
                return Some(elf);
            }
            self.modules.forget(id);
            process.mark_gone();
        }
        None
    }

    fn symbolize_frames(
        &mut self,
        frames: &[RawFrame],
        process: &mut Process,
        places: &Places,
    ) -> Vec<Frame> {
        let mut asked_process = Vec::new();
        let mut out = Vec::with_capacity(frames.len());
        for (n, raw) in frames.iter().enumerate() {
            // A return address points after the call, which may be the next line or even the
            // next function: the call itself is the byte before.
            let back = u64::from(n > 0);
            match &raw.module {
                Some(module) => out.extend(self.in_module(raw.ip, module, back, process, places)),
                None => out.extend(self.in_process(raw.ip, back, process, &mut asked_process)),
            }
        }
        self.forget_process(places.pid, asked_process);
        out
    }

    pub fn stats(&self) -> SymbolizerStats {
        SymbolizerStats {
            module_lookups: self.modules.lookups,
            modules_found: self.modules.found_count,
            indexes_built: self.modules.indexes_built(),
            cached_frames: self.cached_frames,
            symbolized_frames: self.symbolized_frames,
        }
    }

    fn in_module(
        &mut self,
        ip: u64,
        module: &ModuleRef,
        back: u64,
        process: &mut Process,
        places: &Places,
    ) -> Vec<Frame> {
        let raw = Frame::unsymbolized(&RawFrame {
            ip,
            module: Some(module.clone()),
        });
        let Some(offset) = module.file_offset.checked_sub(back) else {
            return vec![raw];
        };
        let key = (module.build_id.clone(), offset);
        if let Some(found) = self.results.get(&key) {
            self.cached_frames += 1;
            return complete(found, &raw, back);
        }
        // Twice: a file found may be gone by the time blazesym opens it (a map_files link
        // whose process exited, a directory unmounted); another place may still have it.
        let mut found = None;
        let mut path = None;
        for _ in 0..2 {
            let Some(file) = self.modules.find(&module.build_id, ip, process, places) else {
                break;
            };
            self.release();
            let source = Source::Elf(Elf::new(&file.host));
            found = self.lookup(&source, Input::FileOffset(offset), Some(&file.path));
            path = Some(file.path);
            if found.is_some() {
                break;
            }
            self.modules.forget(&module.build_id);
            self.release();
            // A map_files link dies with its process: the second try looks elsewhere.
            process.mark_gone();
        }
        let Some(found) = found else {
            return vec![Frame {
                module: path,
                ..raw
            }];
        };
        let frames = complete(&found, &raw, back);
        self.results.insert(key, found);
        frames
    }

    /// A frame without build id: the process, if still alive, can tell what was mapped there.
    fn in_process(
        &mut self,
        ip: u64,
        back: u64,
        process: &mut Process,
        asked: &mut Vec<PathBuf>,
    ) -> Vec<Frame> {
        let raw = Frame {
            ip,
            ..Frame::default()
        };
        // blazesym takes pid 0 for its own process.
        if process.pid == 0 {
            return vec![raw];
        }
        let pid = process.pid;
        let Some(maps) = process.maps() else {
            return vec![raw];
        };
        let mapping = maps::containing(maps, ip);
        let module = mapping.map(|m| m.path.clone());
        asked.extend(mapping.map(|m| maps::map_file(pid, m)));
        let Some(addr) = ip.checked_sub(back) else {
            return vec![Frame { module, ..raw }];
        };
        let source = Source::Process(ProcessSource::new(Pid::from(pid)));
        match self.lookup(&source, Input::AbsAddr(addr), module.as_deref()) {
            Some(found) => complete(&found, &raw, back),
            None => vec![Frame { module, ..raw }],
        }
    }

    /// Asks blazesym what is at `input` in `source`, a file the process knew as `module`.
    /// None when it failed to read the file, as opposed to finding nothing at the address.
    fn lookup(
        &mut self,
        source: &Source<'_>,
        input: Input<u64>,
        module: Option<&str>,
    ) -> Option<Vec<Frame>> {
        self.symbolized_frames += 1;
        let symbolized = self.blaze.symbolize_single(source, input).ok()?;
        Some(frames::from_symbolized(&symbolized, module))
    }

    /// Has blazesym drop what it holds for files no module stands for any more.
    fn release(&mut self) {
        for host in self.modules.take_released() {
            let _ = self.blaze.evict(&Evict::Elf(evict::Elf::new(host)));
        }
    }

    /// Has blazesym drop what it read from a process: pids are reused, and each one's files
    /// would otherwise stay cached under its own map_files paths.
    fn forget_process(&mut self, pid: u32, files: Vec<PathBuf>) {
        if files.is_empty() {
            return;
        }
        let _ = self
            .blaze
            .evict(&Evict::Process(evict::Process::new(Pid::from(pid))));
        for file in files {
            let _ = self.blaze.evict(&Evict::Elf(evict::Elf::new(file)));
        }
    }
}

/// `found` (from [`frames::from_symbolized`]) for the frame `raw`, which was looked up `back`
/// bytes before its address.
fn complete(found: &[Frame], raw: &Frame, back: u64) -> Vec<Frame> {
    found
        .iter()
        .map(|frame| Frame {
            ip: raw.ip,
            build_id: raw.build_id.clone(),
            file_offset: raw.file_offset,
            module: frame.module.clone().or_else(|| raw.module.clone()),
            function_offset: frame.function_offset.map(|offset| offset + back),
            ..frame.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests;

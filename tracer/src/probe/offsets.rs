//! Offsets of the kernel structure fields the programs read, taken from the running kernel's BTF.
//!
//! Layouts move between kernel versions and configurations (`task_struct` most of all), and aya's
//! Rust programs have no CO-RE relocations, so the offsets are looked up here and handed to the
//! programs as read-only globals before load. Each field's type is checked against the way the
//! programs read it, so a kernel whose types changed is refused instead of read as garbage.

use std::{
    cell::RefCell,
    fmt, fs, io,
    os::fd::{AsRawFd as _, FromRawFd as _},
    path::{Path, PathBuf},
};

use btf_rs::{Backend, Btf, Type};
use thiserror::Error;
use tracer_common::{KernelOffsets, compat};

pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// What an operator can do when the offsets cannot be had: the one hook that needs none.
const USE_AUDIT: &str = "use `--probe audit`, which reads the kernel's own seccomp audit \
                         records and needs no structure offsets";

#[derive(Debug, Error)]
pub enum OffsetsError {
    #[error(
        "cannot read kernel BTF at {path} (the kernel needs CONFIG_DEBUG_INFO_BTF); {USE_AUDIT}"
    )]
    Btf {
        path: PathBuf,
        #[source]
        source: btf_rs::Error,
    },
    #[error("kernel BTF has no struct {0}; {USE_AUDIT}")]
    NoStruct(String),
    #[error("kernel BTF has no field {field} in struct {parent}; {USE_AUDIT}")]
    NoField { parent: String, field: String },
    #[error("field {field} of struct {parent} is not a struct, cannot look inside it; {USE_AUDIT}")]
    NotAStruct { parent: String, field: String },
    #[error(
        "field {field} of struct {parent} is {found} in this kernel's BTF, but tracer's kernel \
         programs read it as {expected}; {USE_AUDIT}"
    )]
    WrongType {
        parent: String,
        field: String,
        expected: Reads,
        found: String,
    },
    #[error("reading kernel BTF; {USE_AUDIT}")]
    Read(#[from] btf_rs::Error),
}

/// How the kernel programs read a field, and so what its BTF type must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reads {
    /// A pointer (8 bytes) the program follows into struct `.0`, at offsets taken from that
    /// struct: pointing anywhere else would make those offsets meaningless.
    PointerTo(&'static str),
    /// An integer of `bytes` bytes, with the signedness the kernel declares it with.
    Int { bytes: usize, signed: bool },
    /// An array of integers of `bytes` bytes each, read element by element.
    IntArray { bytes: usize, signed: bool },
    /// A struct `.0` embedded in the parent, whose own fields are read at offsets within it.
    Embedded(&'static str),
    /// An array of struct `.0`, indexed with that struct's size.
    ArrayOf(&'static str),
    /// A pointer to bytes (`char *`), read as a NUL-terminated string.
    PointerToBytes,
}

impl fmt::Display for Reads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reads::PointerTo(name) => write!(f, "a pointer to struct {name}"),
            Reads::Int { bytes, signed } => f.write_str(&int_description(bytes, signed)),
            Reads::IntArray { bytes, signed } => {
                write!(f, "an array of {}", int_description(bytes, signed))
            }
            Reads::Embedded(name) => write!(f, "struct {name}"),
            Reads::ArrayOf(name) => write!(f, "an array of struct {name}"),
            Reads::PointerToBytes => f.write_str("a pointer to bytes"),
        }
    }
}

fn int_description(bytes: usize, signed: bool) -> String {
    let sign = if signed { "signed" } else { "unsigned" };
    format!("{} {bytes}-byte {sign} int", article(bytes))
}

/// The article before a number as it is read aloud: "an 8-byte", "a 4-byte".
fn article(n: usize) -> &'static str {
    if matches!(n, 8 | 11 | 18 | 80..=89) {
        "an"
    } else {
        "a"
    }
}

/// A field the kernel programs read: where it is and how they read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Field {
    parent: &'static str,
    /// Member names from `parent` down, through nested structs.
    path: &'static [&'static str],
    reads: Reads,
}

impl Field {
    fn dotted(&self) -> String {
        self.path.join(".")
    }
}

const TASK_REAL_PARENT: Field = Field {
    parent: "task_struct",
    path: &["real_parent"],
    reads: Reads::PointerTo("task_struct"),
};
/// `pid_t`, read as a `u32`.
const TASK_TGID: Field = Field {
    parent: "task_struct",
    path: &["tgid"],
    reads: Reads::Int {
        bytes: 4,
        signed: true,
    },
};
const TASK_NSPROXY: Field = Field {
    parent: "task_struct",
    path: &["nsproxy"],
    reads: Reads::PointerTo("nsproxy"),
};
const NSPROXY_MNT_NS: Field = Field {
    parent: "nsproxy",
    path: &["mnt_ns"],
    reads: Reads::PointerTo("mnt_namespace"),
};
const MNT_NS_INUM: Field = Field {
    parent: "mnt_namespace",
    path: &["ns", "inum"],
    reads: Reads::Int {
        bytes: 4,
        signed: false,
    },
};

const fn pointer(parent: &'static str, path: &'static [&'static str], to: &'static str) -> Field {
    Field {
        parent,
        path,
        reads: Reads::PointerTo(to),
    }
}

const fn int(
    parent: &'static str,
    path: &'static [&'static str],
    bytes: usize,
    signed: bool,
) -> Field {
    Field {
        parent,
        path,
        reads: Reads::Int { bytes, signed },
    }
}

// What the details of an event are read through: the caller's comm, ids and executable.
const TASK_COMM: Field = Field {
    parent: "task_struct",
    path: &["comm"],
    reads: Reads::IntArray {
        bytes: 1,
        signed: true,
    },
};
const TASK_GROUP_LEADER: Field = pointer("task_struct", &["group_leader"], "task_struct");
const TASK_THREAD_PID: Field = pointer("task_struct", &["thread_pid"], "pid");
const TASK_MM: Field = pointer("task_struct", &["mm"], "mm_struct");
const TASK_SECCOMP_MODE: Field = int("task_struct", &["seccomp", "mode"], 4, true);
const TASK_PTRACE: Field = int("task_struct", &["ptrace"], 4, false);
/// `sigset_t` is `unsigned long sig[_NSIG_WORDS]`; the programs read its first word, which
/// holds signals 1 to 64 on 64-bit kernels.
const TASK_PENDING_SIGNALS: Field = Field {
    parent: "task_struct",
    path: &["pending", "signal", "sig"],
    reads: Reads::IntArray {
        bytes: 8,
        signed: false,
    },
};
const PID_LEVEL: Field = int("pid", &["level"], 4, false);
const PID_NUMBERS: Field = Field {
    parent: "pid",
    path: &["numbers"],
    reads: Reads::ArrayOf("upid"),
};
const UPID_NR: Field = int("upid", &["nr"], 4, true);
const MM_EXE_FILE: Field = pointer("mm_struct", &["exe_file"], "file");
const MM_ARG_START: Field = int("mm_struct", &["arg_start"], 8, false);
const MM_ARG_END: Field = int("mm_struct", &["arg_end"], 8, false);
const FILE_F_PATH: Field = Field {
    parent: "file",
    path: &["f_path"],
    reads: Reads::Embedded("path"),
};
const PATH_MNT: Field = pointer("path", &["mnt"], "vfsmount");
const PATH_DENTRY: Field = pointer("path", &["dentry"], "dentry");
const DENTRY_D_PARENT: Field = pointer("dentry", &["d_parent"], "dentry");
const DENTRY_D_NAME: Field = Field {
    parent: "dentry",
    path: &["d_name", "name"],
    reads: Reads::PointerToBytes,
};
const VFSMOUNT_MNT_ROOT: Field = pointer("vfsmount", &["mnt_root"], "dentry");
const MOUNT_MNT: Field = Field {
    parent: "mount",
    path: &["mnt"],
    reads: Reads::Embedded("vfsmount"),
};
const MOUNT_MNT_PARENT: Field = pointer("mount", &["mnt_parent"], "mount");
const MOUNT_MNT_MOUNTPOINT: Field = pointer("mount", &["mnt_mountpoint"], "dentry");

/// Every struct the programs read a field of: found in one pass over the kernel's BTF, where
/// looking each up by name would pass over all of it (some 100,000 types) once per struct.
const STRUCTS_READ: &[&str] = &[
    "task_struct",
    "nsproxy",
    "mnt_namespace",
    "ns_common",
    "thread_info",
    "pid",
    "upid",
    "mm_struct",
    "file",
    "path",
    "dentry",
    "qstr",
    "vfsmount",
    "mount",
    "pt_regs",
    "seccomp",
];

/// A register in `struct pt_regs`: a named member, or an element of a member array.
#[derive(Clone, Copy, Debug)]
pub struct Reg {
    path: &'static [&'static str],
    /// Element of an array member (arm64's `regs[31]`); `None` for a plain member.
    index: Option<u32>,
    /// How the member is declared. The programs read 8 bytes at each register and keep the low
    /// 32 bits of the system call number, which is all arm64's `s32 syscallno` holds.
    reads: Reads,
}

const WORD: Reads = Reads::Int {
    bytes: 8,
    signed: false,
};

const fn reg(name: &'static [&'static str]) -> Reg {
    Reg {
        path: name,
        index: None,
        reads: WORD,
    }
}

const fn reg_at(array: &'static [&'static str], index: u32) -> Reg {
    Reg {
        path: array,
        index: Some(index),
        reads: Reads::IntArray {
            bytes: 8,
            signed: false,
        },
    }
}

/// Where an architecture's kernel keeps a system call's registers in `struct pt_regs`
/// (its `syscall_get_arguments()` and `syscall_get_return_value()`).
#[derive(Clone, Copy, Debug)]
pub struct Regs {
    pub args: [Reg; 6],
    pub compat_args: [Reg; 6],
    pub ret: Reg,
    pub ip: Reg,
    /// The user stack pointer, whose top words let the leaf frame's caller be found.
    pub sp: Reg,
    pub nr: Reg,
}

/// `AUDIT_ARCH_*` values (include/uapi/linux/audit.h).
mod audit_arch {
    pub const X86_64: u32 = 0xc000_003e;
    pub const I386: u32 = 0x4000_0003;
    pub const AARCH64: u32 = 0xc000_00b7;
    pub const ARM: u32 = 0x4000_0028;
    pub const LOONGARCH64: u32 = 0xc000_0102;
}

/// How one architecture's kernel tells a compat (32-bit) system call apart, mirroring what its
/// `syscall_get_arch()` tests to write `arch=` into the audit record.
#[derive(Clone, Copy, Debug)]
pub struct ArchSpec {
    /// As `std::env::consts::ARCH` names it.
    pub name: &'static str,
    pub native_arch: u32,
    pub compat: Compat,
    /// `None` where tracer does not know the registers: events then carry no args or errno.
    pub regs: Option<Regs>,
}

#[derive(Clone, Copy, Debug)]
pub enum Compat {
    /// The kernel has no compat system calls on this architecture.
    None,
    /// Bit `bit` of an unsigned word at `path` in `task_struct` is set while a compat call
    /// runs (or, per task, in a compat process); such calls are audited as `arch`.
    Flag {
        path: &'static [&'static str],
        word: Word,
        bit: u32,
        arch: u32,
    },
    /// The kernel has a compat mode tracer cannot tell apart: events carry no arch.
    Undetectable,
}

/// Width of the word holding a compat flag, as the program reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Word {
    U32,
    U64,
}

impl Word {
    fn bytes(self) -> usize {
        match self {
            Word::U32 => 4,
            Word::U64 => 8,
        }
    }

    fn detection(self) -> u32 {
        match self {
            Word::U32 => compat::BIT_IN_U32,
            Word::U64 => compat::BIT_IN_U64,
        }
    }
}

/// The architectures whose system calls tracer can attribute to a table. Any other reports
/// no arch (JSON `null`) rather than a guess.
pub const ARCHES: &[ArchSpec] = &[
    // `TS_COMPAT` (0x0002) in `thread_info.status`, set while a 32-bit call runs, including an
    // `int 0x80` from a 64-bit process (arch/x86/include/asm/thread_info.h).
    ArchSpec {
        name: "x86_64",
        native_arch: audit_arch::X86_64,
        compat: Compat::Flag {
            path: &["thread_info", "status"],
            word: Word::U32,
            bit: 1,
            arch: audit_arch::I386,
        },
        // arch/x86/include/asm/syscall.h: compat calls pass their arguments in the 32-bit
        // registers' order, which the kernel saves in the same `pt_regs`.
        regs: Some(Regs {
            args: [
                reg(&["di"]),
                reg(&["si"]),
                reg(&["dx"]),
                reg(&["r10"]),
                reg(&["r8"]),
                reg(&["r9"]),
            ],
            compat_args: [
                reg(&["bx"]),
                reg(&["cx"]),
                reg(&["dx"]),
                reg(&["si"]),
                reg(&["di"]),
                reg(&["bp"]),
            ],
            ret: reg(&["ax"]),
            ip: reg(&["ip"]),
            sp: reg(&["sp"]),
            nr: reg(&["orig_ax"]),
        }),
    },
    // `TIF_32BIT` (22) in `thread_info.flags`, set for the life of an arm32 process; arm64's
    // `is_compat_task()` tests it (arch/arm64/include/asm/thread_info.h: 22 in every release
    // from 4.x to 6.x). Proposed patches moving arm64 to the generic TIF bits renumber it to
    // 18: revisit this row if they land.
    ArchSpec {
        name: "aarch64",
        native_arch: audit_arch::AARCH64,
        compat: Compat::Flag {
            path: &["thread_info", "flags"],
            word: Word::U64,
            bit: 22,
            arch: audit_arch::ARM,
        },
        // arch/arm64/include/asm/syscall.h: the return value overwrites x0, so the first
        // argument comes from `orig_x0`; arm32 tasks use r0–r5, the same slots.
        regs: Some(Regs {
            args: ARM64_ARGS,
            compat_args: ARM64_ARGS,
            ret: reg_at(&["regs"], 0),
            ip: reg(&["pc"]),
            sp: reg(&["sp"]),
            nr: Reg {
                path: &["syscallno"],
                index: None,
                reads: Reads::Int {
                    bytes: 4,
                    signed: true,
                },
            },
        }),
    },
    // 64-bit LoongArch kernels run no 32-bit user code.
    ArchSpec {
        name: "loongarch64",
        native_arch: audit_arch::LOONGARCH64,
        compat: Compat::None,
        regs: None,
    },
];

const ARM64_ARGS: [Reg; 6] = [
    reg(&["orig_x0"]),
    reg_at(&["regs"], 1),
    reg_at(&["regs"], 2),
    reg_at(&["regs"], 3),
    reg_at(&["regs"], 4),
    reg_at(&["regs"], 5),
];

const UNLISTED_ARCH: ArchSpec = ArchSpec {
    name: "unlisted",
    native_arch: 0,
    compat: Compat::Undetectable,
    regs: None,
};

/// The row for the architecture tracer was built for (and so runs on).
pub fn running_arch() -> &'static ArchSpec {
    ARCHES
        .iter()
        .find(|arch| arch.name == std::env::consts::ARCH)
        .unwrap_or(&UNLISTED_ARCH)
}

pub fn from_running_kernel() -> Result<KernelOffsets, OffsetsError> {
    from_btf_file(Path::new(VMLINUX_BTF))
}

pub fn from_btf_file(path: &Path) -> Result<KernelOffsets, OffsetsError> {
    let btf = map_btf(path).map_err(|source| OffsetsError::Btf {
        path: path.to_owned(),
        source,
    })?;
    from_btf(&btf, running_arch())
}

/// The BTF at `path`, mapped rather than parsed. Parsing all of vmlinux's BTF (btf-rs's default)
/// indexes some 100,000 types and strings through a seek and a read each, for the five fields
/// the programs read: most of tracer's start-up time, ten times more under emulation.
fn map_btf(path: &Path) -> Result<Btf, btf_rs::Error> {
    match Btf::from_file_with_backend(path, Backend::Mmap) {
        Ok(btf) => Ok(btf),
        // Kernels before 6.16 serve /sys/kernel/btf/vmlinux through read() only.
        Err(btf_rs::Error::IO(_)) => {
            let copy = copy_to_memory(path)?;
            Btf::from_file_with_backend(
                format!("/proc/self/fd/{}", copy.as_raw_fd()),
                Backend::Mmap,
            )
        }
        Err(error) => Err(error),
    }
}

/// A copy of the file in anonymous memory that can be mapped; the mapping keeps it alive.
fn copy_to_memory(path: &Path) -> io::Result<fs::File> {
    // SAFETY: memfd_create takes a NUL-terminated name and flags, and returns a new descriptor
    // or -1.
    let fd = unsafe { libc::memfd_create(c"tracer-btf".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just created and is owned by nothing else.
    let mut copy = unsafe { fs::File::from_raw_fd(fd) };
    io::copy(&mut fs::File::open(path)?, &mut copy)?;
    Ok(copy)
}

pub fn from_btf(btf: &Btf, arch: &ArchSpec) -> Result<KernelOffsets, OffsetsError> {
    let layout = Layout::new(btf);
    layout.find_structs(STRUCTS_READ)?;
    let base = base_offsets(&layout, arch)?;
    details_offsets(&layout, arch.regs.as_ref(), base)
}

/// Offsets of the fields every event has: ids, namespace, arch.
fn base_offsets(layout: &Layout, arch: &ArchSpec) -> Result<KernelOffsets, OffsetsError> {
    let (compat_detection, task_compat_word, compat_bit, compat_arch) = match arch.compat {
        Compat::None => (compat::NONE, 0, 0, 0),
        Compat::Undetectable => (compat::UNDETECTABLE, 0, 0, 0),
        Compat::Flag {
            path,
            word,
            bit,
            arch,
        } => {
            let field = Field {
                parent: "task_struct",
                path,
                reads: Reads::Int {
                    bytes: word.bytes(),
                    signed: false,
                },
            };
            (word.detection(), layout.offset(&field)?, bit, arch)
        }
    };
    Ok(KernelOffsets {
        task_real_parent: layout.offset(&TASK_REAL_PARENT)?,
        task_tgid: layout.offset(&TASK_TGID)?,
        task_nsproxy: layout.offset(&TASK_NSPROXY)?,
        nsproxy_mnt_ns: layout.offset(&NSPROXY_MNT_NS)?,
        mnt_ns_inum: layout.offset(&MNT_NS_INUM)?,
        compat_detection,
        task_compat_word,
        compat_bit,
        native_arch: arch.native_arch,
        compat_arch,
        ..KernelOffsets::default()
    })
}

/// Offsets of what an event's details are read through. A kernel whose layout tracer cannot
/// read refuses the whole programs, as for the base fields: a detail read at a wrong offset
/// would be garbage presented as fact.
fn details_offsets(
    layout: &Layout,
    regs: Option<&Regs>,
    base: KernelOffsets,
) -> Result<KernelOffsets, OffsetsError> {
    let mut offsets = KernelOffsets {
        task_comm: layout.offset(&TASK_COMM)?,
        task_group_leader: layout.offset(&TASK_GROUP_LEADER)?,
        task_thread_pid: layout.offset(&TASK_THREAD_PID)?,
        task_mm: layout.offset(&TASK_MM)?,
        task_seccomp_mode: layout.offset(&TASK_SECCOMP_MODE)?,
        task_ptrace: layout.offset(&TASK_PTRACE)?,
        task_pending_signals: layout.offset(&TASK_PENDING_SIGNALS)?,
        pid_level: layout.offset(&PID_LEVEL)?,
        pid_numbers: layout.offset(&PID_NUMBERS)?,
        upid_size: layout.struct_size("upid")?,
        upid_nr: layout.offset(&UPID_NR)?,
        mm_exe_file: layout.offset(&MM_EXE_FILE)?,
        mm_arg_start: layout.offset(&MM_ARG_START)?,
        mm_arg_end: layout.offset(&MM_ARG_END)?,
        file_f_path: layout.offset(&FILE_F_PATH)?,
        path_mnt: layout.offset(&PATH_MNT)?,
        path_dentry: layout.offset(&PATH_DENTRY)?,
        dentry_d_parent: layout.offset(&DENTRY_D_PARENT)?,
        dentry_d_name: layout.offset(&DENTRY_D_NAME)?,
        vfsmount_mnt_root: layout.offset(&VFSMOUNT_MNT_ROOT)?,
        mount_mnt: layout.offset(&MOUNT_MNT)?,
        mount_mnt_parent: layout.offset(&MOUNT_MNT_PARENT)?,
        mount_mnt_mountpoint: layout.offset(&MOUNT_MNT_MOUNTPOINT)?,
        ..base
    };
    if let Some(regs) = regs {
        for (slot, reg) in offsets.regs_args.iter_mut().zip(&regs.args) {
            *slot = layout.register(reg)?;
        }
        for (slot, reg) in offsets.regs_compat_args.iter_mut().zip(&regs.compat_args) {
            *slot = layout.register(reg)?;
        }
        offsets.regs_ret = layout.register(&regs.ret)?;
        offsets.regs_ip = layout.register(&regs.ip)?;
        offsets.regs_sp = layout.register(&regs.sp)?;
        offsets.regs_nr = layout.register(&regs.nr)?;
        offsets.regs_size = layout.struct_size("pt_regs")?;
    }
    Ok(offsets)
}

/// A struct member as BTF describes it.
struct Member {
    bit_offset: u32,
    bitfield_bits: Option<u32>,
    ty: Type,
}

struct Layout<'a> {
    btf: &'a Btf,
    /// Structs already found by name: a mapped BTF finds a name by scanning every type, and
    /// four of the fields are in `task_struct`.
    structs: RefCell<Vec<(String, btf_rs::Struct)>>,
}

impl<'a> Layout<'a> {
    fn new(btf: &'a Btf) -> Self {
        Self {
            btf,
            structs: RefCell::default(),
        }
    }

    /// Byte offset of `field`, once its type is known to be what the programs read there.
    fn offset(&self, field: &Field) -> Result<u32, OffsetsError> {
        let member = self.member(field.parent, field.path)?;
        if let Some(found) = self.mismatch(&member, field.reads) {
            return Err(OffsetsError::WrongType {
                parent: field.parent.to_owned(),
                field: field.dotted(),
                expected: field.reads,
                found,
            });
        }
        Ok(member.bit_offset / 8)
    }

    /// Finds the structs `names` in one pass and keeps them for [`named_struct`]; those not
    /// found are looked for again by name when asked for, and reported missing then.
    fn find_structs(&self, names: &[&str]) -> Result<(), OffsetsError> {
        use fallible_iterator::FallibleIterator as _;
        let mut wanted: Vec<&str> = names.to_vec();
        let mut types = self.btf.type_iter();
        while !wanted.is_empty()
            && let Some(ty) = types.next()?
        {
            let Type::Struct(found) = ty else { continue };
            if found.members.is_empty() {
                continue;
            }
            let Ok(name) = self.btf.resolve_name(&found) else {
                continue;
            };
            if let Some(at) = wanted.iter().position(|w| *w == name) {
                wanted.swap_remove(at);
                self.structs.borrow_mut().push((name, found));
            }
        }
        Ok(())
    }

    /// Size in bytes of struct `name`.
    fn struct_size(&self, name: &str) -> Result<u32, OffsetsError> {
        Ok(self.named_struct(name)?.size() as u32)
    }

    /// Byte offset of a register in `struct pt_regs`.
    fn register(&self, reg: &Reg) -> Result<u32, OffsetsError> {
        const WORD_BYTES: u32 = 8;
        let field = Field {
            parent: "pt_regs",
            path: reg.path,
            reads: reg.reads,
        };
        Ok(self.offset(&field)? + reg.index.unwrap_or(0) * WORD_BYTES)
    }

    /// `path` (a chain of nested member names) inside struct `root`. Members of anonymous
    /// structs and unions (`randomized_struct_fields_start`, unions in `ns_common`) are
    /// searched through transparently.
    fn member(&self, root: &str, path: &[&str]) -> Result<Member, OffsetsError> {
        let mut current = self.named_struct(root)?;
        let mut bits = 0;
        for (depth, name) in path.iter().enumerate() {
            let dotted = || path[..=depth].join(".");
            let mut member =
                self.find_member(&current, name)?
                    .ok_or_else(|| OffsetsError::NoField {
                        parent: root.to_owned(),
                        field: dotted(),
                    })?;
            bits += member.bit_offset;
            if depth + 1 == path.len() {
                member.bit_offset = bits;
                return Ok(member);
            }
            current = self
                .as_struct(member.ty)
                .ok_or_else(|| OffsetsError::NotAStruct {
                    parent: root.to_owned(),
                    field: dotted(),
                })?;
        }
        unreachable!("every field has a path of at least one member")
    }

    /// What BTF says the member is, where that differs from what the programs read.
    fn mismatch(&self, member: &Member, reads: Reads) -> Option<String> {
        if let Some(bits) = member.bitfield_bits.filter(|&bits| bits != 0) {
            return Some(format!("{} {bits}-bit bitfield", article(bits as usize)));
        }
        if !member.bit_offset.is_multiple_of(8) {
            return Some(format!("at bit {} (not on a byte)", member.bit_offset));
        }
        let ty = self.strip(member.ty.clone());
        let matches = match (&ty, reads) {
            (Type::Ptr(_), Reads::PointerTo(name)) => {
                self.pointee_struct_name(&ty).as_deref() == Some(name)
            }
            (Type::Int(int), Reads::Int { bytes, signed }) => {
                int.size() == bytes && int.is_signed() == signed
            }
            (Type::Struct(s), Reads::Embedded(name)) => {
                self.btf.resolve_name(s).ok().as_deref() == Some(name)
            }
            (Type::Array(array), Reads::IntArray { bytes, signed }) => {
                match self.element(array) {
                    // `char` is signed or not as the kernel's compiler chose: for bytes copied
                    // as they are, either will do.
                    Some(Type::Int(int)) if bytes == 1 => int.size() == 1,
                    Some(Type::Int(int)) => int.size() == bytes && int.is_signed() == signed,
                    _ => false,
                }
            }
            (Type::Array(array), Reads::ArrayOf(name)) => match self.element(array) {
                Some(Type::Struct(s)) => self.btf.resolve_name(&s).ok().as_deref() == Some(name),
                _ => false,
            },
            (Type::Ptr(_), Reads::PointerToBytes) => matches!(
                ty.as_btf_type()
                    .and_then(|t| self.btf.resolve_chained_type(t).ok())
                    .map(|t| self.strip(t)),
                Some(Type::Int(int)) if int.size() == 1
            ),
            _ => false,
        };
        (!matches).then(|| self.describe(&ty))
    }

    /// The type of an array's elements, through typedefs and qualifiers.
    fn element(&self, array: &btf_rs::Array) -> Option<Type> {
        Some(self.strip(self.btf.resolve_chained_type(array).ok()?))
    }

    /// The name of the struct a pointer points to, through qualifiers and `__rcu` type tags.
    fn pointee_struct_name(&self, pointer: &Type) -> Option<String> {
        let pointee = self.strip(self.btf.resolve_chained_type(pointer.as_btf_type()?).ok()?);
        match &pointee {
            Type::Struct(s) => self.btf.resolve_name(s).ok(),
            Type::Fwd(f) if f.is_struct() => self.btf.resolve_name(f).ok(),
            _ => None,
        }
    }

    /// A short description of a type for error messages ("a pointer to struct nsproxy").
    fn describe(&self, ty: &Type) -> String {
        let name = |t: &dyn btf_rs::BtfType| {
            self.btf
                .resolve_name(t)
                .ok()
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| "(anonymous)".to_owned())
        };
        match ty {
            Type::Int(int) => int_description(int.size(), int.is_signed()),
            Type::Ptr(_) => {
                let pointee = ty
                    .as_btf_type()
                    .and_then(|t| self.btf.resolve_chained_type(t).ok())
                    .map(|t| self.strip(t));
                match pointee {
                    Some(Type::Ptr(_)) => "a pointer to a pointer".to_owned(),
                    Some(Type::Void) | None => "a pointer to void".to_owned(),
                    Some(other) => format!("a pointer to {}", self.describe(&other)),
                }
            }
            Type::Struct(s) => format!("struct {}", name(s)),
            Type::Union(u) => format!("union {}", name(u)),
            Type::Fwd(f) => format!("struct {}", name(f)),
            Type::Array(a) => format!("an array of {}", a.len()),
            Type::Enum(e) => format!("{} {}-byte enum", article(e.size()), e.size()),
            Type::Enum64(e) => format!("{} {}-byte enum", article(e.size()), e.size()),
            other => format!("a {}", other.name()),
        }
    }

    fn named_struct(&self, name: &str) -> Result<btf_rs::Struct, OffsetsError> {
        if let Some((_, found)) = self
            .structs
            .borrow()
            .iter()
            .find(|(known, _)| known == name)
        {
            return Ok(found.clone());
        }
        let found = self
            .btf
            .resolve_types_by_name(name)?
            .into_iter()
            .find_map(|t| match t {
                // Skip forward declarations and empty placeholders of the same name.
                Type::Struct(s) if !s.members.is_empty() => Some(s),
                _ => None,
            })
            .ok_or_else(|| OffsetsError::NoStruct(name.to_owned()))?;
        self.structs
            .borrow_mut()
            .push((name.to_owned(), found.clone()));
        Ok(found)
    }

    /// Member `name` of `parent`, looking inside anonymous members; its offset is relative to
    /// `parent`.
    fn find_member(
        &self,
        parent: &btf_rs::Struct,
        name: &str,
    ) -> Result<Option<Member>, OffsetsError> {
        for member in &parent.members {
            let member_name = self.btf.resolve_name(member).unwrap_or_default();
            let member_type = self.btf.resolve_chained_type(member)?;
            if member_name == name {
                return Ok(Some(Member {
                    bit_offset: member.bit_offset(),
                    bitfield_bits: member.bitfield_size(),
                    ty: member_type,
                }));
            }
            if member_name.is_empty()
                && let Some(inner) = self.as_struct(member_type)
                && let Some(mut found) = self.find_member(&inner, name)?
            {
                found.bit_offset += member.bit_offset();
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Follows typedefs and qualifiers to a struct or union.
    fn as_struct(&self, t: Type) -> Option<btf_rs::Struct> {
        match self.strip(t) {
            Type::Struct(s) | Type::Union(s) => Some(s),
            _ => None,
        }
    }

    /// Follows typedefs, qualifiers and type tags (`__rcu`) to the type they name.
    fn strip(&self, mut t: Type) -> Type {
        loop {
            match t {
                Type::Typedef(_)
                | Type::Const(_)
                | Type::Volatile(_)
                | Type::Restrict(_)
                | Type::TypeTag(_) => {
                    let Some(next) = t
                        .as_btf_type()
                        .and_then(|inner| self.btf.resolve_chained_type(inner).ok())
                    else {
                        return t;
                    };
                    t = next;
                }
                _ => return t,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel_btf() -> Btf {
        Btf::from_file(VMLINUX_BTF)
            .unwrap_or_else(|e| panic!("{VMLINUX_BTF}: {e}: these tests need a kernel with BTF"))
    }

    fn wrong_type(field: Field) -> String {
        let btf = kernel_btf();
        match Layout::new(&btf).offset(&field) {
            Err(err @ OffsetsError::WrongType { .. }) => err.to_string(),
            other => panic!("{field:?}: expected a type mismatch, got {other:?}"),
        }
    }

    fn advice(message: &str) -> String {
        format!("{message}; {USE_AUDIT}")
    }

    /// The copy stands in where the kernel's file cannot be mapped, and must read the same.
    #[test]
    fn a_copy_in_memory_reads_as_the_file() {
        let copy = copy_to_memory(Path::new(VMLINUX_BTF)).expect("copying the kernel's BTF");
        let mapped = Btf::from_file_with_backend(
            format!("/proc/self/fd/{}", copy.as_raw_fd()),
            Backend::Mmap,
        )
        .expect("mapping the copy");
        assert_eq!(
            from_btf(&mapped, running_arch()).expect("offsets from the copy"),
            from_btf(&kernel_btf(), running_arch()).expect("offsets from the file")
        );
    }

    /// Reads the BTF of the kernel the tests run on; every kernel tracer supports has it.
    #[test]
    fn finds_every_offset_in_the_running_kernel() {
        let offsets = from_running_kernel().expect("offsets from the running kernel");
        assert_ne!(offsets.task_real_parent, 0);
        assert_ne!(offsets.task_tgid, 0);
        assert_ne!(offsets.task_nsproxy, 0);
        assert!(offsets.task_tgid < 16 * 1024, "{offsets:?}");
        assert_ne!(offsets.task_pending_signals, 0);
        let arch = running_arch();
        assert_eq!(offsets.native_arch, arch.native_arch);
        match arch.compat {
            Compat::Flag { bit, arch, .. } => {
                assert_eq!(offsets.compat_bit, bit);
                assert_eq!(offsets.compat_arch, arch);
            }
            Compat::None => assert_eq!(offsets.compat_detection, compat::NONE),
            Compat::Undetectable => assert_eq!(offsets.compat_detection, compat::UNDETECTABLE),
        }
        if cfg!(target_arch = "x86_64") {
            assert_eq!(offsets.compat_detection, compat::BIT_IN_U32);
            assert_eq!(offsets.native_arch, audit_arch::X86_64);
            assert_eq!(offsets.compat_arch, audit_arch::I386);
            // thread_info is task_struct's first member on x86 (THREAD_INFO_IN_TASK), so
            // its status word lies within its first few words.
            assert!(offsets.task_compat_word < 64, "{offsets:?}");
            // struct pt_regs is the same 21 words on every x86-64 kernel since 2.6, the
            // arguments in the order of the system call ABI (arch/x86/include/asm/ptrace.h).
            assert_eq!(offsets.regs_size, 21 * 8);
            assert_eq!(offsets.regs_args, [14, 13, 12, 7, 9, 8].map(|w| w * 8));
            assert_eq!(
                offsets.regs_compat_args,
                [5, 11, 12, 13, 14, 4].map(|w| w * 8)
            );
            assert_eq!(
                (offsets.regs_ret, offsets.regs_nr, offsets.regs_ip),
                (10 * 8, 15 * 8, 16 * 8)
            );
            assert_eq!(offsets.regs_sp, 19 * 8);
            // struct upid { int nr; struct pid_namespace *ns; }
            assert_eq!((offsets.upid_size, offsets.upid_nr), (16, 0));
        }
    }

    #[test]
    fn names_what_is_missing() {
        let btf = kernel_btf();
        let layout = Layout::new(&btf);
        let err = layout.member("task_struct", &["no_such_field"]).err();
        assert_eq!(
            err.unwrap().to_string(),
            advice("kernel BTF has no field no_such_field in struct task_struct")
        );
        let err = layout
            .member("mnt_namespace", &["ns", "no_such_field"])
            .err();
        assert_eq!(
            err.unwrap().to_string(),
            advice("kernel BTF has no field ns.no_such_field in struct mnt_namespace")
        );
        let err = layout.member("task_struct", &["pid", "inner"]).err();
        assert_eq!(
            err.unwrap().to_string(),
            advice("field pid of struct task_struct is not a struct, cannot look inside it")
        );
        let err = layout.member("no_such_struct_xyz", &["a"]).err();
        assert_eq!(
            err.unwrap().to_string(),
            advice("kernel BTF has no struct no_such_struct_xyz")
        );
    }

    #[test]
    fn a_missing_btf_file_says_what_the_kernel_needs() {
        let err = from_btf_file(Path::new("/nonexistent/vmlinux")).unwrap_err();
        assert_eq!(
            err.to_string(),
            advice(
                "cannot read kernel BTF at /nonexistent/vmlinux (the kernel needs \
                 CONFIG_DEBUG_INFO_BTF)"
            )
        );
    }

    /// The checks against real kernel types, by asking for what the kernel does not have.
    #[test]
    fn an_integer_of_another_size_or_sign_is_refused() {
        let tgid_as_u64 = Field {
            reads: Reads::Int {
                bytes: 8,
                signed: true,
            },
            ..TASK_TGID
        };
        assert_eq!(
            wrong_type(tgid_as_u64),
            advice(
                "field tgid of struct task_struct is a 4-byte signed int in this kernel's BTF, \
                 but tracer's kernel programs read it as an 8-byte signed int"
            )
        );
        let inum_as_signed = Field {
            reads: Reads::Int {
                bytes: 4,
                signed: true,
            },
            ..MNT_NS_INUM
        };
        assert_eq!(
            wrong_type(inum_as_signed),
            advice(
                "field ns.inum of struct mnt_namespace is a 4-byte unsigned int in this \
                 kernel's BTF, but tracer's kernel programs read it as a 4-byte signed int"
            )
        );
    }

    #[test]
    fn a_pointer_must_point_to_the_struct_read_through_it() {
        let parent_as_nsproxy = Field {
            reads: Reads::PointerTo("nsproxy"),
            ..TASK_REAL_PARENT
        };
        assert_eq!(
            wrong_type(parent_as_nsproxy),
            advice(
                "field real_parent of struct task_struct is a pointer to struct task_struct in \
                 this kernel's BTF, but tracer's kernel programs read it as a pointer to struct \
                 nsproxy"
            )
        );
        let tgid_as_pointer = Field {
            reads: Reads::PointerTo("task_struct"),
            ..TASK_TGID
        };
        assert!(wrong_type(tgid_as_pointer).starts_with(
            "field tgid of struct task_struct is a 4-byte signed int in this kernel's BTF"
        ));
        let comm_as_pointer = Field {
            parent: "task_struct",
            path: &["comm"],
            reads: Reads::PointerTo("task_struct"),
        };
        assert!(
            wrong_type(comm_as_pointer)
                .starts_with("field comm of struct task_struct is an array of 16 in")
        );
    }

    #[test]
    fn a_bitfield_is_refused() {
        // One of task_struct's single-bit flags, stable since 2.6.
        let bitfield = Field {
            parent: "task_struct",
            path: &["sched_reset_on_fork"],
            reads: Reads::Int {
                bytes: 4,
                signed: false,
            },
        };
        assert!(
            wrong_type(bitfield)
                .starts_with("field sched_reset_on_fork of struct task_struct is a 1-bit bitfield")
        );
    }

    #[test]
    fn every_compat_flag_fits_its_word() {
        for arch in ARCHES {
            if let Compat::Flag { word, bit, .. } = arch.compat {
                assert!(
                    (bit as usize) < word.bytes() * 8,
                    "{}: bit {bit} of a {word:?}",
                    arch.name
                );
            }
        }
        let names: std::collections::HashSet<_> = ARCHES.iter().map(|a| a.name).collect();
        assert_eq!(names.len(), ARCHES.len(), "one row per architecture");
    }

    /// A minimal BTF blob, so whole layouts (a kernel whose types changed among them) can be
    /// checked end to end with offsets known in advance.
    mod synthetic {
        use super::*;

        const KIND_INT: u32 = 1;
        const KIND_PTR: u32 = 2;
        const KIND_STRUCT: u32 = 4;
        const KIND_UNION: u32 = 5;
        const KIND_TYPEDEF: u32 = 8;
        const KIND_TYPE_TAG: u32 = 18;
        const INT_SIGNED: u32 = 1 << 24;

        #[derive(Default)]
        struct Builder {
            types: Vec<u8>,
            strings: Vec<u8>,
            count: u32,
        }

        impl Builder {
            fn new() -> Self {
                Self {
                    strings: vec![0],
                    ..Self::default()
                }
            }

            fn string(&mut self, name: &str) -> u32 {
                if name.is_empty() {
                    return 0;
                }
                let offset = self.strings.len() as u32;
                self.strings.extend_from_slice(name.as_bytes());
                self.strings.push(0);
                offset
            }

            fn header(&mut self, name: &str, kind: u32, vlen: u32, size_or_type: u32) -> u32 {
                let name = self.string(name);
                for word in [name, (kind << 24) | vlen, size_or_type] {
                    self.types.extend_from_slice(&word.to_le_bytes());
                }
                self.count += 1;
                self.count
            }

            fn int(&mut self, name: &str, bytes: u32, signed: bool) -> u32 {
                let id = self.header(name, KIND_INT, 0, bytes);
                let encoding = if signed { INT_SIGNED } else { 0 };
                self.types
                    .extend_from_slice(&(encoding | (bytes * 8)).to_le_bytes());
                id
            }

            fn pointer(&mut self, to: u32) -> u32 {
                self.header("", KIND_PTR, 0, to)
            }

            fn typedef(&mut self, name: &str, to: u32) -> u32 {
                self.header(name, KIND_TYPEDEF, 0, to)
            }

            fn rcu(&mut self, to: u32) -> u32 {
                self.header("rcu", KIND_TYPE_TAG, 0, to)
            }

            /// Members as (name, type id, byte offset).
            fn aggregate(
                &mut self,
                kind: u32,
                name: &str,
                size: u32,
                members: &[(&str, u32, u32)],
            ) -> u32 {
                let id = self.header(name, kind, members.len() as u32, size);
                for &(member, ty, offset) in members {
                    let member = self.string(member);
                    for word in [member, ty, offset * 8] {
                        self.types.extend_from_slice(&word.to_le_bytes());
                    }
                }
                id
            }

            fn build(self) -> Btf {
                let mut blob = Vec::new();
                blob.extend_from_slice(&0xeb9f_u16.to_le_bytes());
                blob.extend_from_slice(&[1, 0]);
                let types = self.types.len() as u32;
                let strings = self.strings.len() as u32;
                for word in [24, 0, types, types, strings] {
                    blob.extend_from_slice(&word.to_le_bytes());
                }
                blob.extend_from_slice(&self.types);
                blob.extend_from_slice(&self.strings);
                Btf::from_bytes(&blob).expect("a well-formed BTF blob")
            }
        }

        /// What may differ between the synthetic kernels.
        struct Kernel {
            tgid_bytes: u32,
            status_bytes: u32,
            parent_points_to_task: bool,
        }

        impl Kernel {
            const TODAY: Kernel = Kernel {
                tgid_bytes: 4,
                status_bytes: 4,
                parent_points_to_task: true,
            };

            /// task_struct { thread_info (flags@0, status@16); anonymous struct { pid@8,
            /// tgid@12 } at 1000; real_parent@1024; nsproxy@2048 }, nsproxy { mnt_ns@32 },
            /// mnt_namespace { ns (anonymous union, then inum@16)@8 }.
            fn btf(&self) -> Btf {
                let mut b = Builder::new();
                let int = b.int("int", self.tgid_bytes, true);
                let pid_t = b.typedef("pid_t", int);
                let unsigned_int = b.int("unsigned int", 4, false);
                let unsigned_long = b.int("long unsigned int", 8, false);
                let status = b.int("status_word", self.status_bytes, false);
                let thread_info = b.aggregate(
                    KIND_STRUCT,
                    "thread_info",
                    24,
                    &[("flags", unsigned_long, 0), ("status", status, 16)],
                );
                let ids = b.aggregate(KIND_STRUCT, "", 8, &[("pid", pid_t, 0), ("tgid", pid_t, 4)]);
                // Pointers come before the structs they point to: ids are handed out in
                // order, so the targets' ids are counted ahead.
                let task_id = b.count + 4;
                let nsproxy_id = task_id + 1;
                let mnt_namespace_id = nsproxy_id + 4;
                let pointee = if self.parent_points_to_task {
                    task_id
                } else {
                    unsigned_long
                };
                let rcu_task = b.rcu(pointee);
                let parent_ptr = b.pointer(rcu_task);
                let nsproxy_ptr = b.pointer(nsproxy_id);
                let task = b.aggregate(
                    KIND_STRUCT,
                    "task_struct",
                    4096,
                    &[
                        ("thread_info", thread_info, 0),
                        ("", ids, 1000),
                        ("real_parent", parent_ptr, 1024),
                        ("nsproxy", nsproxy_ptr, 2048),
                    ],
                );
                assert_eq!(task, task_id);
                let nsproxy = b.aggregate(
                    KIND_STRUCT,
                    "nsproxy",
                    64,
                    &[("mnt_ns", nsproxy_id + 1, 32)],
                );
                assert_eq!(nsproxy, nsproxy_id);
                b.pointer(mnt_namespace_id);
                let stashed = b.aggregate(KIND_UNION, "", 8, &[("stashed", unsigned_long, 0)]);
                let ns_common = b.aggregate(
                    KIND_STRUCT,
                    "ns_common",
                    24,
                    &[("", stashed, 0), ("inum", unsigned_int, 16)],
                );
                let mnt_namespace =
                    b.aggregate(KIND_STRUCT, "mnt_namespace", 64, &[("ns", ns_common, 8)]);
                assert_eq!(mnt_namespace, mnt_namespace_id);
                b.build()
            }
        }

        /// The synthetic kernels describe only the structures of the base fields.
        fn base_of(btf: &Btf, arch: &ArchSpec) -> Result<KernelOffsets, OffsetsError> {
            base_offsets(&Layout::new(btf), arch)
        }

        fn arch(name: &str) -> &'static ArchSpec {
            ARCHES.iter().find(|a| a.name == name).expect("a table row")
        }

        #[test]
        fn reads_a_whole_layout_through_anonymous_members_and_type_tags() {
            let offsets = base_of(&Kernel::TODAY.btf(), arch("x86_64")).expect("offsets");
            assert_eq!(
                offsets,
                KernelOffsets {
                    task_real_parent: 1024,
                    task_tgid: 1004,
                    task_nsproxy: 2048,
                    nsproxy_mnt_ns: 32,
                    mnt_ns_inum: 24,
                    compat_detection: compat::BIT_IN_U32,
                    task_compat_word: 16,
                    compat_bit: 1,
                    native_arch: audit_arch::X86_64,
                    compat_arch: audit_arch::I386,
                    ..KernelOffsets::default()
                }
            );
        }

        #[test]
        fn each_architecture_gets_its_own_compat_detection() {
            let btf = Kernel::TODAY.btf();
            let arm64 = base_of(&btf, arch("aarch64")).expect("arm64 offsets");
            assert_eq!(
                (
                    arm64.compat_detection,
                    arm64.task_compat_word,
                    arm64.compat_bit,
                    arm64.native_arch,
                    arm64.compat_arch
                ),
                (
                    compat::BIT_IN_U64,
                    0,
                    22,
                    audit_arch::AARCH64,
                    audit_arch::ARM
                )
            );
            let loongarch = base_of(&btf, arch("loongarch64")).expect("loongarch offsets");
            assert_eq!(loongarch.compat_detection, compat::NONE);
            assert_eq!(loongarch.native_arch, audit_arch::LOONGARCH64);
            let other = base_of(&btf, &UNLISTED_ARCH).expect("offsets");
            assert_eq!(other.compat_detection, compat::UNDETECTABLE);
            assert_eq!(other.native_arch, 0);
        }

        #[test]
        fn a_kernel_whose_types_changed_is_refused_with_what_changed() {
            let wider_tgid = Kernel {
                tgid_bytes: 8,
                ..Kernel::TODAY
            };
            let err = base_of(&wider_tgid.btf(), arch("x86_64")).unwrap_err();
            assert_eq!(
                err.to_string(),
                advice(
                    "field tgid of struct task_struct is an 8-byte signed int in this kernel's \
                     BTF, but tracer's kernel programs read it as a 4-byte signed int"
                )
            );

            let wider_status = Kernel {
                status_bytes: 8,
                ..Kernel::TODAY
            };
            let err = base_of(&wider_status.btf(), arch("x86_64")).unwrap_err();
            assert_eq!(
                err.to_string(),
                advice(
                    "field thread_info.status of struct task_struct is an 8-byte unsigned int \
                     in this kernel's BTF, but tracer's kernel programs read it as a 4-byte \
                     unsigned int"
                )
            );
            // The same kernel is fine where the flag word is not read.
            base_of(&wider_status.btf(), arch("loongarch64")).expect("offsets");

            let untyped_parent = Kernel {
                parent_points_to_task: false,
                ..Kernel::TODAY
            };
            let err = base_of(&untyped_parent.btf(), arch("x86_64")).unwrap_err();
            assert_eq!(
                err.to_string(),
                advice(
                    "field real_parent of struct task_struct is a pointer to an 8-byte \
                     unsigned int in this kernel's BTF, but tracer's kernel programs read it \
                     as a pointer to struct task_struct"
                )
            );
        }
    }
}

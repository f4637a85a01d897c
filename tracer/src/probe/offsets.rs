//! Offsets of the kernel structure fields the programs read, taken from the running kernel's BTF.
//!
//! Layouts move between kernel versions and configurations (`task_struct` most of all), and aya's
//! Rust programs have no CO-RE relocations, so the offsets are looked up here and handed to the
//! programs as read-only globals before load.

use std::path::{Path, PathBuf};

use btf_rs::{Btf, Type};
use thiserror::Error;
use tracer_common::KernelOffsets;

pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

#[derive(Debug, Error)]
pub enum OffsetsError {
    #[error("cannot read kernel BTF at {path}: {source} (the kernel needs CONFIG_DEBUG_INFO_BTF)")]
    Btf {
        path: PathBuf,
        #[source]
        source: btf_rs::Error,
    },
    #[error("kernel BTF has no struct {0}")]
    NoStruct(String),
    #[error("kernel BTF has no field {field} in struct {parent}")]
    NoField { parent: String, field: String },
    #[error("field {field} of struct {parent} is not a struct, cannot look inside it")]
    NotAStruct { parent: String, field: String },
    #[error("reading kernel BTF: {0}")]
    Read(#[from] btf_rs::Error),
}

/// `AUDIT_ARCH_*` constants for the architectures whose compat mode we can detect.
mod audit_arch {
    pub const X86_64: u32 = 0xc000_003e;
    pub const I386: u32 = 0x4000_0003;
    pub const AARCH64: u32 = 0xc000_00b7;
}

/// `TS_COMPAT` in x86's `thread_info.status`: set while a 32-bit system call runs (what
/// `syscall_get_arch()` tests to write `arch=` into the audit record).
const X86_TS_COMPAT: u32 = 0x0002;

pub fn from_running_kernel() -> Result<KernelOffsets, OffsetsError> {
    from_btf_file(Path::new(VMLINUX_BTF))
}

pub fn from_btf_file(path: &Path) -> Result<KernelOffsets, OffsetsError> {
    let btf = Btf::from_file(path).map_err(|source| OffsetsError::Btf {
        path: path.to_owned(),
        source,
    })?;
    let layout = Layout { btf: &btf };
    let (task_compat_word, compat_mask, native_arch, compat_arch) = compat_detection(&layout)?;
    Ok(KernelOffsets {
        task_real_parent: layout.offset("task_struct", &["real_parent"])?,
        task_tgid: layout.offset("task_struct", &["tgid"])?,
        task_nsproxy: layout.offset("task_struct", &["nsproxy"])?,
        nsproxy_mnt_ns: layout.offset("nsproxy", &["mnt_ns"])?,
        mnt_ns_inum: layout.offset("mnt_namespace", &["ns", "inum"])?,
        task_compat_word,
        compat_mask,
        native_arch,
        compat_arch,
        _pad: 0,
    })
}

/// Where the "this is a compat system call" bit lives for the architecture we run on.
fn compat_detection(layout: &Layout<'_>) -> Result<(u32, u32, u32, u32), OffsetsError> {
    if cfg!(target_arch = "x86_64") {
        let word = layout.offset("task_struct", &["thread_info", "status"])?;
        Ok((word, X86_TS_COMPAT, audit_arch::X86_64, audit_arch::I386))
    } else if cfg!(target_arch = "aarch64") {
        // Compat tasks on arm64 are detected per task, not per call; arm32 events are then
        // reported with the native table until that is wired up.
        Ok((0, 0, audit_arch::AARCH64, audit_arch::AARCH64))
    } else {
        Ok((0, 0, 0, 0))
    }
}

struct Layout<'a> {
    btf: &'a Btf,
}

impl Layout<'_> {
    /// Byte offset of `path` (a chain of nested member names) inside struct `root`. Members of
    /// anonymous structs and unions (`randomized_struct_fields_start`, unions in `ns_common`)
    /// are searched through transparently.
    fn offset(&self, root: &str, path: &[&str]) -> Result<u32, OffsetsError> {
        let mut current = self.named_struct(root)?;
        let mut parent = root.to_owned();
        let mut bits = 0;
        for (i, field) in path.iter().enumerate() {
            let (member_bits, member_type) =
                self.find_member(&current, field)?
                    .ok_or_else(|| OffsetsError::NoField {
                        parent: parent.clone(),
                        field: (*field).to_owned(),
                    })?;
            bits += member_bits;
            if i + 1 < path.len() {
                current = self
                    .as_struct(member_type)
                    .ok_or_else(|| OffsetsError::NotAStruct {
                        parent: parent.clone(),
                        field: (*field).to_owned(),
                    })?;
                parent = (*field).to_owned();
            }
        }
        Ok(bits / 8)
    }

    fn named_struct(&self, name: &str) -> Result<btf_rs::Struct, OffsetsError> {
        self.btf
            .resolve_types_by_name(name)?
            .into_iter()
            .find_map(|t| match t {
                // Skip forward declarations and empty placeholders of the same name.
                Type::Struct(s) if !s.members.is_empty() => Some(s),
                _ => None,
            })
            .ok_or_else(|| OffsetsError::NoStruct(name.to_owned()))
    }

    /// The bit offset and type of member `name`, looking inside anonymous members.
    fn find_member(
        &self,
        parent: &btf_rs::Struct,
        name: &str,
    ) -> Result<Option<(u32, Type)>, OffsetsError> {
        for member in &parent.members {
            let member_name = self.btf.resolve_name(member).unwrap_or_default();
            let member_type = self.btf.resolve_chained_type(member)?;
            if member_name == name {
                return Ok(Some((member.bit_offset(), member_type)));
            }
            if member_name.is_empty()
                && let Some(inner) = self.as_struct(member_type)
                && let Some((bits, t)) = self.find_member(&inner, name)?
            {
                return Ok(Some((member.bit_offset() + bits, t)));
            }
        }
        Ok(None)
    }

    /// Follows typedefs and qualifiers to a struct or union.
    fn as_struct(&self, mut t: Type) -> Option<btf_rs::Struct> {
        loop {
            match t {
                Type::Struct(s) | Type::Union(s) => return Some(s),
                Type::Typedef(_) | Type::Const(_) | Type::Volatile(_) | Type::TypeTag(_) => {
                    let next = t.as_btf_type()?;
                    t = self.btf.resolve_chained_type(next).ok()?;
                }
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the BTF of the kernel the tests run on; every kernel tracer supports has it.
    #[test]
    fn finds_every_offset_in_the_running_kernel() {
        if !Path::new(VMLINUX_BTF).exists() {
            panic!("{VMLINUX_BTF} is missing: these tests need a kernel with BTF");
        }
        let offsets = from_running_kernel().expect("offsets from the running kernel");
        assert_ne!(offsets.task_real_parent, 0);
        assert_ne!(offsets.task_tgid, 0);
        assert_ne!(offsets.task_nsproxy, 0);
        assert!(offsets.task_tgid < 16 * 1024, "{offsets:?}");
        if cfg!(target_arch = "x86_64") {
            assert_eq!(offsets.compat_mask, X86_TS_COMPAT);
            assert_eq!(offsets.native_arch, audit_arch::X86_64);
        }
    }

    #[test]
    fn names_what_is_missing() {
        let btf = Btf::from_file(VMLINUX_BTF).expect("kernel BTF");
        let layout = Layout { btf: &btf };
        let err = layout
            .offset("task_struct", &["no_such_field"])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "kernel BTF has no field no_such_field in struct task_struct"
        );
        let err = layout.offset("no_such_struct_xyz", &["a"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "kernel BTF has no struct no_such_struct_xyz"
        );
    }
}

//! Loads the embedded kernel programs with this kernel's offsets and the chosen buffer size.
//!
//! Loading creates the maps and hands the programs' BTF to the kernel; the programs themselves
//! are loaded (and verified) when a hook is attached. A failure here means the kernel cannot
//! run tracer's eBPF side at all, so each error says which kernel feature is missing and points
//! to `--probe audit`, the one source that can do without it.

use std::io;

use aya::{
    BtfError, Ebpf, EbpfError, EbpfLoader,
    maps::{Array, MapError, MapType},
};
use thiserror::Error;
use tracer_common::{KernelOffsets, PathArg, Settings, names};

/// The kernel programs, built by build.rs for the BPF target.
static PROGRAMS: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracer"));

/// The way out when the kernel cannot hold the programs.
const USE_AUDIT: &str = "on kernels that cannot load tracer's eBPF programs, `--probe audit` \
                         reads the kernel's own seccomp audit records instead";

#[derive(Debug, Error)]
pub enum LoadError {
    #[error(
        "the kernel refused bpf(): run as root, or with CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN \
         before Linux 5.8); in a container, run it privileged (container seccomp profiles \
         refuse bpf()); {USE_AUDIT}"
    )]
    NotPermitted(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("this kernel has no BPF ring buffer maps (they need Linux 5.8 or later); {USE_AUDIT}")]
    NoRingBuffer(#[source] MapError),
    #[error(
        "the kernel could not allocate a {bytes}-byte ring buffer: choose a smaller \
         --ring-buffer-size"
    )]
    RingBufferTooLarge {
        bytes: u32,
        #[source]
        source: MapError,
    },
    #[error("the kernel refused to create the BPF map {map}; {USE_AUDIT}")]
    Map {
        map: String,
        #[source]
        source: MapError,
    },
    #[error(
        "this kernel gives BPF programs no global data, which carries the structure offsets \
         (it needs Linux 5.2 or later); {USE_AUDIT}"
    )]
    NoGlobalData(#[source] EbpfError),
    #[error(
        "the kernel rejected the type information (BTF) of tracer's kernel programs, which its \
         fentry program needs (a kernel built with CONFIG_DEBUG_INFO_BTF, Linux 5.5 or later); \
         {USE_AUDIT}"
    )]
    Btf(#[source] BtfError),
    #[error("loading tracer's kernel programs; {USE_AUDIT}")]
    Other(#[source] EbpfError),
}

pub fn load(
    offsets: &KernelOffsets,
    ring_buffer_bytes: u32,
    settings: &Settings,
) -> Result<Ebpf, LoadError> {
    raise_memlock_limit();
    let mut ebpf = EbpfLoader::new()
        .override_global(names::OFFSETS_GLOBAL, offsets, true)
        .override_global(names::SETTINGS_GLOBAL, settings, true)
        .map_max_entries(names::EVENTS_MAP, ring_buffer_bytes)
        .load(PROGRAMS)
        .map_err(|error| explain(error, ring_buffer_bytes, KernelFeatures::probe()))?;
    fill_path_args(&mut ebpf)?;
    Ok(ebpf)
}

/// Tells the programs which argument of which call is a path.
fn fill_path_args(ebpf: &mut Ebpf) -> Result<(), LoadError> {
    let map_error = |source| LoadError::Map {
        map: names::PATH_ARGS_MAP.into(),
        source,
    };
    let mut map: Array<_, PathArg> = ebpf
        .map_mut(names::PATH_ARGS_MAP)
        .ok_or_else(|| {
            map_error(MapError::InvalidName {
                name: names::PATH_ARGS_MAP.into(),
            })
        })?
        .try_into()
        .map_err(map_error)?;
    for (slot, value) in super::path_args::entries() {
        map.set(slot, value, 0).map_err(map_error)?;
    }
    Ok(())
}

/// Kernel features an error is explained with, probed only once a load has failed.
#[derive(Clone, Copy, Debug)]
struct KernelFeatures {
    ring_buffer: bool,
    global_data: bool,
}

impl KernelFeatures {
    fn probe() -> Self {
        Self {
            // A probe that fails in an unexpected way says nothing about the feature; the
            // error is then reported as it came.
            ring_buffer: aya::sys::is_map_supported(MapType::RingBuf).unwrap_or(true),
            global_data: aya::features().bpf_global_data(),
        }
    }
}

/// Turns aya's error into one that names the missing kernel feature.
fn explain(error: EbpfError, ring_buffer_bytes: u32, kernel: KernelFeatures) -> LoadError {
    if errno(&error) == Some(libc::EPERM) {
        // The inner error: aya's wrapper repeats its message.
        return LoadError::NotPermitted(match error {
            EbpfError::MapError(inner) => Box::new(inner),
            EbpfError::BtfError(inner) => Box::new(inner),
            other => Box::new(other),
        });
    }
    match error {
        EbpfError::MapError(source) => {
            let MapError::CreateError { name, io_error } = &source else {
                return LoadError::Other(EbpfError::MapError(source));
            };
            let errno = io_error.raw_os_error();
            if name == names::EVENTS_MAP {
                // Kernels before 5.8 do not know the map type and answer EINVAL, which a bad
                // size also gets: only the probe tells the two apart.
                if errno == Some(libc::EINVAL) && !kernel.ring_buffer {
                    return LoadError::NoRingBuffer(source);
                }
                if matches!(errno, Some(libc::ENOMEM | libc::E2BIG)) {
                    return LoadError::RingBufferTooLarge {
                        bytes: ring_buffer_bytes,
                        source,
                    };
                }
            }
            LoadError::Map {
                map: name.clone(),
                source,
            }
        }
        // Without global data aya leaves out the `.rodata` map, and the programs' references
        // to the offsets then fail to relocate.
        EbpfError::RelocationError(_) if !kernel.global_data => LoadError::NoGlobalData(error),
        EbpfError::BtfError(source @ BtfError::LoadError { .. }) => LoadError::Btf(source),
        other => LoadError::Other(other),
    }
}

/// The errno behind a load error, where the kernel gave one.
fn errno(error: &EbpfError) -> Option<i32> {
    let io: &io::Error = match error {
        EbpfError::MapError(MapError::CreateError { io_error, .. }) => io_error,
        EbpfError::MapError(MapError::SyscallError(e)) => &e.io_error,
        EbpfError::BtfError(BtfError::LoadError { io_error, .. }) => io_error,
        _ => return None,
    };
    io.raw_os_error()
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK, whose default is too small for a
/// ring buffer; later kernels ignore the limit, so a failure here is only worth a debug line.
fn raise_memlock_limit() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads a valid rlimit struct and has no other effect on memory.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) } != 0 {
        tracing::debug!(
            "cannot raise RLIMIT_MEMLOCK: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use caps::{CapSet, Capability};

    use super::*;
    use crate::{error_chain::Chain, probe::offsets};

    fn offsets() -> KernelOffsets {
        offsets::from_running_kernel().expect("kernel offsets")
    }

    #[test]
    #[ignore = "needs root and BPF: cargo xtask test runs it as root"]
    fn loads_on_the_running_kernel() {
        if let Err(error) = load(&offsets(), 4096, &Settings::DEFAULT) {
            panic!("loading the kernel programs: {}", Chain(&error));
        }
    }

    /// Capabilities are per thread: this thread loses the BPF ones, the others keep them.
    #[test]
    #[ignore = "needs root and BPF: cargo xtask test runs it as root"]
    fn without_capabilities_says_which_are_needed() {
        let offsets = offsets();
        // Probed once per process: probing without capabilities would spoil it for other tests.
        let _ = aya::features();
        let error = std::thread::spawn(move || {
            for cap in [
                Capability::CAP_SYS_ADMIN,
                Capability::CAP_BPF,
                Capability::CAP_PERFMON,
            ] {
                caps::drop(None, CapSet::Effective, cap).expect("dropping a capability");
            }
            load(&offsets, 4096, &Settings::DEFAULT).err()
        })
        .join()
        .expect("the loading thread");
        match error {
            Some(error @ LoadError::NotPermitted(_)) => {
                let message = error.to_string();
                assert!(
                    message.starts_with("the kernel refused bpf(): run as root"),
                    "{message}"
                );
                assert!(message.contains("`--probe audit`"), "{message}");
            }
            other => panic!("expected a permission error, got {other:?}"),
        }
    }

    /// This kernel has ring buffers, so a size it refuses is not blamed on their absence.
    #[test]
    #[ignore = "needs root and BPF: cargo xtask test runs it as root"]
    fn a_refused_ring_buffer_size_is_not_taken_for_a_missing_ring_buffer() {
        // aya rounds sizes up to a power of two, but leaves 0, which the kernel answers with
        // EINVAL, as kernels without ring buffers do.
        let error = load(&offsets(), 0, &Settings::DEFAULT).err();
        match error {
            Some(LoadError::Map { ref map, .. }) if map == names::EVENTS_MAP => {}
            other => panic!("expected the EVENTS map to be refused, got {other:?}"),
        }
    }

    /// A kernel before 5.2, and one after 5.8.
    const OLD: KernelFeatures = KernelFeatures {
        ring_buffer: false,
        global_data: false,
    };
    const NEW: KernelFeatures = KernelFeatures {
        ring_buffer: true,
        global_data: true,
    };

    fn create_error(map: &str, errno: i32) -> EbpfError {
        EbpfError::MapError(MapError::CreateError {
            name: map.to_owned(),
            io_error: io::Error::from_raw_os_error(errno),
        })
    }

    /// The cases the running kernel cannot produce: which feature each kernel answer means.
    #[test]
    fn each_kernel_answer_names_its_cause() {
        let explained = |map, errno, kernel| explain(create_error(map, errno), 1 << 20, kernel);
        assert!(matches!(
            explained(names::EVENTS_MAP, libc::EINVAL, OLD),
            LoadError::NoRingBuffer(_)
        ));
        assert!(matches!(
            explained(names::EVENTS_MAP, libc::EINVAL, NEW),
            LoadError::Map { .. }
        ));
        assert!(matches!(
            explained(names::LOST_MAP, libc::EPERM, NEW),
            LoadError::NotPermitted(_)
        ));
        let too_large = explained(names::EVENTS_MAP, libc::ENOMEM, NEW);
        assert_eq!(
            too_large.to_string(),
            "the kernel could not allocate a 1048576-byte ring buffer: choose a smaller \
             --ring-buffer-size"
        );
        let other_map = explained(names::EXITED_MAP, libc::EINVAL, OLD);
        assert_eq!(
            other_map.to_string(),
            format!("the kernel refused to create the BPF map EXITED; {USE_AUDIT}")
        );
        assert_eq!(
            Chain(&other_map).to_string(),
            format!(
                "the kernel refused to create the BPF map EXITED; {USE_AUDIT}: failed to create \
                 map `EXITED`: {}",
                io::Error::from_raw_os_error(libc::EINVAL)
            )
        );
    }

    #[test]
    fn every_kernel_side_error_points_to_the_audit_source() {
        for error in [
            explain(create_error(names::EVENTS_MAP, libc::EINVAL), 4096, OLD),
            explain(create_error(names::EVENTS_MAP, libc::EPERM), 4096, NEW),
            explain(create_error(names::MNTNS_DROP_MAP, libc::EINVAL), 4096, NEW),
            explain(EbpfError::NoBTF, 4096, NEW),
        ] {
            assert!(error.to_string().contains("`--probe audit`"), "{error}");
        }
    }
}

//! Loads the embedded kernel programs with this kernel's offsets and the chosen buffer size.

use aya::{Ebpf, EbpfError, EbpfLoader};
use thiserror::Error;
use tracer_common::{KernelOffsets, names};

/// The kernel programs, built by build.rs for the BPF target.
static PROGRAMS: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracer"));

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("loading the kernel programs' object (maps and BTF)")]
    Object(#[source] EbpfError),
}

pub fn load(offsets: &KernelOffsets, ring_buffer_bytes: u32) -> Result<Ebpf, LoadError> {
    raise_memlock_limit();
    EbpfLoader::new()
        .override_global(names::OFFSETS_GLOBAL, offsets, true)
        .map_max_entries(names::EVENTS_MAP, ring_buffer_bytes)
        .load(PROGRAMS)
        .map_err(LoadError::Object)
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

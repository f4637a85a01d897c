//! Gives memory freed after start-up back to the system.
//!
//! Starting up parses the kernel's type information (BTF) twice, to find structure offsets and
//! to load the programs: tens of megabytes, freed once the programs are loaded. glibc keeps
//! freed memory for reuse, and can return it by itself only from the top of the heap, which the
//! allocations made after it pin; so a daemon that never needs it again would hold it for its
//! whole life.

/// Returns the heap's free pages to the system. Cheap enough to call once after start-up.
pub fn return_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists; it takes no pointers from us.
    unsafe {
        libc::malloc_trim(0);
    }
}

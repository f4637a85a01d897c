//! Routes the kernel programs' diagnostics (aya-log) into tracer's own log.

use aya::Ebpf;
use tokio::io::unix::AsyncFd;

/// Starts a task that forwards the programs' log lines as they come.
pub fn forward(ebpf: &mut Ebpf) {
    let logger = match aya_log::EbpfLogger::init(ebpf) {
        Ok(logger) => logger,
        Err(error) => {
            tracing::debug!("kernel program diagnostics unavailable: {error}");
            return;
        }
    };
    // SAFETY: the logger owns its ring buffer's file descriptor for as long as it lives, and the
    // AsyncFd owns the logger.
    let registered =
        unsafe { AsyncFd::register_with_interest(logger, tokio::io::Interest::READABLE) };
    let mut logger = match registered {
        Ok(logger) => logger,
        Err(error) => {
            tracing::debug!("cannot watch kernel program diagnostics: {error}");
            return;
        }
    };
    tokio::spawn(async move {
        while let Ok(mut guard) = logger.readable_mut().await {
            guard.get_inner_mut().flush();
            guard.clear_ready();
        }
    });
}

//! Names the code behind an event's stack, once the event is to be shown: where the caller's
//! files are is known by then (its container is named), and events filtered out cost nothing.

use std::path::{Path, PathBuf};

use crate::{
    events::Event,
    stack::{Places, Symbolizer},
};

/// Symbolizes the stack the kernel program captured, if the event has one.
pub fn symbolize(symbolizer: &mut Symbolizer, event: &mut Event) {
    let Some(raw) = event.raw_stack.take() else {
        return;
    };
    event.stack = Some(symbolizer.symbolize(&raw, &places(event)));
}

/// Where the caller's files may be: through its own root while it lives, in its container's
/// directories, or on the host.
fn places(event: &Event) -> Places {
    let own_root = PathBuf::from(format!("/proc/{}/root", event.pid));
    let mut roots: Vec<PathBuf> = Vec::new();
    if own_root.exists() {
        roots.push(own_root);
    }
    match &event.container {
        Some(container) => roots.extend(container.file_dirs.iter().cloned()),
        None if event.on_host => roots.push(Path::new("/").to_owned()),
        // Not named: the host's files are the best guess left.
        None => roots.push(Path::new("/").to_owned()),
    }
    Places {
        pid: event.pid,
        roots,
        exe: event.exe.clone().filter(|exe| exe.starts_with('/')),
    }
}

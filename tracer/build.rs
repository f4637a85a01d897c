use std::path::Path;

use anyhow::{Context as _, anyhow};
use aya_build::{Package, Toolchain};

/// Builds the kernel programs (tracer-ebpf) for the BPF target with nightly, into OUT_DIR, where
/// `include_bytes_aligned!` picks them up. `AYA_BUILD_SKIP=1` skips this for lints and docs.
fn main() -> anyhow::Result<()> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR unset")?;
    let root_dir = Path::new(&manifest_dir).join("../tracer-ebpf");
    let root_dir = root_dir
        .to_str()
        .ok_or_else(|| anyhow!("{} is not UTF-8", root_dir.display()))?;
    aya_build::build_ebpf(
        [Package {
            name: "tracer-ebpf",
            root_dir,
            ..Default::default()
        }],
        Toolchain::default(),
    )
}

use which::which;

/// Rebuild the programs when bpf-linker changes: aya-build cannot see it as a dependency.
fn main() {
    if let Ok(linker) = which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
}

//! Installs what the build and the tests need, skipping what is already installed, so running
//! it before every other command costs little.

use std::{env, path::PathBuf, process::Command};

use anyhow::{Context as _, Result};

use crate::{cargo, process};

const APT_PACKAGES: &[&str] = &[
    // bpf-linker links against the LLVM that nightly's rustc uses.
    "llvm-22-dev",
    // containerd-client's build compiles containerd's API (.proto files) with protoc.
    "protobuf-compiler",
    "qemu-system-x86",
    "cpio",
    "busybox-static",
    "docker.io",
    // The other runtimes' tests: a standalone containerd driven with ctr (docker.io pulls
    // containerd in, named here as the tests use it themselves), and podman. The tests start
    // each daemon with state of its own; none is started here: a containerd on the default
    // socket would be taken by every dockerd the tests start instead of its own.
    "containerd",
    "podman",
    "auditd",
    "util-linux",
    "kmod",
    // The stack tests' C workloads, one linked statically against glibc.
    "gcc",
    "libc6-dev",
    // The packaging tests: `systemd-analyze verify` on the unit, `man` on the packed pages,
    // Debian's checker on the package.
    "systemd",
    "man-db",
    "lintian",
    // The file sink's test ships its file with rsyslog's imfile, as a node's shipper would.
    "rsyslog",
    // The --summary test runs tracer on a pseudo-terminal with script(1).
    "bsdutils",
    // arm64: the cross toolchain tracer and its tests are linked with, with its C library;
    // the arm32 one for the compat workload; the emulator of the arm64 VM lab.
    "gcc-aarch64-linux-gnu",
    "libc6-dev-arm64-cross",
    "gcc-arm-linux-gnueabihf",
    "libc6-dev-armhf-cross",
    "qemu-system-arm",
];
/// The foreign architecture whose packages the arm64 VM lab downloads (its kernels and
/// busybox), without installing them.
const FOREIGN_ARCH: &str = "arm64";
/// Rust's standard library for the arm64 cross build.
const CROSS_TARGET: &str = "aarch64-unknown-linux-gnu";
const LLVM_PREFIX: &str = "/usr/lib/llvm-22";
/// qemu's packages must share one version: `qemu-utils` (qemu-img) newer than the emulators
/// the distribution offers, as from backports, makes apt refuse to install them.
const QEMU_TOOLS: &str = "qemu-utils";
const QEMU_EMULATORS_COMMON: &str = "qemu-system-common";

pub fn run() -> Result<()> {
    foreign_arch()?;
    apt_packages()?;
    nightly_rust_src()?;
    cross_target()?;
    bpf_linker()
}

/// Lets apt see arm64 packages; refreshes the lists when the architecture was new to it.
fn foreign_arch() -> Result<()> {
    let known = process::stdout(Command::new("dpkg").arg("--print-foreign-architectures"))
        .context("cannot ask dpkg for its foreign architectures")?;
    if known.lines().any(|arch| arch.trim() == FOREIGN_ARCH) {
        return Ok(());
    }
    process::run(process::as_root("dpkg").args(["--add-architecture", FOREIGN_ARCH]))
        .with_context(|| format!("cannot add the {FOREIGN_ARCH} architecture to dpkg"))?;
    apt_update()
}

fn cross_target() -> Result<()> {
    let installed = process::stdout(Command::new("rustup").args(["target", "list", "--installed"]))
        .context("cannot list rustup's installed targets")?;
    if installed
        .lines()
        .any(|target| target.trim() == CROSS_TARGET)
    {
        return Ok(());
    }
    process::run(Command::new("rustup").args(["target", "add", CROSS_TARGET]))
        .with_context(|| format!("cannot install Rust's {CROSS_TARGET} target"))
}

fn apt_packages() -> Result<()> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|package| !apt_installed(package))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("installing {}", missing.join(" "));
    apt_update()?;
    let mut install = process::as_root("env");
    install
        // needrestart would otherwise ask, or print a report, after every install.
        .args(["DEBIAN_FRONTEND=noninteractive", "NEEDRESTART_SUSPEND=1"])
        .args(["apt-get", "install", "--yes"])
        .args(&missing);
    if let Some(version) = qemu_tools_to_match_emulators()? {
        eprintln!("{QEMU_TOOLS} goes to {version}, the version of the qemu emulators");
        install
            .arg("--allow-downgrades")
            .arg(format!("{QEMU_TOOLS}={version}"));
    }
    process::run(&mut install).context("cannot install the packages the build and the tests need")
}

/// The emulators' version, when the installed `qemu-utils` has another one.
fn qemu_tools_to_match_emulators() -> Result<Option<String>> {
    if !apt_installed(QEMU_TOOLS) {
        return Ok(None);
    }
    let installed = process::stdout(Command::new("dpkg-query").args([
        "--show",
        "--showformat=${Version}",
        QEMU_TOOLS,
    ]))
    .with_context(|| format!("cannot ask dpkg for {QEMU_TOOLS}'s version"))?;
    let policy = process::stdout(Command::new("apt-cache").args(["policy", QEMU_EMULATORS_COMMON]))
        .with_context(|| format!("cannot ask apt for {QEMU_EMULATORS_COMMON}'s version"))?;
    Ok(candidate_version(&policy).filter(|emulators| *emulators != installed.trim()))
}

/// The `Candidate:` line of `apt-cache policy`; `None` where apt has no candidate.
fn candidate_version(policy: &str) -> Option<String> {
    let version = policy
        .lines()
        .find_map(|line| line.trim().strip_prefix("Candidate:"))?
        .trim();
    (version != "(none)").then(|| version.to_owned())
}

pub fn apt_update() -> Result<()> {
    process::run(process::as_root("apt-get").arg("update"))
}

fn apt_installed(package: &str) -> bool {
    // dpkg-query fails for packages it has never heard of: those are missing too.
    Command::new("dpkg-query")
        .args(["--show", "--showformat=${Status}", package])
        .output()
        .is_ok_and(|output| output.status.success() && output.stdout == b"install ok installed")
}

fn nightly_rust_src() -> Result<()> {
    let installed = process::stdout(Command::new("rustup").args([
        "component",
        "list",
        "--toolchain",
        "nightly",
        "--installed",
    ]))
    .context("cannot list nightly's components: is the nightly toolchain installed?")?;
    if installed
        .lines()
        .any(|component| component.trim() == "rust-src")
    {
        return Ok(());
    }
    // The kernel programs are built with `-Z build-std=core`, which compiles core from source.
    process::run(Command::new("rustup").args([
        "component",
        "add",
        "rust-src",
        "--toolchain",
        "nightly",
    ]))
}

fn bpf_linker() -> Result<()> {
    if process::succeeds(Command::new("bpf-linker").arg("--version")) {
        return Ok(());
    }
    // Without these, bpf-linker's build finds the distribution's default llvm-config (an older
    // LLVM without the libraries it links) instead of LLVM 22.
    let llvm_bin = PathBuf::from(LLVM_PREFIX).join("bin");
    let path = env::join_paths(
        std::iter::once(llvm_bin).chain(env::split_paths(&env::var_os("PATH").unwrap_or_default())),
    )
    .context("cannot put LLVM 22 on PATH")?;
    process::run(
        cargo::cargo()
            .args([
                "install",
                "bpf-linker",
                "--no-default-features",
                "--features",
                "llvm-22",
            ])
            .env("LLVM_PREFIX", LLVM_PREFIX)
            .env("PATH", path),
    )
    .context("cannot install bpf-linker")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_apts_candidate_and_none_where_there_is_none() {
        let policy = "qemu-system-common:\n  Installed: (none)\n  Candidate: 1:7.2+dfsg-7+deb12u18+b3\n  \
                      Version table:\n     1:7.2+dfsg-7+deb12u18+b3 500\n";
        assert_eq!(
            candidate_version(policy).as_deref(),
            Some("1:7.2+dfsg-7+deb12u18+b3")
        );
        assert_eq!(
            candidate_version("x:\n  Installed: (none)\n  Candidate: (none)\n"),
            None
        );
    }
}

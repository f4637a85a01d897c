//! The machines tracer is built for: this one, or arm64 by cross compilation from x86-64.

use std::process::Command;

use clap::ValueEnum;

/// A machine architecture, as the build and the VM lab need to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Arch {
    #[value(name = "x86_64", alias = "amd64", alias = "x86-64")]
    X86_64,
    #[value(name = "aarch64", alias = "arm64")]
    Aarch64,
}

impl Arch {
    /// The machine xtask runs on (and builds for without `--target`).
    pub fn host() -> Self {
        if cfg!(target_arch = "aarch64") {
            Self::Aarch64
        } else {
            Self::X86_64
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Aarch64 => "aarch64",
        }
    }

    /// Rust's target triple.
    pub fn triple(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64-unknown-linux-gnu",
            Self::Aarch64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// Debian's name for the architecture, in package names and `pkg:arch`.
    pub fn debian(self) -> &'static str {
        match self {
            Self::X86_64 => "amd64",
            Self::Aarch64 => "arm64",
        }
    }

    /// The GNU triple of the distribution's cross toolchain (`aarch64-linux-gnu-gcc`), whose
    /// C library the cross-built binaries load at run time.
    pub fn gnu_triple(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64-linux-gnu",
            Self::Aarch64 => "aarch64-linux-gnu",
        }
    }

    pub fn is_cross(self) -> bool {
        self != Self::host()
    }

    /// Makes a cargo build command build for this architecture: nothing for the host; for
    /// another, `--target` and the cross toolchain as linker and as the C compiler of build
    /// scripts (the cc crate's `CC_<triple>`, which tests/build.rs reads too). The kernel
    /// programs need nothing: aya-build compiles them for bpfel with the target's pt_regs.
    pub fn configure(self, cmd: &mut Command) {
        if !self.is_cross() {
            return;
        }
        let triple = self.triple();
        let gnu = self.gnu_triple();
        let env_triple = triple.replace('-', "_");
        cmd.args(["--target", triple])
            .env(
                format!("CARGO_TARGET_{}_LINKER", env_triple.to_uppercase()),
                format!("{gnu}-gcc"),
            )
            .env(format!("CC_{env_triple}"), format!("{gnu}-gcc"))
            .env(format!("AR_{env_triple}"), format!("{gnu}-ar"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_builds_name_the_cross_toolchain() {
        let mut cmd = Command::new("cargo");
        let other = if Arch::host() == Arch::X86_64 {
            Arch::Aarch64
        } else {
            Arch::X86_64
        };
        other.configure(&mut cmd);
        let args: Vec<_> = cmd.get_args().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(args, ["--target", other.triple()]);
        let envs: Vec<(String, String)> = cmd
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_str().unwrap().to_owned(),
                    v.unwrap().to_str().unwrap().to_owned(),
                )
            })
            .collect();
        let gcc = format!("{}-gcc", other.gnu_triple());
        let triple = other.triple().replace('-', "_");
        assert!(envs.contains(&(
            format!("CARGO_TARGET_{}_LINKER", triple.to_uppercase()),
            gcc.clone()
        )));
        assert!(envs.contains(&(format!("CC_{triple}"), gcc)));
        let mut host = Command::new("cargo");
        Arch::host().configure(&mut host);
        assert_eq!(host.get_args().count(), 0);
    }
}

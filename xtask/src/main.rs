//! `cargo xtask`: the commands the README and CI use to set up, build, run and test tracer.

mod arm64_guest;
mod bench;
mod cargo;
mod guest_init;
mod initramfs;
mod kernels;
mod libtest;
mod package;
mod process;
mod qemu;
mod run;
mod scratch;
mod setup;
mod target;
mod test;
mod vm_bench;
mod vm_test;

use std::{ffi::OsString, process::ExitCode};

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Developer tasks for tracer")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install what the build and the tests need (apt packages, nightly rust-src, bpf-linker),
    /// skipping what is already there.
    Setup,
    /// Set up, then build tracer (with its kernel programs), for this machine or, with
    /// `--target aarch64`, cross-compiled for arm64.
    Build {
        #[arg(long)]
        release: bool,
        /// The architecture to build for; default: this machine's.
        #[arg(long, value_enum)]
        target: Option<target::Arch>,
    },
    /// Set up, build tracer in release mode and run it (through sudo when not root).
    Run {
        /// Arguments for tracer, after `--`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Set up, build tracer in release mode, and pack it: target/package/tracer_VERSION_ARCH.deb
    /// and target/package/image/, the container image's build context.
    Package,
    /// Run the kernel-hook tests on stock Debian kernels under qemu.
    VmTest(vm_test::Options),
    /// Measure what tracer costs (the audited call, bursts, CPU, memory, start) on this host
    /// and on stock kernels under qemu, beside auditd, and write docs/performance.md.
    Bench(bench::Options),
    /// Run the whole suite: formatting, lints, unit tests, a bench smoke run, host and VM tests.
    Test(test::Options),
    /// Run the performance lab in the VMs and print what it measured.
    #[command(hide = true)]
    VmBench {
        /// One 6.12 boot at CI's smoke scale.
        #[arg(long)]
        smoke: bool,
    },
}

fn main() -> Result<ExitCode> {
    match Cli::parse().command {
        Command::Setup => setup::run()?,
        Command::Build { release, target } => {
            setup::run()?;
            let tracer =
                cargo::build_tracer_for(release, target.unwrap_or_else(target::Arch::host))?;
            eprintln!("built {}", tracer.display());
        }
        Command::Run { args } => run::run(&args)?,
        Command::Package => {
            setup::run()?;
            let packaged = package::build(&cargo::build_tracer(true)?)?;
            println!("{}", packaged.deb.display());
            println!("{}", packaged.image_context.display());
        }
        Command::VmTest(options) => {
            setup::run()?;
            return vm_test::run(&options).map(|summary| exit_code(summary.all_passed()));
        }
        Command::Bench(options) => {
            setup::run()?;
            bench::run(&options)?;
        }
        Command::Test(options) => return test::run(&options).map(exit_code),
        Command::VmBench { smoke } => {
            setup::run()?;
            let runs = vm_bench::run(smoke)?;
            vm_bench::print(&runs);
            return Ok(exit_code(runs.iter().all(|run| run.failure.is_none())));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn exit_code(passed: bool) -> ExitCode {
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}

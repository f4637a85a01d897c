//! The performance lab's measuring side: `cargo xtask bench` runs it on the host and in each
//! VM and gathers the `perf: {json}` lines it prints into docs/performance.md.
//!
//! `perf-lab host --tracer PATH [--smoke] [--no-docker] [--scratch DIR]` runs what the host
//! can run; `perf-lab vm --tracer PATH [--smoke] [--scratch DIR]` what a VM's init runs (the
//! eBPF hooks and auditd); `perf-lab calls ...` is the timed child both start themselves.

use std::{path::PathBuf, process::ExitCode};

use tracer_integration_tests::perf::{Scale, calls, calls::online_cpus, host, runs::Lab, vm};

const USAGE: &str = "usage: perf-lab host --tracer PATH [--smoke] [--no-docker] [--scratch DIR]\n\
                     \x20      perf-lab vm --tracer PATH [--smoke] [--scratch DIR]\n\
                     \x20      perf-lab calls log|allow CALLS ROUNDS [CPU]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((command, rest)) if command == calls::SUBCOMMAND => exit(calls::child_main(rest)),
        Some((command, rest)) if command == "host" => match Options::parse(rest) {
            Ok(options) => {
                let lab = options.lab();
                match host::run(&lab, options.docker) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(error) => {
                        eprintln!("perf-lab: {error}");
                        ExitCode::FAILURE
                    }
                }
            }
            Err(message) => usage(&message),
        },
        Some((command, rest)) if command == "vm" => match Options::parse(rest) {
            // The host reads the console: a failure must say why on a line of its own.
            Ok(options) => match vm::run(&Lab {
                tracer_args: vm::TRACER_ARGS.iter().map(|&arg| arg.to_owned()).collect(),
                ..options.lab()
            }) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    println!("{}{error}", vm::FAILED_PREFIX);
                    ExitCode::FAILURE
                }
            },
            Err(message) => usage(&message),
        },
        _ => usage("no command"),
    }
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn usage(message: &str) -> ExitCode {
    eprintln!("perf-lab: {message}\n{USAGE}");
    ExitCode::from(2)
}

struct Options {
    tracer: PathBuf,
    scale: Scale,
    docker: bool,
    scratch: PathBuf,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut tracer = None;
        let mut scale = Scale::Full;
        let mut docker = true;
        let mut scratch = std::env::temp_dir().join(format!("perf-lab-{}", std::process::id()));
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--tracer" => tracer = args.next().map(PathBuf::from),
                "--scratch" => {
                    scratch = args
                        .next()
                        .map(PathBuf::from)
                        .ok_or("--scratch needs a directory")?;
                }
                "--smoke" => scale = Scale::Smoke,
                "--no-docker" => docker = false,
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(Self {
            tracer: tracer.ok_or("--tracer PATH is required")?,
            scale,
            docker,
            scratch,
        })
    }

    /// The workload on the first CPU and tracer on the second, when there is one.
    fn lab(&self) -> Lab {
        let two = online_cpus() >= 2;
        Lab {
            tracer: self.tracer.clone(),
            exe: std::env::current_exe().expect("perf-lab knows its own path"),
            scale: self.scale,
            scratch: self.scratch.clone(),
            workload_cpu: two.then_some(0),
            consumer_cpu: two.then_some(1),
            tracer_args: Vec::new(),
        }
    }
}

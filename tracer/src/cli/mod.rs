//! Command-line arguments. Parsing only: the work is done by the modules they are handed to.

pub mod daemon;
pub mod output_file;
pub mod volume;
pub mod webhook;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use std::path::PathBuf;

use crate::{
    enrich::Runtime,
    output::OutputFormat,
    probe::ProbeChoice,
    profile::{context::KernelVersion, recording::MergeMode, write::ProfileFormat},
};

#[derive(Debug, Parser)]
#[command(
    name = "tracer",
    version,
    about = "Shows which system calls seccomp logged, refused or killed, in which container, and why"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Audit security decisions the kernel makes.
    #[command(subcommand)]
    Audit(Audit),
    /// Record, turn into logs, merge and check seccomp profiles.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Check rules files (`--rules`) and see which rule recorded events match.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Write the man pages and shell completions (for packaging).
    #[command(hide = true)]
    GenerateDocs(GenerateDocsArgs),
}

#[derive(Debug, Args)]
pub struct GenerateDocsArgs {
    /// The directory to write into: man pages under `man1/`, completions under `completions/`.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Write a profile allowing the calls each container made, when recording stops.
    Record(RecordArgs),
    /// Print the profile with every refusal turned into a log (SCMP_ACT_LOG): a workload run
    /// under it logs what the original would refuse.
    AuditMode(AuditModeArgs),
    /// Print one profile allowing what any of the given profiles allows.
    Merge(MergeArgs),
    /// List the recorded calls (tracer's JSON events) a profile would refuse. Exits 1 when
    /// there are any, 2 on errors.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    #[command(flatten)]
    pub containers: ContainerNames,

    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,

    /// Where the profiles are written.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub output_dir: PathBuf,

    /// A profile whose rules the recorded ones are added to (such as Docker's default).
    #[arg(long, value_name = "PROFILE.json")]
    pub base: Option<PathBuf>,

    /// One profile per container (none), per image, or one for all containers.
    #[arg(long, value_enum, default_value_t = MergeMode::None)]
    pub merge: MergeMode,

    /// Docker's JSON, or a Security Profiles Operator SeccompProfile (YAML).
    #[arg(short = 'o', long = "output", value_enum, default_value_t = ProfileFormat::Docker)]
    pub format: ProfileFormat,

    /// The Docker API socket.
    #[arg(long, value_name = "PATH", default_value = crate::enrich::docker::DEFAULT_SOCKET)]
    pub docker_socket: PathBuf,

    /// Build the profiles from tracer's JSON events (`tracer audit seccomp -o json` lines)
    /// instead of recording.
    #[arg(long, value_name = "FILE")]
    pub from_events: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuditModeArgs {
    /// The profile to turn into logs.
    #[arg(value_name = "PROFILE.json")]
    pub profile: PathBuf,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The profiles to merge; with --check, the first is the one checked.
    #[arg(value_name = "PROFILE.json", required = true)]
    pub profiles: Vec<PathBuf>,

    /// Print what the first profile lacks that the others allow, and exit 1 if anything.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The profile to check.
    #[arg(value_name = "PROFILE.json")]
    pub profile: PathBuf,

    /// tracer's JSON events (`tracer audit seccomp -o json` lines).
    #[arg(long, value_name = "EVENTS.jsonl")]
    pub events: PathBuf,

    /// The container's capabilities (comma-separated, CAP_ optional), instead of Docker's
    /// default 14.
    #[arg(long, value_name = "CAP", value_delimiter = ',')]
    pub caps: Option<Vec<String>>,

    /// The kernel version for minKernel conditions (X.Y), instead of the running kernel's.
    #[arg(long, value_name = "X.Y")]
    pub kernel: Option<KernelVersion>,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate rules files (tracer's format or KubeArmorPolicy); errors give the file, line and
    /// column. Exits 0 when every file is valid, 1 otherwise.
    Check(RulesCheckArgs),
    /// Show, for each event of a JSON events file, the rule it matches first (or none) and the
    /// level it gets.
    Test(RulesTestArgs),
}

#[derive(Debug, Args)]
pub struct RulesCheckArgs {
    /// The rules files, in the order `--rules` would take them.
    #[arg(value_name = "FILE.yaml", required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RulesTestArgs {
    /// The rules files, in the order `--rules` would take them.
    #[arg(value_name = "FILE.yaml", required = true)]
    pub files: Vec<PathBuf>,

    /// tracer's JSON events (`tracer audit seccomp -o json` or `--output-file` lines).
    #[arg(long, value_name = "EVENTS.jsonl")]
    pub events: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Audit {
    /// Print every system call that seccomp logged, refused or killed.
    Seccomp(Box<SeccompArgs>),
}

/// `-c`: the containers a command is about.
#[derive(Debug, Args)]
pub struct ContainerNames {
    /// Only these containers (comma-separated names).
    #[arg(
        short = 'c',
        long = "containername",
        value_name = "NAME",
        value_delimiter = ',',
        value_parser = parse_container_name
    )]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SeccompArgs {
    /// Where events come from: auto tries fentry, then kprobe, then audit (the kernel's own
    /// seccomp audit records, for kernels that allow no eBPF hook).
    #[arg(long, value_enum, default_value_t = ProbeChoice::Auto)]
    pub probe: ProbeChoice,

    /// Standard output: columns, json (one object per line), jsonpretty, none, or
    /// columns=FIELD,... with field names as in the JSON (e.g. columns=pid,comm,syscall,code).
    #[arg(short, long, default_value = "columns")]
    pub output: OutputFormat,

    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,

    /// Also show processes of the host, not only those in containers.
    #[arg(long)]
    pub host: bool,

    /// Container runtimes to ask for container names (comma-separated); `auto`: those whose
    /// socket exists at start. A container Docker and containerd both know is named as Docker
    /// names it.
    #[arg(
        short = 'r',
        long = "runtimes",
        value_enum,
        value_delimiter = ',',
        default_value = "docker"
    )]
    pub runtimes: Vec<Runtime>,

    /// The Docker API socket.
    #[arg(long, value_name = "PATH", default_value = crate::enrich::docker::DEFAULT_SOCKET)]
    pub docker_socket: PathBuf,

    /// containerd's API socket (`-r containerd`).
    #[arg(long, value_name = "PATH", default_value = crate::enrich::containerd::DEFAULT_SOCKET)]
    pub containerd_socket: PathBuf,

    /// podman's Docker-compatible API socket, as `podman system service` serves it
    /// (`-r podman`).
    #[arg(
        long,
        value_name = "PATH",
        default_value = crate::enrich::docker::DEFAULT_PODMAN_SOCKET
    )]
    pub podman_socket: PathBuf,

    #[command(flatten)]
    pub containers: ContainerNames,

    /// Size of the kernel's event buffer: a power of two, at least one page (e.g. 4096, 256K,
    /// 4M). Larger buffers absorb longer bursts; lost events are always counted and reported.
    #[arg(long, value_name = "BYTES", default_value = "1M", value_parser = parse_ring_buffer_size)]
    pub ring_buffer_size: u32,

    /// Receive buffer of the audit source's socket: room for a burst of records while tracer
    /// catches up. The kernel charges about 2 KiB per record and takes the memory only while
    /// records wait. Overflows are counted as lost.
    // 8M lost up to half of a 100,000-call burst made in 0.3 s on a 2-core machine; 64M lost none.
    #[arg(long, value_name = "BYTES", default_value = "64M", value_parser = parse_byte_size)]
    pub audit_receive_buffer: usize,

    /// Also report calls seccomp refused without auditing them (filters installed without
    /// SECCOMP_FILTER_FLAG_LOG, such as Docker's default profile), with source syscall-exit.
    /// Costs every system call of a task under a seccomp filter a little, so it is off by
    /// default.
    #[arg(long)]
    pub all_denials: bool,

    /// Add the caller's user stack, symbolized, to events of kills and traps (`--stack`), or of
    /// every action (`--stack=all`).
    #[arg(
        long,
        value_enum,
        value_name = "WHICH",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "faults"
    )]
    pub stack: Option<StackEvents>,

    /// Show only the calls this seccomp profile (Docker or OCI JSON) would refuse, as a
    /// container with Docker's default capabilities on this machine; at the end, list them and
    /// exit non-zero if there were any.
    #[arg(long, value_name = "PROFILE.json")]
    pub check: Option<PathBuf>,

    /// Rules that decide what each event carries, drop it, or mark it with a rule's name,
    /// severity, tags and message (tracer's format or KubeArmorPolicy, docs/rules.md). Repeat
    /// for several files: their rules are tried in order, and the first match wins.
    #[arg(long = "rules", value_name = "FILE.yaml", action = clap::ArgAction::Append)]
    pub rules: Vec<PathBuf>,

    #[command(flatten)]
    pub output_file: output_file::OutputFileArgs,

    #[command(flatten)]
    // Boxed: its many options would make every `Command` as large as this one.
    pub webhook: Box<webhook::WebhookArgs>,

    #[command(flatten)]
    pub daemon: daemon::DaemonArgs,

    #[command(flatten)]
    pub volume: volume::VolumeArgs,

    /// What the kernel programs read for each event: none (the base fields), registers
    /// (adds errno, args, ip, ns ids, parent comm) or all (adds path, exe, cmdline).
    #[arg(long, value_enum, default_value_t = KernelDetails::All, hide = true)]
    pub kernel_details: KernelDetails,
}

/// Values of `--kernel-details`: how much each event costs the kernel program, for measuring it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KernelDetails {
    None,
    Registers,
    All,
}

/// Values of `--stack`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StackEvents {
    /// Kills and traps.
    Faults,
    /// Every action.
    All,
}

impl SeccompArgs {
    /// The choices the kernel programs are loaded with.
    pub fn kernel_settings(&self) -> tracer_common::Settings {
        use tracer_common::{details_level, stack_level};
        tracer_common::Settings {
            details: match self.kernel_details {
                KernelDetails::None => details_level::NONE,
                KernelDetails::Registers => details_level::REGISTERS,
                KernelDetails::All => details_level::ALL,
            },
            all_denials: u32::from(self.all_denials),
            stack: match self.stack {
                None => stack_level::NONE,
                Some(StackEvents::Faults) => stack_level::FAULTS,
                Some(StackEvents::All) => stack_level::ALL,
            },
        }
    }
}

fn parse_container_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() {
        return Err("a container name cannot be empty: use -c NAME[,NAME...]".into());
    }
    Ok(name.to_owned())
}

pub(crate) fn parse_byte_size(text: &str) -> Result<usize, String> {
    let bytes = parse_size(text)?;
    usize::try_from(bytes).map_err(|_| format!("{text:?} is too large"))
}

pub(crate) fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text:?} is not a valid duration"))
}

fn parse_ring_buffer_size(text: &str) -> Result<u32, String> {
    let bytes = parse_size(text)?;
    let page = page_size();
    if !bytes.is_power_of_two() || bytes < page {
        return Err(format!(
            "{text:?}: the ring buffer size must be a power of two of at least one page ({page} bytes)"
        ));
    }
    u32::try_from(bytes).map_err(|_| format!("{text:?}: at most 2G"))
}

/// A size in bytes with an optional unit: 4096, 256K, 4M, 1G.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, ""),
    };
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use K, M or G)")),
    };
    let bytes = digits
        .parse::<u64>()
        .map_err(|_| format!("{text:?} is not a size"))?
        .checked_mul(multiplier)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    Ok(bytes)
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_the_main_invocation() {
        let cli = Cli::try_parse_from([
            "tracer",
            "audit",
            "seccomp",
            "--probe",
            "kprobe",
            "-o",
            "json",
            "--timeout",
            "2.5",
            "--host",
            "--ring-buffer-size",
            "4096",
        ])
        .unwrap();
        let Command::Audit(Audit::Seccomp(args)) = cli.command else {
            panic!("not audit seccomp");
        };
        assert_eq!(args.probe, ProbeChoice::Kprobe);
        assert_eq!(args.output, OutputFormat::Json);
        assert_eq!(args.timeout, Some(Duration::from_millis(2500)));
        assert!(args.host);
        assert_eq!(args.ring_buffer_size, 4096);
        assert_eq!(args.runtimes, [Runtime::Docker]);
        assert!(args.containers.names.is_empty());
    }

    #[test]
    fn parses_runtimes_and_container_names() {
        let cli = Cli::try_parse_from([
            "tracer",
            "audit",
            "seccomp",
            "-r",
            "docker",
            "-c",
            "web,db",
            "--docker-socket",
            "/run/d.sock",
        ])
        .unwrap();
        let Command::Audit(Audit::Seccomp(args)) = cli.command else {
            panic!("not audit seccomp");
        };
        assert_eq!(args.containers.names, ["web", "db"]);
        assert_eq!(args.docker_socket, PathBuf::from("/run/d.sock"));
        assert!(args.rules.is_empty(), "no rules unless asked");
        let cli = Cli::try_parse_from([
            "tracer", "audit", "seccomp", "--rules", "a.yaml", "--rules", "b.yaml",
        ])
        .unwrap();
        let Command::Audit(Audit::Seccomp(args)) = cli.command else {
            panic!("not audit seccomp");
        };
        assert_eq!(
            args.rules,
            [PathBuf::from("a.yaml"), PathBuf::from("b.yaml")]
        );
    }

    #[test]
    fn parses_profile_record() {
        let cli = Cli::try_parse_from([
            "tracer",
            "profile",
            "record",
            "-c",
            "web,db",
            "--merge",
            "image",
            "-o",
            "kubernetes",
            "--from-events",
            "e.jsonl",
            "--timeout",
            "3",
        ])
        .unwrap();
        let Command::Profile(ProfileCommand::Record(args)) = cli.command else {
            panic!("not profile record");
        };
        assert_eq!(args.containers.names, ["web", "db"]);
        assert_eq!(args.merge, MergeMode::Image);
        assert_eq!(args.format, ProfileFormat::Kubernetes);
        assert_eq!(args.output_dir, PathBuf::from("."));
        assert_eq!(args.timeout, Some(Duration::from_secs(3)));
        assert_eq!(args.from_events, Some(PathBuf::from("e.jsonl")));
        assert_eq!(
            args.docker_socket,
            PathBuf::from(crate::enrich::docker::DEFAULT_SOCKET)
        );
    }

    #[test]
    fn unknown_runtimes_list_the_supported_ones() {
        let err = Cli::try_parse_from(["tracer", "audit", "seccomp", "-r", "crio"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid value 'crio'"), "{err}");
        assert!(
            err.contains("possible values: auto, docker, containerd, podman"),
            "{err}"
        );
    }

    #[test]
    fn parses_a_list_of_runtimes_and_their_sockets() {
        let cli = Cli::try_parse_from([
            "tracer",
            "audit",
            "seccomp",
            "-r",
            "docker,containerd,podman",
            "--containerd-socket",
            "/run/c.sock",
            "--podman-socket",
            "/run/p.sock",
        ])
        .unwrap();
        let Command::Audit(Audit::Seccomp(args)) = cli.command else {
            panic!("not audit seccomp");
        };
        assert_eq!(
            args.runtimes,
            [Runtime::Docker, Runtime::Containerd, Runtime::Podman]
        );
        assert_eq!(args.containerd_socket, PathBuf::from("/run/c.sock"));
        assert_eq!(args.podman_socket, PathBuf::from("/run/p.sock"));
    }

    #[test]
    fn ring_buffer_sizes_take_units_and_must_be_powers_of_two() {
        assert_eq!(parse_ring_buffer_size("256K"), Ok(256 << 10));
        assert_eq!(parse_ring_buffer_size("4m"), Ok(4 << 20));
        assert!(
            parse_ring_buffer_size("3000")
                .unwrap_err()
                .contains("power of two")
        );
        assert!(
            parse_ring_buffer_size("512")
                .unwrap_err()
                .contains("one page")
        );
        assert!(
            parse_ring_buffer_size("4T")
                .unwrap_err()
                .contains("unknown unit")
        );
    }

    #[test]
    fn an_empty_container_name_is_an_error() {
        for args in [&["-c", ""][..], &["-c", "web,"], &["-c", " "]] {
            let mut all = vec!["tracer", "audit", "seccomp"];
            all.extend_from_slice(args);
            let err = Cli::try_parse_from(all).unwrap_err().to_string();
            assert!(err.contains("cannot be empty"), "{args:?}: {err}");
        }
    }

    #[test]
    fn bad_output_formats_are_explained() {
        let err = Cli::try_parse_from(["tracer", "audit", "seccomp", "-o", "columns=bogus"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field \"bogus\""), "{err}");
    }
}

//! `tracer audit seccomp`: wires a source, the pipeline and its sinks together, runs them until
//! a stop, and prints the summary.

use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use aya::{Ebpf, maps::HashMap};
use tokio::sync::mpsc;
use tracer_common::names;

use crate::{
    cli::SeccompArgs,
    enrich::{
        ContainerIndex, Enricher, Runtimes,
        cgroup_names::CgroupNames,
        runtimes::{self, Sockets},
        whereabouts::Whereabouts,
    },
    error_chain::Chain,
    events::{Decoder, clock::WallClock},
    filter::{
        self, Filter,
        kernel::{DropList, NamespaceChange},
        profile_check::ProfileCheck,
    },
    metrics::{self, Metrics},
    pipeline::{
        Pipeline, Summary,
        correlate::Correlator,
        logged_calls::LoggedCalls,
        run::{self, Stop, StopSignals},
        symbolize::StackStage,
    },
    probe::{self, Hook, ProbeChoice, exits::ExitedTasks, privileges},
    sink::Sinks,
    source,
    volume::Volume,
};

pub async fn run(args: SeccompArgs) -> anyhow::Result<()> {
    let mut signals = StopSignals::install()?;
    // Read first: a typo in the profile's path should not wait for the programs to load.
    let check = args
        .check
        .as_deref()
        .map(ProfileCheck::load)
        .transpose()
        .context("--check")?;
    let rules = super::rules::load_for_run(&args.rules)?;
    // Opened before the programs load, so a bad path or URL fails at once.
    let writers = super::sinks::writers(&args)?;
    let metrics_listener = args
        .daemon
        .metrics_addr
        .map(metrics::server::bind)
        .transpose()?;
    if args.probe != ProbeChoice::Audit {
        privileges::check()?;
    }
    let mut programs =
        probe::load_programs(args.ring_buffer_size, &args.kernel_settings()).map_err(Arc::new);
    match (&mut programs, args.probe) {
        (Ok(ebpf), _) => probe::kernel_log::forward(ebpf),
        (Err(error), ProbeChoice::Fentry | ProbeChoice::Kprobe) => {
            return Err(anyhow::Error::new(Arc::clone(error)));
        }
        (Err(_), _) => {}
    }
    let mut opened = source::open(
        programs.as_mut().map_err(|error| Arc::clone(error)),
        args.probe,
        args.audit_receive_buffer,
    )?;

    let host_mntns = filter::host_mount_namespace();
    let filter = Filter::new(args.host, args.containers.names.clone());
    let index = Arc::new(Mutex::new(match programs.as_mut() {
        Ok(ebpf) if opened.hook != Hook::Audit => {
            let changes = follow_in_kernel_drop_list(ebpf, &filter, host_mntns, args.host)?;
            ContainerIndex::with_listener(Box::new(move |mntns, container| {
                // The drop list's task is gone only once tracer stops.
                let _ = changes.send(NamespaceChange::new(mntns, container));
            }))
        }
        _ => ContainerIndex::default(),
    }));
    let exits = match (programs.as_mut(), opened.hook) {
        (Ok(ebpf), Hook::Audit) => track_exits(ebpf),
        (Err(error), Hook::Audit) => {
            warn_unattributed_exits(&**error);
            None
        }
        _ => None,
    };
    let mut correlator = Correlator::new(opened.hook == Hook::Audit, args.all_denials);
    if args.all_denials {
        let ebpf = programs.as_mut().map_err(|error| {
            anyhow::Error::new(Arc::clone(error))
                .context("--all-denials needs tracer's kernel programs")
        })?;
        probe::denials::attach(ebpf).context("attaching the --all-denials programs")?;
        if opened.hook == Hook::Audit {
            correlator = correlator.with_logged_calls(watch_logged_calls(ebpf));
        }
    }
    if args.stack.is_some() {
        let ebpf = programs.as_mut().map_err(|error| {
            anyhow::Error::new(Arc::clone(error))
                .context("--stack needs tracer's kernel programs, which read the caller's stack")
        })?;
        // The audit record of a trap has no stack; --all-denials' exit program gives one.
        if opened.hook == Hook::Audit && !args.all_denials {
            probe::denials::attach_trap_signal(ebpf)
                .context("attaching the program that reads a trap's stack")?;
            correlator = correlator.with_trap_signals();
        }
    }
    opened.announce();
    let runtimes = start_runtimes(&args, &index);
    let watchers = runtimes.spawn_watchers();

    let node: Arc<str> = nix::unistd::gethostname()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
        .into();
    let sinks = Sinks::start(writers).context("starting the sinks' writer threads")?;
    let mut enricher = Enricher::new(
        index,
        Whereabouts::new(exits),
        Some(Arc::clone(&runtimes)),
        host_mntns,
    );
    let cgroups = match CgroupNames::watch() {
        Some((names, task)) => {
            enricher = enricher.with_cgroup_names(names);
            Some(task)
        }
        None => None,
    };
    let mut pipeline = Pipeline::new(
        Decoder::new(node, WallClock::now()),
        correlator,
        enricher,
        filter,
        sinks,
    );
    if let Some(check) = check {
        pipeline = pipeline.with_check(check);
    }
    let volume = args.volume.options();
    if volume.any() {
        pipeline = pipeline.with_volume(Volume::new(&volume));
    }
    if let Some(rules) = rules {
        pipeline = pipeline.with_rules(rules);
    }
    let metrics_server = match metrics_listener {
        Some(listener) => {
            let shared = Arc::new(Metrics::new(Some(Arc::clone(&runtimes))));
            pipeline = pipeline.with_metrics(Arc::clone(&shared));
            let addr = listener
                .local_addr()
                .context("the metrics socket's address")?;
            let server = metrics::server::serve(listener, shared)
                .context("serving metrics on the runtime")?;
            tracing::info!("serving metrics at http://{addr}/metrics");
            Some(server)
        }
        None => None,
    };
    if args.stack.is_some() {
        let stacks = StackStage::start().context("starting the stack symbolizer's thread")?;
        pipeline = pipeline.with_stacks(stacks);
    }

    // Everything start-up parsed (the kernel's BTF, twice) is freed by now.
    crate::memory::return_freed();
    let stop = run::stream(
        &mut opened.source,
        &mut pipeline,
        &mut signals,
        args.timeout,
    )
    .await?;
    // Detach before the last read, so nothing written after it is left in the buffer.
    drop(programs);
    let mut summary = run::finish(&mut opened.source, pipeline).await?;
    for task in watchers.into_iter().chain(cgroups) {
        task.abort();
    }
    if let Some(server) = metrics_server {
        server.abort();
    }
    summary.runtime_api_calls = runtimes.api_calls();
    report(&summary, stop);
    match &summary.check {
        Some(check) if check.refused + check.undecided > 0 => {
            eprint!("{}", check.report);
            anyhow::bail!(
                "the profile {} would refuse {} of the calls seen ({} undecided)",
                check.profile.display(),
                check.refused + check.undecided,
                check.undecided
            )
        }
        _ => Ok(()),
    }
}

/// The runtimes `-r` names (`auto`: those whose sockets exist now), each following its daemon.
fn start_runtimes(args: &SeccompArgs, index: &Arc<Mutex<ContainerIndex>>) -> Arc<Runtimes> {
    let sockets = Sockets {
        docker: args.docker_socket.clone(),
        containerd: args.containerd_socket.clone(),
        podman: args.podman_socket.clone(),
    };
    let chosen = runtimes::resolve(&args.runtimes, &sockets);
    if args.runtimes.contains(&crate::enrich::Runtime::Auto) {
        match chosen.as_slice() {
            [] => tracing::warn!(
                "-r auto found no runtime's socket ({}, {}, {}): containers are not named; name \
                 the runtime with -r to wait for it",
                sockets.docker.display(),
                sockets.containerd.display(),
                sockets.podman.display()
            ),
            found => {
                let names: Vec<String> = found
                    .iter()
                    .filter_map(clap::ValueEnum::to_possible_value)
                    .map(|value| value.get_name().to_owned())
                    .collect();
                tracing::info!("-r auto: naming containers through {}", names.join(", "));
            }
        }
    }
    Arc::new(Runtimes::new(&chosen, &sockets, index))
}

/// Fills the kernel program's drop list and hands it to a task of its own, which follows the
/// container index's changes sent to the returned channel.
fn follow_in_kernel_drop_list(
    ebpf: &mut Ebpf,
    filter: &Filter,
    host_mntns: Option<u32>,
    show_host: bool,
) -> anyhow::Result<mpsc::UnboundedSender<NamespaceChange>> {
    let map = ebpf
        .take_map(names::MNTNS_DROP_MAP)
        .with_context(|| format!("the kernel programs have no map {}", names::MNTNS_DROP_MAP))?;
    let drop_list = DropList::new(
        HashMap::try_from(map)?,
        filter.clone(),
        host_mntns,
        show_host,
    )
    .context("filling the kernel's namespace drop list")?;
    let (changes, received) = mpsc::unbounded_channel();
    tokio::spawn(drop_list.follow(received));
    Ok(changes)
}

/// The kernel programs' list of calls whose entries to report, for the details of logged calls
/// on the audit source (only there: the eBPF hooks read them as the call is logged).
fn watch_logged_calls(ebpf: &mut Ebpf) -> LoggedCalls {
    let map = ebpf
        .take_map(names::LOGGED_CALLS_MAP)
        .ok_or_else(|| anyhow::anyhow!("the kernel programs have no {}", names::LOGGED_CALLS_MAP))
        .and_then(|map| Ok(HashMap::try_from(map)?));
    match map {
        Ok(map) => LoggedCalls::new(map),
        Err(error) => {
            tracing::warn!("logged calls will have no details: {error:#}");
            LoggedCalls::default()
        }
    }
}

/// The audit source reads records after their process may have exited: the exit tracepoint keeps
/// what attribution needs.
fn track_exits(ebpf: &mut Ebpf) -> Option<ExitedTasks> {
    match ExitedTasks::attach(ebpf) {
        Ok(exits) => Some(exits),
        Err(error) => {
            warn_unattributed_exits(&error);
            None
        }
    }
}

fn warn_unattributed_exits(why: &dyn std::error::Error) {
    tracing::warn!(
        "events of processes that exit before their audit record is read will have no \
         namespace or container: {}",
        Chain(why)
    );
}

/// The counts always reach stderr when anything was lost: a lost event must never go unnoticed.
fn report(summary: &Summary, stop: Stop) {
    let quiet = stop == Stop::ReaderGone && summary.lost == 0 && summary.undecodable == 0;
    if !quiet {
        eprintln!("tracer: {summary}");
    }
}

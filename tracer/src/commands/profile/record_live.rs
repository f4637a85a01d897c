//! `tracer profile record` on a live system: counts every call of every container in the
//! kernel until the stop, then hands each chosen container's calls to the profile writer.

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context as _;
use tokio::{
    task::JoinSet,
    time::{Instant, MissedTickBehavior},
};

use crate::{
    cli::RecordArgs,
    enrich::{ContainerIndex, DockerRuntime, owners::NamespaceOwners},
    events::{Container, clock::WallClock},
    filter,
    output::escape::{Encoding, for_terminal},
    pipeline::run::{StopSignals, sleep_until},
    probe::{
        self, privileges,
        recorder::{NamespaceCalls, SyscallRecorder},
    },
    profile::{RecordedGroup, Recording},
};

/// How often namespaces neither the runtime's reports nor their first call named are looked up
/// again while recording (a first call is missed only when its ring buffer was full).
const LOOKUP_INTERVAL: Duration = Duration::from_millis(200);

/// At stop, how long the last questions to the runtime may take: a stop takes a second at most.
const LAST_LOOKUPS: Duration = Duration::from_millis(500);
/// Questions remembered, so each is asked once; beyond it they start over.
const REMEMBERED_QUESTIONS: usize = 65536;

/// The recorder needs no event buffer; the smallest the kernel takes.
const RING_BUFFER_BYTES: u32 = 4096;

pub async fn run(args: &RecordArgs) -> anyhow::Result<Vec<RecordedGroup>> {
    let mut signals = StopSignals::install()?;
    privileges::check()?;
    let mut ebpf = probe::load_programs(RING_BUFFER_BYTES, &tracer_common::Settings::DEFAULT)
        .context("recording needs tracer's kernel programs")?;
    let owners = NamespaceOwners::default();
    let index = Arc::new(Mutex::new(ContainerIndex::with_listener(owners.listener())));
    let docker = DockerRuntime::new(args.docker_socket.clone(), Arc::clone(&index));
    let watcher = docker.spawn_watcher();
    let mut recorder = SyscallRecorder::attach(&mut ebpf, filter::host_mount_namespace())
        .context("attaching the system call counter")?;
    // The same words as `audit seccomp`'s, for scripts that wait for them.
    tracing::info!("attached recorder on raw_syscalls:sys_enter");
    tracing::info!(
        "recording the system calls of {}; stop with Ctrl-C{}",
        match args.containers.names.as_slice() {
            [] => "every container".to_owned(),
            names => for_terminal(&names.join(", "), Encoding::Plain).into_owned(),
        },
        match args.timeout {
            Some(timeout) => format!(" or wait {} s", timeout.as_secs_f64()),
            None => String::new(),
        }
    );

    let deadline = args.timeout.map(|t| Instant::now() + t);
    let mut lookups = tokio::time::interval(LOOKUP_INTERVAL);
    lookups.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut naming = Naming::new(owners.clone(), Arc::clone(&index), Arc::clone(&docker));
    loop {
        tokio::select! {
            biased;
            () = signals.received() => break,
            () = sleep_until(deadline) => break,
            first = recorder.first_calls() => {
                for (mntns, pid) in first.context("reading the recorder's first calls")? {
                    naming.ask(mntns, pid);
                }
            }
            _ = lookups.tick() => {
                for (mntns, pid) in recorder.callers() {
                    naming.ask(mntns, pid);
                }
            }
        }
    }
    for (mntns, pid) in recorder.callers() {
        naming.ask(mntns, pid);
    }
    naming.settle(LAST_LOOKUPS).await;
    let recorded = recorder.read().context("reading the recorded calls")?;
    let lost = recorder
        .lost()
        .context("reading the recorder's lost count")?;
    drop(ebpf);
    watcher.abort();

    let clock = WallClock::now();
    let by_container = group_by_container(&recorded, &owners);
    let unnamed = recorded
        .iter()
        .map(|ns| ns.mntns)
        .filter(|&ns| !owners.knows(ns))
        .collect::<HashSet<_>>()
        .len();
    if unnamed > 0 {
        tracing::info!(
            "{unnamed} mount namespaces outside the host's belong to no container the runtime \
             named (processes of other runtimes, or services with a namespace of their own); \
             their calls are left out"
        );
    }
    if lost > 0 {
        tracing::warn!(
            "{lost} calls were not counted: the kernel's table of namespaces was full \
             ({} entries); record fewer containers at a time",
            tracer_common::recorder::CAPACITY
        );
    }
    let mut groups = Vec::new();
    for (container, namespaces) in by_container {
        if !args.containers.names.is_empty() && !args.containers.names.contains(&container.name) {
            continue;
        }
        groups.push(RecordedGroup {
            name: container.name.clone(),
            container_id: Some(container.id.clone()),
            image: Some(container.image.clone()),
            recording: recording_of(&container, &namespaces, clock),
        });
    }
    for wanted in &args.containers.names {
        if !groups.iter().any(|group| &group.name == wanted) {
            tracing::warn!(
                "container {} made no call while recording (or never ran): no profile for it",
                plain(wanted)
            );
        }
    }
    Ok(groups)
}

/// Asks in the background which container owns a namespace no runtime report covered yet, from
/// a process seen calling in it: a frozen dockerd must hold up neither the recording nor its
/// stop.
struct Naming {
    owners: NamespaceOwners,
    index: Arc<Mutex<ContainerIndex>>,
    docker: Arc<DockerRuntime>,
    /// (namespace, container id) pairs the runtime was asked about already.
    asked: HashSet<(u32, String)>,
    tasks: JoinSet<()>,
}

impl Naming {
    fn new(
        owners: NamespaceOwners,
        index: Arc<Mutex<ContainerIndex>>,
        docker: Arc<DockerRuntime>,
    ) -> Self {
        Self {
            owners,
            index,
            docker,
            asked: HashSet::new(),
            tasks: JoinSet::new(),
        }
    }

    fn ask(&mut self, mntns: u32, pid: u32) {
        if self.owners.knows(mntns) {
            return;
        }
        // /proc is read again on every look until it names a container: the first process
        // seen in a namespace may not have joined its container's cgroup yet, and the runtime
        // is asked about each container only once per namespace.
        let Some(id) = NamespaceOwners::container_of_process(pid) else {
            return;
        };
        if self.asked.len() >= REMEMBERED_QUESTIONS {
            self.asked.clear();
        }
        if !self.asked.insert((mntns, id.clone())) {
            return;
        }
        let (owners, index, docker) = (
            self.owners.clone(),
            Arc::clone(&self.index),
            Arc::clone(&self.docker),
        );
        self.tasks.spawn(async move {
            owners.learn(mntns, &id, &index, &docker).await;
        });
    }

    /// Waits for the questions still open, until `patience` runs out.
    async fn settle(&mut self, patience: Duration) {
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(patience, all).await.is_err() {
            tracing::warn!(
                "the runtime did not answer within {patience:?}: containers it had not named \
                 by then are left out"
            );
        }
        self.tasks.abort_all();
    }
}

/// Each container's namespaces' calls, by container id.
fn group_by_container<'a>(
    recorded: &'a [NamespaceCalls],
    owners: &NamespaceOwners,
) -> Vec<(Arc<Container>, Vec<&'a NamespaceCalls>)> {
    let mut by_id: BTreeMap<String, (Arc<Container>, Vec<&NamespaceCalls>)> = BTreeMap::new();
    for calls in recorded {
        // A namespace number two containers held in turn gives both of them its calls: a
        // profile may then allow a call it need not, but never misses one.
        for container in owners.of(calls.mntns) {
            by_id
                .entry(container.id.clone())
                .or_insert_with(|| (Arc::clone(&container), Vec::new()))
                .1
                .push(calls);
        }
    }
    by_id.into_values().collect()
}

/// A container's calls. Where some were made under a seccomp filter, only those count: the
/// runtime installs its filter right before starting the container's program, so calls made
/// without one are the runtime's own set-up (mounts, pivot_root), which the profile must not
/// allow. A container that ran unconfined has only those: all its calls count then.
fn recording_of(
    container: &Container,
    namespaces: &[&NamespaceCalls],
    clock: WallClock,
) -> Recording {
    let confined = namespaces.iter().any(|ns| ns.confined);
    if !confined {
        tracing::warn!(
            "container {} ran without a seccomp filter (seccomp=unconfined): its profile also \
             allows the runtime's set-up calls; record it under a profile that logs \
             (`tracer profile audit-mode`) for a tighter one",
            plain(&container.name)
        );
    }
    let mut recording = Recording::default();
    for ns in namespaces.iter().filter(|ns| ns.confined == confined) {
        if ns.beyond_table > 0 {
            tracing::warn!(
                "container {}: {} calls had numbers beyond every system call table and are \
                 left out",
                plain(&container.name),
                ns.beyond_table
            );
        }
        for &(nr, count, first_seen) in &ns.calls {
            match ns.arch.syscall_name(nr) {
                Some(name) => {
                    recording.add(ns.arch, name, count, Some(clock.to_wall(first_seen)));
                }
                None => tracing::warn!(
                    "container {}: call {nr} in arch {} has no name tracer knows; a profile \
                     allows calls by name, so it is left out",
                    plain(&container.name),
                    ns.arch
                ),
            }
        }
    }
    recording
}

fn plain(text: &str) -> std::borrow::Cow<'_, str> {
    for_terminal(text, Encoding::Plain)
}

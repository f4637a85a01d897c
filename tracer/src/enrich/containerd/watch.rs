//! Follows containerd: subscribes to its events, lists every namespace's containers and running
//! tasks, then applies the events; reconnects when containerd goes away, with one warning per
//! outage.

use std::{collections::HashMap, sync::Arc, time::Duration};

use containerd_client::{
    events::{ContainerCreate, ContainerDelete, ContainerUpdate, TaskDelete, TaskExit, TaskStart},
    services::v1::{
        ListContainersRequest, ListTasksRequest, SubscribeRequest,
        containers_client::ContainersClient, events_client::EventsClient,
        tasks_client::TasksClient,
    },
    tonic::{self, transport::Channel},
    types::Envelope,
};
use prost::Message as _;
use tokio::time::{Instant, MissedTickBehavior};

use super::{ContainerdRuntime, convert, in_namespace};

/// Between attempts to reach containerd while it is down.
const RETRY: Duration = Duration::from_secs(1);
/// How often containers dead for longer than the retention period are forgotten.
const EXPIRY: Duration = Duration::from_secs(10);
/// The listing at (re)connection gives up after this long (containerd frozen), and is tried again.
const LISTING_TIMEOUT: Duration = Duration::from_secs(30);
/// The events that change what is known of a container; containerd sends only these.
const TOPICS: [&str; 6] = [
    "/containers/create",
    "/containers/update",
    "/containers/delete",
    "/tasks/start",
    "/tasks/exit",
    "/tasks/delete",
];

/// Why following containerd stopped.
#[derive(Debug, thiserror::Error)]
enum Stopped {
    #[error("cannot connect")]
    Connect(#[from] tonic::transport::Error),
    #[error("its API answered with an error")]
    Api(#[from] tonic::Status),
    #[error("listing its containers took longer than {LISTING_TIMEOUT:?}")]
    ListingTimedOut,
    #[error("the subscription to its events ended without an answer")]
    SubscriptionLost,
}

pub async fn run(containerd: Arc<ContainerdRuntime>) {
    let mut outage_reported = false;
    loop {
        match follow(&containerd, &mut outage_reported).await {
            Ok(()) => tracing::debug!("containerd closed its event stream"),
            Err(error) if !outage_reported => {
                tracing::warn!(
                    "containerd is not reachable at {}: {}; events are shown without the names of \
                     its containers until it is back",
                    containerd.socket.display(),
                    error_chain(&error)
                );
                outage_reported = true;
            }
            Err(error) => tracing::debug!("containerd still unreachable: {}", error_chain(&error)),
        }
        containerd.set_channel(None);
        tokio::time::sleep(RETRY).await;
    }
}

/// The error and its sources, as one line (tonic's own message is often just "transport error").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn follow(containerd: &ContainerdRuntime, outage_reported: &mut bool) -> Result<(), Stopped> {
    let channel = containerd.connect().await?;
    // Subscribed before listing, so nothing that happens while the list is read is missed. The
    // subscription's answer comes with containerd's first event, which may be long in coming:
    // it is awaited beside the events, not before the listing.
    containerd.count_call();
    let filters = TOPICS
        .iter()
        .map(|topic| format!("topic=={topic:?}"))
        .collect();
    let mut client = EventsClient::new(channel.clone());
    let mut subscription =
        tokio::spawn(async move { client.subscribe(SubscribeRequest { filters }).await });
    let _abort_unanswered = AbortOnDrop(subscription.abort_handle());
    tokio::time::timeout(LISTING_TIMEOUT, list_everything(containerd, &channel))
        .await
        .map_err(|_| Stopped::ListingTimedOut)??;
    containerd.set_channel(Some(channel.clone()));
    if *outage_reported {
        tracing::info!(
            "containerd is reachable again at {}; naming its containers",
            containerd.socket.display()
        );
        *outage_reported = false;
    }
    tracing::debug!(
        "following containerd: {} containers known",
        containerd.index().len()
    );

    let mut expiry = tokio::time::interval(EXPIRY);
    expiry.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut events = None;
    loop {
        tokio::select! {
            answered = &mut subscription, if events.is_none() => {
                let answered = answered.map_err(|_| Stopped::SubscriptionLost)?;
                events = Some(answered?.into_inner());
            }
            event = next_event(&mut events), if events.is_some() => match event? {
                Some(envelope) => apply(containerd, &channel, envelope).await,
                None => return Ok(()),
            },
            _ = expiry.tick() => containerd.index().expire(Instant::now().into_std()),
        }
    }
}

async fn next_event(
    events: &mut Option<tonic::Streaming<Envelope>>,
) -> Result<Option<Envelope>, tonic::Status> {
    match events {
        Some(events) => events.message().await,
        None => std::future::pending().await,
    }
}

/// Ends the subscription's task when following stops before containerd answered it.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Records every container of every namespace (but Docker's, where Docker is asked), with the
/// pid of its running task: two requests per namespace, whatever the number of containers.
async fn list_everything(containerd: &ContainerdRuntime, channel: &Channel) -> Result<(), Stopped> {
    for namespace in containerd.list_namespaces(channel).await? {
        containerd.count_call();
        let tasks = TasksClient::new(channel.clone())
            .list(in_namespace(
                ListTasksRequest {
                    filter: String::new(),
                },
                &namespace,
            ))
            .await?
            .into_inner()
            .tasks;
        let pids: HashMap<String, u32> = tasks
            .iter()
            .filter_map(|task| Some((task.container_id.clone(), convert::running_pid(task)?)))
            .collect();
        containerd.count_call();
        let containers = ContainersClient::new(channel.clone())
            .list(in_namespace(
                ListContainersRequest {
                    filters: Vec::new(),
                },
                &namespace,
            ))
            .await?
            .into_inner()
            .containers;
        for container in containers {
            let pid = pids.get(&container.id).copied();
            containerd.record(convert::container(container), pid);
        }
    }
    Ok(())
}

async fn apply(containerd: &ContainerdRuntime, channel: &Channel, envelope: Envelope) {
    let namespace = envelope.namespace;
    if containerd.is_left_to_docker(&namespace) {
        return;
    }
    let Some(payload) = envelope.event else {
        return;
    };
    let payload = payload.value.as_slice();
    containerd.note_namespace(&namespace);
    let now = || Instant::now().into_std();
    match envelope.topic.as_str() {
        // At creation the container's labels are known before any process runs.
        "/containers/create" => {
            if let Ok(created) = ContainerCreate::decode(payload) {
                learn_new(containerd, channel, &namespace, &created.id).await;
            }
        }
        "/containers/update" => {
            if let Ok(updated) = ContainerUpdate::decode(payload) {
                let _turn = containerd.turns.take(&updated.id).await;
                learn(containerd, channel, &namespace, &updated.id).await;
            }
        }
        // At start, the namespace: from the pid the event gives, with no request for a
        // container already known.
        "/tasks/start" => {
            if let Ok(started) = TaskStart::decode(payload) {
                started_task(containerd, channel, &namespace, &started).await;
            }
        }
        // An exec'd process's exit is not the container's.
        "/tasks/exit" => {
            if let Ok(exit) = TaskExit::decode(payload)
                && (exit.id == exit.container_id || exit.id.is_empty())
            {
                containerd.mark_dead(&exit.container_id, now());
            }
        }
        "/tasks/delete" => {
            if let Ok(deleted) = TaskDelete::decode(payload)
                && (deleted.id == deleted.container_id || deleted.id.is_empty())
            {
                containerd.mark_dead(&deleted.container_id, now());
            }
        }
        "/containers/delete" => {
            if let Ok(deleted) = ContainerDelete::decode(payload) {
                containerd.mark_dead(&deleted.id, now());
            }
        }
        _ => {}
    }
}

/// Asks about a container unless a lookup, for one of its events, already did.
async fn learn_new(containerd: &ContainerdRuntime, channel: &Channel, namespace: &str, id: &str) {
    let _turn = containerd.turns.take(id).await;
    if !containerd.knows(id) {
        learn(containerd, channel, namespace, id).await;
    }
}

async fn learn(containerd: &ContainerdRuntime, channel: &Channel, namespace: &str, id: &str) {
    if let Err(status) = containerd.learn_in(channel, namespace, id).await {
        tracing::debug!("asking containerd about container {id}: {status}");
    }
}

async fn started_task(
    containerd: &ContainerdRuntime,
    channel: &Channel,
    namespace: &str,
    started: &TaskStart,
) {
    let mntns = super::procfs::mount_namespace(started.pid);
    let known = containerd.index().by_id(&started.container_id);
    match (known, mntns) {
        (Some(known), Some(mntns)) if known.runtime == convert::RUNTIME => {
            containerd
                .index()
                .attach_namespace(&started.container_id, mntns);
        }
        // Another runtime's container (Docker's, through a containerd it shares).
        (Some(_), _) => {}
        // Killed before its namespace could be read: the container is named from its id
        // (cgroup or shim) when its events come.
        (None, _) => learn_new(containerd, channel, namespace, &started.container_id).await,
    }
}

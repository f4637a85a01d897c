//! Follows dockerd: lists running containers, then applies its event stream; reconnects when
//! dockerd goes away, with one warning per outage.

use std::{collections::HashMap, sync::Arc, time::Duration};

use bollard::{
    models::{EventMessage, EventMessageTypeEnum},
    query_parameters::{EventsOptions, ListContainersOptions},
};
use futures_util::StreamExt as _;
use tokio::time::{Instant, MissedTickBehavior};

use super::DockerRuntime;

/// Between attempts to reach dockerd while it is down.
const RETRY: Duration = Duration::from_secs(1);
/// How often containers dead for longer than the retention period are forgotten.
const EXPIRY: Duration = Duration::from_secs(10);

pub async fn run(docker: Arc<DockerRuntime>) {
    let mut outage_reported = false;
    loop {
        match follow(&docker, &mut outage_reported).await {
            Ok(()) => tracing::debug!("{} closed its event stream", docker.flavor.daemon),
            Err(error) if !outage_reported => {
                tracing::warn!(
                    "{} is not reachable at {}: {error}; events are shown without the names of \
                     its containers until it is back",
                    docker.flavor.daemon,
                    docker.socket.display()
                );
                outage_reported = true;
            }
            Err(error) => tracing::debug!("{} still unreachable: {error}", docker.flavor.daemon),
        }
        docker.set_client(None);
        tokio::time::sleep(RETRY).await;
    }
}

async fn follow(
    docker: &DockerRuntime,
    outage_reported: &mut bool,
) -> Result<(), bollard::errors::Error> {
    let client = docker.connect().await?;

    // Events from this second on are replayed, so nothing that happens while the list is read
    // is missed.
    let since = chrono::Utc::now().timestamp().to_string();
    let filters = HashMap::from([("type".to_string(), vec!["container".to_string()])]);
    let mut events = client.events(Some(EventsOptions {
        since: Some(since),
        until: None,
        filters: Some(filters),
    }));
    if docker.keeps_vfs_layers() {
        docker.learn_data_root(&client).await;
    }
    docker.count_call();
    let running = client
        .list_containers(Some(ListContainersOptions::default()))
        .await?;
    docker.set_client(Some(client));
    for summary in running {
        if let Some(id) = summary.id {
            docker.learn(&id).await;
        }
    }
    if *outage_reported {
        tracing::info!(
            "{} is reachable again at {}; naming containers",
            docker.flavor.daemon,
            docker.socket.display()
        );
        *outage_reported = false;
    }
    tracing::debug!(
        "following {}: {} containers known",
        docker.flavor.daemon,
        docker.index().len()
    );

    let mut expiry = tokio::time::interval(EXPIRY);
    expiry.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(event) => apply(docker, event?).await,
                None => return Ok(()),
            },
            _ = expiry.tick() => docker.index().expire(Instant::now().into_std()),
        }
    }
}

async fn apply(docker: &DockerRuntime, event: EventMessage) {
    if event.typ != Some(EventMessageTypeEnum::CONTAINER) {
        return;
    }
    let (Some(action), Some(actor)) = (event.action, event.actor) else {
        return;
    };
    let Some(id) = actor.id else {
        return;
    };
    match action.as_str() {
        // At create the name is known before any process runs; at start, the namespace.
        "create" | "start" => {
            docker.learn(&id).await;
        }
        "rename" => {
            if let Some(name) = actor.attributes.as_ref().and_then(|a| a.get("name")) {
                docker.index().rename(&id, name);
            }
        }
        "die" | "destroy" => docker.index().mark_dead(&id, Instant::now().into_std()),
        _ => {}
    }
}

//! One question about a container at a time. An event's lookup and the runtime's own event
//! about a new container come together (the container's first call is made as it starts): the
//! second asker waits for the first's answer and finds the container in the index, instead of
//! asking the runtime the same thing again.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// The containers being asked about, each with the lock its askers queue on.
#[derive(Default)]
pub struct Turns {
    queues: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

/// The right to ask about one container, until dropped.
pub struct Turn<'a> {
    turns: &'a Turns,
    id: String,
    held: Option<OwnedMutexGuard<()>>,
}

impl Turns {
    /// Waits until nobody else is asking about container `id`.
    pub async fn take(&self, id: &str) -> Turn<'_> {
        let queue = Arc::clone(self.lock().entry(id.to_owned()).or_default());
        Turn {
            turns: self,
            id: id.to_owned(),
            held: Some(queue.lock_owned().await),
        }
    }

    /// Containers someone is asking about, or waiting to.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<AsyncMutex<()>>>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut queues = self.turns.lock();
        let Some(held) = self.held.take() else {
            return;
        };
        // The map's reference and this one: nobody waits (a waiter clones under the map's lock,
        // which is held here), so the container's queue can go.
        if Arc::strong_count(OwnedMutexGuard::mutex(&held)) == 2 {
            queues.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_second_asker_waits_for_the_first_and_nothing_is_kept_after() {
        let turns = Arc::new(Turns::default());
        let first = turns.take("a").await;
        let waiter = {
            let turns = Arc::clone(&turns);
            tokio::spawn(async move {
                let _turn = turns.take("a").await;
            })
        };
        // Another container's asker does not wait.
        drop(turns.take("b").await);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "the second asker went ahead");
        drop(first);
        waiter.await.unwrap();
        assert_eq!(
            turns.len(),
            0,
            "queues are kept for containers nobody asks about"
        );
    }
}

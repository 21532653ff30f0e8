//! Single flight: of the concurrent requests for one key (a blob's digest, a manifest's repository and
//! reference), the first leads (fetches from the upstream) and the others wait until it has finished,
//! successfully or not, then look in storage again. The leader's [`Guard`] ends the flight when it is
//! dropped, wherever that happens (a fetch task outliving its request included).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// The flights in progress, by key.
#[derive(Default)]
pub struct Flights {
    running: Mutex<HashMap<String, watch::Receiver<()>>>,
}

/// What a request does about a key.
pub enum Turn {
    /// It leads the flight; dropping the guard ends it.
    Lead(Guard),
    /// Another request leads; wait for it.
    Wait(Done),
}

/// The leader's hold on a flight.
pub struct Guard {
    flights: Arc<Flights>,
    key: String,
    /// Dropped after the key is removed: waiters wake to a map without it.
    _done: watch::Sender<()>,
}

/// A waiter's view of a flight.
pub struct Done(watch::Receiver<()>);

impl Flights {
    /// Joins the flight for `key`, or starts it.
    pub fn take_turn(self: &Arc<Self>, key: &str) -> Turn {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rx) = running.get(key) {
            return Turn::Wait(Done(rx.clone()));
        }
        let (tx, rx) = watch::channel(());
        running.insert(key.to_string(), rx);
        Turn::Lead(Guard {
            flights: self.clone(),
            key: key.to_string(),
            _done: tx,
        })
    }

    /// How many flights are in progress.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.running.lock().unwrap().len()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut running = self
            .flights
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        running.remove(&self.key);
    }
}

impl Done {
    /// Waits until the leader has finished.
    pub async fn wait(mut self) {
        // The sender never sends: `changed` returns when it is dropped.
        while self.0.changed().await.is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first request for a key leads, later ones wait until the leader is done, and the next
    /// request after that leads again; other keys are independent.
    #[tokio::test]
    async fn one_leader_per_key() {
        let flights = Arc::new(Flights::default());
        let Turn::Lead(guard) = flights.take_turn("a") else {
            panic!("first request leads")
        };
        let Turn::Wait(done) = flights.take_turn("a") else {
            panic!("second request waits")
        };
        assert!(matches!(flights.take_turn("b"), Turn::Lead(_)));
        let waiter = tokio::spawn(done.wait());
        drop(guard);
        waiter.await.unwrap();
        assert_eq!(flights.len(), 0);
        assert!(matches!(flights.take_turn("a"), Turn::Lead(_)));
    }
}

//! Notifications: registry:2's webhooks (`notifications.endpoints`). After a successful push, pull,
//! mount or delete, the [`layer`] builds an event in distribution's envelope ([`event`]) and hands
//! it to the [`Notifier`], which offers it to every enabled endpoint that does not ignore it. Each
//! endpoint has its own bounded queue and sender task ([`delivery`]), so a slow or dead endpoint
//! delays only its own events: [`Notifier::emit`] never waits for the network, and a full queue drops
//! the new event and counts it (`wharf_notifications_dropped_total`).
//!
//! Events live in memory only; those still queued when the server stops are lost, as with
//! registry:2. `notifications.events.includereferences` is not implemented.

mod delivery;
pub mod event;
pub mod layer;

use std::sync::Arc;

use tokio::task::JoinSet;

use super::metrics::Metrics;
use crate::api::UrlBuilder;
use crate::config::notifications::NotificationsConfig;
use event::{Event, SourceRecord};

/// How many events wait for one endpoint before new ones are dropped.
pub const QUEUE_CAPACITY: usize = 10_000;

/// Hands events to the endpoints' queues.
pub struct Notifier {
    queues: Vec<delivery::Queue>,
    urls: UrlBuilder,
    source: SourceRecord,
}

impl Notifier {
    /// Starts a sender task on `tasks` for every endpoint that is not disabled. `None` when there is
    /// none, so no layer is needed. `http_addr` gives the port reported as the events' source.
    pub fn start(
        config: &NotificationsConfig,
        http_addr: &str,
        urls: UrlBuilder,
        metrics: &Metrics,
        tasks: &mut JoinSet<()>,
    ) -> std::io::Result<Option<Arc<Notifier>>> {
        let mut queues = Vec::new();
        for (i, endpoint) in config.endpoints.iter().enumerate() {
            if endpoint.disabled {
                continue;
            }
            let name = if endpoint.name.is_empty() {
                format!("endpoints[{i}]")
            } else {
                endpoint.name.clone()
            };
            let counters = metrics.notification_counters(&name);
            let (queue, sender, receiver) =
                delivery::endpoint(&name, endpoint, counters, QUEUE_CAPACITY).map_err(|e| {
                    std::io::Error::other(format!("notifications.endpoints[{i}]: {e}"))
                })?;
            tracing::info!(endpoint = %name, "sending notifications");
            tasks.spawn(sender.run(receiver));
            queues.push(queue);
        }
        if queues.is_empty() {
            return Ok(None);
        }
        Ok(Some(Arc::new(Notifier {
            queues,
            urls,
            source: SourceRecord::new(http_addr),
        })))
    }

    /// Queues `event` for every endpoint that wants it, without waiting.
    pub fn emit(&self, event: Event) {
        let event = Arc::new(event);
        for queue in &self.queues {
            queue.offer(&event);
        }
    }
}

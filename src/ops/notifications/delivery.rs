//! Delivery to one endpoint: a bounded queue that [`Queue::offer`] fills without ever waiting, and a
//! sender task that `POST`s the events one at a time, in order. A failed event is retried until the
//! endpoint takes it, as distribution does: right away for the first `threshold` failures in a row,
//! then every `backoff`. Events that find the queue full are dropped and counted.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc::{self, error::TrySendError};

use super::event::{Envelope, Event, EVENTS_MEDIA_TYPE};
use crate::config::notifications::EndpointConfig;
use crate::ops::metrics::NotificationCounters;

/// distribution's defaults for a zero `timeout`, `threshold` or `backoff`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
const DEFAULT_THRESHOLD: u32 = 10;
const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);

/// Which events an endpoint does not want (`ignoredmediatypes`, `ignore.mediatypes`,
/// `ignore.actions`).
#[derive(Debug, Clone, Default)]
pub(super) struct Filter {
    media_types: Vec<String>,
    actions: Vec<String>,
}

impl Filter {
    fn of(config: &EndpointConfig) -> Filter {
        let media_types = config
            .ignoredmediatypes
            .iter()
            .chain(&config.ignore.mediatypes)
            .cloned()
            .collect();
        Filter {
            media_types,
            actions: config.ignore.actions.clone(),
        }
    }

    /// Whether `event` is not to be sent.
    fn ignores(&self, event: &Event) -> bool {
        self.actions.iter().any(|a| a == event.action.as_str())
            || event
                .target
                .media_type
                .as_ref()
                .is_some_and(|m| self.media_types.contains(m))
    }
}

/// The emitting side of an endpoint.
pub(super) struct Queue {
    name: String,
    filter: Filter,
    sender: mpsc::Sender<Arc<Event>>,
    dropped: Counter,
}

impl Queue {
    /// Queues `event` unless the endpoint ignores it; when the queue is full the event is dropped.
    pub(super) fn offer(&self, event: &Arc<Event>) {
        if self.filter.ignores(event) {
            return;
        }
        match self.sender.try_send(event.clone()) {
            Ok(()) | Err(TrySendError::Closed(_)) => {}
            Err(TrySendError::Full(_)) => {
                // Logged on the first drop and every thousandth after, not once per event.
                if self.dropped.inc() % 1000 == 0 {
                    tracing::warn!(
                        endpoint = %self.name,
                        dropped = self.dropped.get(),
                        "notification queue full: events are being dropped"
                    );
                }
            }
        }
    }
}

/// The sending side of an endpoint.
pub(super) struct Sender {
    name: String,
    url: String,
    client: reqwest::Client,
    threshold: u32,
    backoff: Duration,
    counters: NotificationCounters,
}

/// The queue and sender of an endpoint whose queue holds `capacity` events, or why its HTTP client
/// cannot be built.
pub(super) fn endpoint(
    name: &str,
    config: &EndpointConfig,
    counters: NotificationCounters,
    capacity: usize,
) -> Result<(Queue, Sender, mpsc::Receiver<Arc<Event>>), String> {
    let mut headers = HeaderMap::new();
    for (key, values) in &config.headers {
        let key = HeaderName::from_bytes(key.as_bytes()).map_err(|e| e.to_string())?;
        for value in values {
            let value = HeaderValue::from_str(value).map_err(|e| e.to_string())?;
            headers.append(key.clone(), value);
        }
    }
    let or = |d: Duration, default| if d.is_zero() { default } else { d };
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .timeout(or(config.timeout.get(), DEFAULT_TIMEOUT))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let (sender, receiver) = mpsc::channel(capacity);
    let queue = Queue {
        name: name.to_string(),
        filter: Filter::of(config),
        sender,
        dropped: counters.dropped.clone(),
    };
    let threshold = match config.threshold {
        0 => DEFAULT_THRESHOLD,
        n => n,
    };
    let delivery = Sender {
        name: name.to_string(),
        url: config.url.clone(),
        client,
        threshold,
        backoff: or(config.backoff.get(), DEFAULT_BACKOFF),
        counters,
    };
    Ok((queue, delivery, receiver))
}

impl Sender {
    /// Sends queued events until the queue closes.
    pub(super) async fn run(self, mut queue: mpsc::Receiver<Arc<Event>>) {
        while let Some(event) = queue.recv().await {
            let envelope = Envelope {
                events: std::slice::from_ref(&*event),
            };
            match serde_json::to_vec(&envelope) {
                Ok(body) => self.deliver(Bytes::from(body)).await,
                Err(e) => tracing::error!(endpoint = %self.name, error = %e, "cannot encode event"),
            }
        }
    }

    /// Posts `body` until the endpoint accepts it.
    async fn deliver(&self, body: Bytes) {
        let mut failures: u32 = 0;
        loop {
            match self.post(body.clone()).await {
                Ok(()) => {
                    self.counters.sent.inc();
                    if failures >= self.threshold {
                        tracing::info!(endpoint = %self.name, failures, "notification endpoint recovered");
                    }
                    return;
                }
                Err(error) => {
                    self.counters.failed.inc();
                    failures = failures.saturating_add(1);
                    if failures == self.threshold {
                        tracing::warn!(
                            endpoint = %self.name,
                            %error,
                            retry_every = %humantime::format_duration(self.backoff),
                            "notification endpoint failing; events wait in its queue"
                        );
                    } else {
                        tracing::debug!(endpoint = %self.name, %error, "notification not delivered");
                    }
                    if failures >= self.threshold {
                        tokio::time::sleep(self.backoff).await;
                    }
                }
            }
        }
    }

    /// One attempt; 2xx and 3xx answers are success, as in distribution.
    async fn post(&self, body: Bytes) -> Result<(), String> {
        let response = self
            .client
            .post(&self.url)
            .header(header::CONTENT_TYPE, EVENTS_MEDIA_TYPE)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("{e:#}"))?;
        let status = response.status();
        if status.is_success() || status.is_redirection() {
            Ok(())
        } else {
            Err(format!("endpoint answered {status}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::event::{Action, Target};
    use super::*;
    use crate::config::notifications::IgnoreConfig;

    fn event(action: Action, media_type: Option<&str>) -> Arc<Event> {
        Arc::new(Event {
            id: String::new(),
            timestamp: String::new(),
            action,
            target: Target {
                media_type: media_type.map(String::from),
                ..Target::default()
            },
            request: Default::default(),
            actor: Default::default(),
            source: Default::default(),
        })
    }

    /// `ignoredmediatypes` and `ignore.mediatypes` both filter by media type; `ignore.actions` by
    /// action; events without a media type pass media type filters.
    #[test]
    fn filter_table() {
        let config = EndpointConfig {
            ignoredmediatypes: vec!["application/octet-stream".into()],
            ignore: IgnoreConfig {
                mediatypes: vec!["application/vnd.oci.image.index.v1+json".into()],
                actions: vec!["pull".into()],
            },
            ..EndpointConfig::default()
        };
        let filter = Filter::of(&config);
        let cases = [
            (Action::Push, Some("application/octet-stream"), true),
            (
                Action::Push,
                Some("application/vnd.oci.image.index.v1+json"),
                true,
            ),
            (
                Action::Push,
                Some("application/vnd.oci.image.manifest.v1+json"),
                false,
            ),
            (
                Action::Pull,
                Some("application/vnd.oci.image.manifest.v1+json"),
                true,
            ),
            (Action::Delete, None, false),
            (Action::Mount, Some("application/octet-stream"), true),
        ];
        for (action, media_type, want) in cases {
            assert_eq!(
                filter.ignores(&event(action, media_type)),
                want,
                "{action:?} {media_type:?}"
            );
        }
    }

    /// A full queue drops new events without waiting, counting each.
    #[test]
    fn full_queue_drops_and_counts() {
        let counters = NotificationCounters::default();
        let config = EndpointConfig {
            url: "http://127.0.0.1:9/".into(),
            ..EndpointConfig::default()
        };
        let (queue, _sender, mut receiver) =
            endpoint("hook", &config, counters.clone(), 2).unwrap();
        for _ in 0..5 {
            queue.offer(&event(Action::Push, None));
        }
        assert_eq!(counters.dropped.get(), 3);
        assert!(receiver.try_recv().is_ok());
        assert!(receiver.try_recv().is_ok());
        assert!(receiver.try_recv().is_err());
    }
}

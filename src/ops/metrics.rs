//! Prometheus metrics of one server: HTTP requests by route kind, method and status, latency, bytes in
//! and out, uploads in flight, garbage collection, upload purging, authentication failures,
//! notification deliveries and blob bytes sent with `sendfile`. Served in the OpenMetrics text format on the debug server.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::api::endpoint::Endpoint;
use crate::api::events::{QuotaRefused, RetentionApplied};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RepositoryLabels {
    repository: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
}

/// The counters of one notification endpoint, kept by its queue and sender.
#[derive(Clone, Debug, Default)]
pub struct NotificationCounters {
    /// Events the endpoint accepted.
    pub sent: Counter,
    /// Delivery attempts that failed (each is retried).
    pub failed: Counter,
    /// Events dropped because the endpoint's queue was full.
    pub dropped: Counter,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms to about 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Every metric of a server, and the registry that exposes them.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    received: Family<RouteLabels, Counter>,
    sent: Family<RouteLabels, Counter>,
    uploads_in_flight: Gauge,
    gc_runs: Family<ResultLabels, Counter>,
    gc_freed_bytes: Counter,
    gc_deleted_blobs: Counter,
    uploads_purged: Counter,
    retention_deleted_tags: Counter,
    retention_deleted_manifests: Counter,
    trash_tags: Gauge,
    quota_refusals: Counter,
    repository_bytes: Family<RepositoryLabels, Gauge>,
    auth_failures: Family<ReasonLabels, Counter>,
    notifications_sent: Family<EndpointLabels, Counter>,
    notifications_failed: Family<EndpointLabels, Counter>,
    notifications_dropped: Family<EndpointLabels, Counter>,
    zero_copy_bytes: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Metrics {
            registry: Registry::with_prefix("wharf"),
            requests: Family::default(),
            latency: HistogramFamily::new_with_constructor(latency_histogram),
            received: Family::default(),
            sent: Family::default(),
            uploads_in_flight: Gauge::default(),
            gc_runs: Family::default(),
            gc_freed_bytes: Counter::default(),
            gc_deleted_blobs: Counter::default(),
            uploads_purged: Counter::default(),
            retention_deleted_tags: Counter::default(),
            retention_deleted_manifests: Counter::default(),
            trash_tags: Gauge::default(),
            quota_refusals: Counter::default(),
            repository_bytes: Family::default(),
            auth_failures: Family::default(),
            notifications_sent: Family::default(),
            notifications_failed: Family::default(),
            notifications_dropped: Family::default(),
            zero_copy_bytes: Counter::default(),
        };
        let r = &mut m.registry;
        r.register(
            "http_requests",
            "HTTP requests by route kind, method and status",
            m.requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time until the response headers, by route kind",
            m.latency.clone(),
        );
        r.register(
            "http_received_bytes",
            "Request body bytes received, by route kind",
            m.received.clone(),
        );
        r.register(
            "http_sent_bytes",
            "Response body bytes sent, by route kind",
            m.sent.clone(),
        );
        r.register(
            "uploads_in_flight",
            "Upload requests (POST, PATCH, PUT of blob data) being received",
            m.uploads_in_flight.clone(),
        );
        r.register(
            "gc_runs",
            "Garbage collections run in the server, by result",
            m.gc_runs.clone(),
        );
        r.register(
            "gc_freed_bytes",
            "Blob bytes deleted by garbage collection",
            m.gc_freed_bytes.clone(),
        );
        r.register(
            "gc_deleted_blobs",
            "Blobs deleted by garbage collection",
            m.gc_deleted_blobs.clone(),
        );
        r.register(
            "uploads_purged",
            "Abandoned upload sessions removed",
            m.uploads_purged.clone(),
        );
        r.register(
            "retention_deleted_tags",
            "Tags retention policies deleted into the trash",
            m.retention_deleted_tags.clone(),
        );
        r.register(
            "retention_deleted_manifests",
            "Manifests retention policies deleted (no kept tag, index or trash entry reached them)",
            m.retention_deleted_manifests.clone(),
        );
        r.register(
            "trash_tags",
            "Deleted tags in the trash, restorable or expired, after the last retention run",
            m.trash_tags.clone(),
        );
        r.register(
            "quota_refusals",
            "Pushes refused because they would take a repository over its quota",
            m.quota_refusals.clone(),
        );
        r.register(
            "repository_bytes",
            "Bytes a repository holds, as last worked out (for a quota check, or by the disk-usage view)",
            m.repository_bytes.clone(),
        );
        r.register(
            "auth_failures",
            "Requests refused for bad or missing credentials, by reason",
            m.auth_failures.clone(),
        );
        r.register(
            "notifications_sent",
            "Events delivered to notification endpoints, by endpoint",
            m.notifications_sent.clone(),
        );
        r.register(
            "notifications_failed",
            "Failed deliveries to notification endpoints (retried), by endpoint",
            m.notifications_failed.clone(),
        );
        r.register(
            "notifications_dropped",
            "Events dropped because an endpoint's queue was full, by endpoint",
            m.notifications_dropped.clone(),
        );
        r.register(
            "zero_copy_bytes",
            "Blob bytes sent from their file with sendfile, never copied through memory",
            m.zero_copy_bytes.clone(),
        );
        m
    }
}

impl Metrics {
    /// Exposes the pull-through cache's counters.
    pub fn register_mirror(&mut self, counters: crate::registry::mirror::Counters) {
        let r = &mut self.registry;
        r.register(
            "mirror_hits",
            "Manifests and blobs the pull-through cache served from storage",
            counters.hits,
        );
        r.register(
            "mirror_misses",
            "Manifests and blobs the pull-through cache fetched from the upstream",
            counters.misses,
        );
        r.register(
            "mirror_upstream_received_bytes",
            "Bytes the pull-through cache received from the upstream",
            counters.upstream_bytes,
        );
        r.register(
            "mirror_upstream_errors",
            "Failed requests to the upstream (unreachable, refused, 429, 5xx, broken or wrong downloads)",
            counters.upstream_errors,
        );
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts a garbage collection and what it freed.
    pub fn gc_run(&self, succeeded: bool, freed_bytes: u64, deleted_blobs: usize) {
        let result = if succeeded { "success" } else { "failure" };
        self.gc_runs.get_or_create(&ResultLabels { result }).inc();
        self.gc_freed_bytes.inc_by(freed_bytes);
        self.gc_deleted_blobs.inc_by(deleted_blobs as u64);
    }

    /// Counts what a retention run deleted, and sets the trash's size.
    pub fn retention_run(&self, tags: usize, manifests: usize, trash: usize) {
        self.retention_deleted_tags.inc_by(tags as u64);
        self.retention_deleted_manifests.inc_by(manifests as u64);
        self.trash_tags.set(trash as i64);
    }

    /// Sets the bytes of every repository, forgetting repositories that are gone.
    pub fn all_repository_usage(&self, usage: Vec<(String, u64)>) {
        self.repository_bytes.clear();
        self.repository_usage(usage);
    }

    /// Sets the bytes of each repository whose usage is known.
    pub fn repository_usage(&self, usage: Vec<(String, u64)>) {
        for (repository, bytes) in usage {
            self.repository_bytes
                .get_or_create(&RepositoryLabels { repository })
                .set(bytes as i64);
        }
    }

    /// Counts removed upload sessions.
    pub fn uploads_purged(&self, count: usize) {
        self.uploads_purged.inc_by(count as u64);
    }

    /// Counts a request refused by authentication, e.g. `reason` `bad_credentials` or `missing`.
    pub fn auth_failure(&self, reason: &str) {
        self.auth_failures
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// The counters of the notification endpoint `name`.
    pub fn notification_counters(&self, name: &str) -> NotificationCounters {
        let labels = EndpointLabels {
            endpoint: name.to_string(),
        };
        NotificationCounters {
            sent: self.notifications_sent.get_or_create(&labels).clone(),
            failed: self.notifications_failed.get_or_create(&labels).clone(),
            dropped: self.notifications_dropped.get_or_create(&labels).clone(),
        }
    }

    /// The counter of blob bytes the plain listener sends with `sendfile` (`zero_copy`).
    pub fn zero_copy_bytes(&self) -> Counter {
        self.zero_copy_bytes.clone()
    }
}

/// Middleware recording every request.
pub async fn observe(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<Endpoint>()
        .map_or("other", Endpoint::kind);
    let method = request.method().clone();
    let labels = RouteLabels { route };
    let uploading =
        route == "upload" && matches!(method, Method::POST | Method::PATCH | Method::PUT);
    let _in_flight = uploading.then(|| InFlight::enter(&metrics.uploads_in_flight));
    let received = metrics.received.get_or_create(&labels).clone();
    let request = request.map(|body| Body::new(Counted::new(body, received)));
    let response = next.run(request).await;
    if response.extensions().get::<QuotaRefused>().is_some() {
        metrics.quota_refusals.inc();
    }
    if let Some(run) = response.extensions().get::<RetentionApplied>() {
        if run.collected {
            metrics.gc_run(true, run.freed_bytes, run.blobs);
        }
        metrics.retention_run(run.tags, run.manifests, run.trash);
    }
    metrics
        .latency
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            method: method.to_string(),
            status: response.status().as_u16(),
        })
        .inc();
    let sent = metrics.sent.get_or_create(&labels).clone();
    response.map(|body| Body::new(Counted::new(body, sent)))
}

/// Keeps a gauge raised while alive.
struct InFlight(Gauge);

impl InFlight {
    fn enter(gauge: &Gauge) -> Self {
        gauge.inc();
        InFlight(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A body that adds the bytes passing through it to a counter.
struct Counted {
    inner: Body,
    counter: Counter,
}

impl Counted {
    fn new(inner: Body, counter: Counter) -> Self {
        Counted { inner, counter }
    }
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                this.counter.inc_by(data.len() as u64);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

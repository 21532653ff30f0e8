//! Operations: what keeps a registry running for years without attention. Garbage collection (on
//! demand and scheduled), upload purging, read-only mode, the storage health check, metrics, the
//! access log, the debug server, notifications (webhooks) and graceful shutdown. These sit beside the
//! HTTP API: they wrap its router with layers and call the registry services, never storage directly.

pub mod access_log;
pub mod debug_server;
pub mod drain;
pub mod health;
pub mod jobs;
pub mod metrics;
pub mod notifications;
pub mod read_only;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use axum::middleware::{from_fn, from_fn_with_state};
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::api::client_addr::{self, TrustedProxies};
use crate::api::endpoint;
use crate::api::AppState;
use crate::config::Config;
use crate::registry::gc::{GcOptions, Pace};
use health::Health;
use metrics::Metrics;
use notifications::Notifier;

/// How often noted pulls are written to storage.
const PULL_FLUSH_INTERVAL: Duration = Duration::from_secs(60);

/// What the operational parts of one server share.
pub struct Ops {
    /// The server's metrics.
    pub metrics: Arc<Metrics>,
    /// The storage check's state.
    pub health: Arc<Health>,
    /// Grace period of in-server garbage collections (`storage.gc.graceperiod`).
    pub gc_grace_period: Duration,
    /// Pace of in-server garbage collections (`storage.gc.cpupercent`).
    pub gc_pace: Pace,
    /// Where events go; `None` when no notification endpoint is enabled.
    pub notifier: Option<Arc<Notifier>>,
}

/// Hooks for tests and embedders that are not configuration.
#[derive(Debug, Default)]
pub struct ServeOptions {
    /// Serve the debug endpoints on this listener instead of binding `http.debug.addr`.
    pub debug_listener: Option<TcpListener>,
    /// Run the first upload purge after this delay instead of a random 0 to 59 minutes.
    pub first_purge_after: Option<Duration>,
}

/// The operational parts of a running server. Dropping it stops the background jobs and the debug
/// server.
pub struct Running {
    /// Shared state.
    pub ops: Arc<Ops>,
    _tasks: JoinSet<()>,
}

fn socket_addr(addr: &str) -> std::io::Result<SocketAddr> {
    let full = if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_string()
    };
    full.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::other(format!(
            "http.debug.addr {addr:?} is not HOST:PORT or :PORT"
        ))
    })
}

/// Starts the background jobs and the debug server the configuration asks for.
pub async fn start(
    config: &Config,
    app: Arc<AppState>,
    options: ServeOptions,
) -> std::io::Result<Running> {
    let mut tasks = JoinSet::new();
    let mut metrics = Metrics::default();
    if let Some(counters) = app.registry.mirror_counters() {
        metrics.register_mirror(counters);
    }
    let metrics = Arc::new(metrics);
    let notifier = Notifier::start(
        &config.notifications,
        &config.http.addr,
        app.urls.clone(),
        &metrics,
        &mut tasks,
    )?;
    let ops = Arc::new(Ops {
        metrics,
        health: Arc::new(Health::new(config.health.storagedriver.threshold)),
        gc_grace_period: config.storage.gc.graceperiod.get(),
        gc_pace: Pace::percent(config.storage.gc.cpupercent),
        notifier,
    });
    let maintenance = &config.storage.maintenance;
    let read_only = maintenance.readonly.enabled;
    let purging = &maintenance.uploadpurging;
    if purging.enabled && !read_only {
        let first_after = options.first_purge_after.unwrap_or_else(jobs::purge_jitter);
        let schedule = jobs::PurgeSchedule {
            age: purging.age.get(),
            interval: purging.interval.get().max(Duration::from_secs(1)),
            dry_run: purging.dryrun,
            first_after,
        };
        tracing::info!(first_run_in = %humantime::format_duration(first_after), "upload purging on");
        tasks.spawn(jobs::purge_uploads(ops.clone(), app.clone(), schedule));
    }
    let gc = &config.storage.gc;
    if !gc.interval.is_zero() && !read_only {
        let options = GcOptions {
            dry_run: gc.dryrun,
            delete_untagged: gc.deleteuntagged,
            grace_period: gc.graceperiod.get(),
            retention: None,
            confirmed: None,
            pace: Pace::percent(gc.cpupercent),
        };
        tasks.spawn(jobs::scheduled_gc(
            ops.clone(),
            app.clone(),
            gc.interval.get(),
            options,
        ));
    }
    if !read_only {
        tasks.spawn(jobs::flush_pulls(app.clone(), PULL_FLUSH_INTERVAL));
    }
    let retention = &config.retention;
    // The policies were parsed once, for the Wharf API's runs; the schedule's runs differ only in
    // `retention.dryrun` and `storage.gc.deleteuntagged`.
    let scheduled = app
        .retention
        .as_ref()
        .filter(|_| !retention.schedule.is_zero() && !read_only);
    if let Some(run) = scheduled {
        let options = GcOptions {
            dry_run: retention.dryrun,
            delete_untagged: gc.deleteuntagged,
            ..run.clone()
        };
        tasks.spawn(jobs::scheduled_retention(
            ops.clone(),
            app.clone(),
            retention.schedule.get(),
            options,
        ));
    }
    let prometheus = &config.http.debug.prometheus;
    if prometheus.enabled && !prometheus.usageinterval.is_zero() {
        tasks.spawn(jobs::weigh_usage(
            ops.clone(),
            app.clone(),
            prometheus.usageinterval.get(),
        ));
    }
    let check = &config.health.storagedriver;
    if check.enabled {
        let interval = check.interval.get().max(Duration::from_millis(10));
        tasks.spawn(health::run(
            ops.health.clone(),
            app.clone(),
            interval,
            read_only,
        ));
    }
    let debug = &config.http.debug;
    let listener = match (options.debug_listener, &debug.addr) {
        (Some(l), _) => Some(l),
        (None, Some(addr)) if !addr.is_empty() => {
            let addr = socket_addr(addr)?;
            let l = TcpListener::bind(addr).await.map_err(|e| {
                std::io::Error::other(format!("cannot listen on http.debug.addr {addr}: {e}"))
            })?;
            tracing::info!(%addr, "debug server listening");
            Some(l)
        }
        _ => None,
    };
    if let Some(listener) = listener {
        let path = debug
            .prometheus
            .enabled
            .then_some(debug.prometheus.path.as_str());
        let router = debug_server::router(ops.clone(), app, path);
        tasks.spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "debug server stopped");
            }
        });
    }
    Ok(Running { ops, _tasks: tasks })
}

/// Wraps the API router with the access log, the client's address, the request's endpoint (parsed
/// once, for every layer below), metrics, the health gate, read-only mode and notifications.
pub fn wrap(router: Router, config: &Config, ops: &Ops) -> Router {
    // Validated when the configuration was loaded.
    let proxies = TrustedProxies::new(config.http.trusted_proxies().unwrap_or_default());
    let mut router = router;
    if let Some(notifier) = &ops.notifier {
        router = router.layer(from_fn_with_state(
            notifier.clone(),
            notifications::layer::observe,
        ));
    }
    if config.storage.maintenance.readonly.enabled {
        router = router.layer(from_fn(read_only::refuse_writes));
    }
    if config.health.storagedriver.enabled {
        router = router.layer(from_fn_with_state(ops.health.clone(), health::gate));
    }
    router
        .layer(from_fn_with_state(ops.metrics.clone(), metrics::observe))
        .layer(from_fn_with_state(
            Arc::<str>::from(config.http.path_prefix()),
            endpoint::classify,
        ))
        .layer(from_fn_with_state(Arc::new(proxies), client_addr::resolve))
        .layer(access_log::layer())
}

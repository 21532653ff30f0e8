//! The debug server (`http.debug.addr`), for operators only: bind it to a private address.
//!
//! - `GET /debug/health`: `{}` (200) or the failing check (503);
//! - `GET <http.debug.prometheus.path>` (default `/metrics`) when Prometheus is enabled;
//! - `POST /debug/gc?dryrun=<bool>&deleteuntagged=<bool>`: one garbage collection now, with the
//!   configured grace period; answers its report as JSON (409 when one is already running). The
//!   collection runs to its end even if the client hangs up.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_http::set_header::SetResponseHeaderLayer;

use super::{jobs, Ops};
use crate::api::AppState;
use crate::registry::digest::Digest;
use crate::registry::error::RegistryError;
use crate::registry::gc::{GcOptions, GcReport, Phase};
use crate::registry::names::RepoName;

type Shared = (Arc<Ops>, Arc<AppState>);

/// The debug server's routes.
pub fn router(ops: Arc<Ops>, app: Arc<AppState>, prometheus_path: Option<&str>) -> Router {
    let mut router = Router::new()
        .route("/debug/health", get(health))
        .route("/debug/gc", post(gc));
    if let Some(path) = prometheus_path {
        router = router.route(path, get(metrics));
    }
    router
        .with_state((ops, app))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}

async fn health(State((ops, _)): State<Shared>) -> Response {
    ops.health.report()
}

async fn metrics(State((ops, app)): State<Shared>) -> Response {
    ops.metrics.repository_usage(app.registry.known_usage());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        ops.metrics.encode(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct GcQuery {
    #[serde(default)]
    dryrun: bool,
    #[serde(default)]
    deleteuntagged: bool,
}

async fn gc(State((ops, app)): State<Shared>, Query(q): Query<GcQuery>) -> Response {
    let options = GcOptions {
        dry_run: q.dryrun,
        delete_untagged: q.deleteuntagged,
        grace_period: ops.gc_grace_period,
        retention: None,
        confirmed: None,
        pace: ops.gc_pace,
    };
    // In a task of its own, so a client that hangs up does not stop the collection half-way (its
    // announcement in storage would then hold writers until its lease ran out).
    let run = tokio::spawn(async move { jobs::collect_garbage(&ops, &app, &options).await });
    let Ok(result) = run.await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({ "error": "the garbage collection task panicked" })),
        )
            .into_response();
    };
    match result {
        Ok(report) => axum::Json(ReportBody::of(&report)).into_response(),
        Err(RegistryError::Unsupported(why)) => {
            (StatusCode::CONFLICT, axum::Json(json!({ "error": why }))).into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({ "error": e.to_string() })),
        )
            .into_response(),
    }
}

/// The answer to `POST /debug/gc`, serialized straight from the report: a `serde_json::Value` of
/// 70,000 deletions held about 40 MB more than the text it became.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportBody<'a> {
    dry_run: bool,
    repositories: usize,
    marked: usize,
    blobs_deleted: Each<'a, (Digest, u64)>,
    bytes_freed: u64,
    manifests_deleted: Each<'a, (RepoName, Digest)>,
    layer_links_removed: usize,
    blobs_kept_recent: usize,
    repositories_removed: &'a [RepoName],
    writers: Option<usize>,
    phases: Each<'a, (Phase, Duration)>,
}

impl<'a> ReportBody<'a> {
    fn of(r: &'a GcReport) -> Self {
        ReportBody {
            dry_run: r.dry_run,
            repositories: r.repositories,
            marked: r.marked,
            blobs_deleted: Each(
                &r.blobs_deleted,
                |(digest, size)| json!({"digest": digest, "size": size}),
            ),
            bytes_freed: r.bytes_freed,
            manifests_deleted: Each(
                &r.manifests_deleted,
                |(repo, digest)| json!({"repository": repo.as_str(), "digest": digest}),
            ),
            layer_links_removed: r.layer_links_removed,
            blobs_kept_recent: r.blobs_kept_recent,
            repositories_removed: &r.repositories_removed,
            writers: r.writers,
            phases: Each(
                &r.phases,
                |(phase, took)| json!({"phase": phase.name(), "seconds": took.as_secs_f64()}),
            ),
        }
    }
}

/// A list of the report, serialized one entry at a time as the JSON object its function makes.
struct Each<'a, T>(&'a [T], fn(&T) -> serde_json::Value);

impl<T> Serialize for Each<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(self.1))
    }
}

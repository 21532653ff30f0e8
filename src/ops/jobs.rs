//! Background jobs of a serving registry: upload purging, scheduled garbage collection and retention,
//! and writing last-pull records. Each is a loop that sleeps, runs, logs and counts its result, and
//! is aborted when the server stops (each is safe to stop at any await point).

use std::sync::Arc;
use std::time::Duration;

use super::Ops;
use crate::api::AppState;
use crate::registry::error::Result;
use crate::registry::gc::{GcOptions, GcReport};

/// Upload purger settings.
#[derive(Debug, Clone)]
pub struct PurgeSchedule {
    /// Sessions older than this are removed.
    pub age: Duration,
    /// Time between runs.
    pub interval: Duration,
    /// Only log.
    pub dry_run: bool,
    /// Delay before the first run.
    pub first_after: Duration,
}

/// A random delay of 0 to 59 minutes, as distribution waits before its first purge, so replicas
/// started together do not purge together.
pub fn purge_jitter() -> Duration {
    let minutes = uuid::Uuid::new_v4().as_u128() % 60;
    Duration::from_secs(minutes as u64 * 60)
}

/// Purges old upload sessions on a schedule, forever.
pub async fn purge_uploads(ops: Arc<Ops>, app: Arc<AppState>, schedule: PurgeSchedule) {
    tokio::time::sleep(schedule.first_after).await;
    loop {
        match app
            .registry
            .purge_uploads(schedule.age, schedule.dry_run)
            .await
        {
            Ok(report) => {
                for (repo, id) in &report.purged {
                    tracing::info!(%repo, upload = %id, dry_run = report.dry_run, "purging upload");
                }
                for key in &report.leftovers {
                    tracing::info!(file = %key, dry_run = report.dry_run, "removing the temporary file of an interrupted write");
                }
                if !report.dry_run {
                    ops.metrics.uploads_purged(report.purged.len());
                }
            }
            Err(e) => tracing::error!(error = %e, "upload purge failed"),
        }
        tokio::time::sleep(schedule.interval).await;
    }
}

/// Runs one garbage collection in the server, logging and counting it.
pub async fn collect_garbage(ops: &Ops, app: &AppState, options: &GcOptions) -> Result<GcReport> {
    let result = app.registry.collect_garbage(options).await;
    match &result {
        Ok(r) => {
            tracing::info!(
                dry_run = r.dry_run,
                blobs = r.blobs_deleted.len(),
                bytes = r.bytes_freed,
                manifests = r.manifests_deleted.len(),
                repositories = r.repositories_removed.len(),
                kept_recent = r.blobs_kept_recent,
                seconds = r
                    .phases
                    .iter()
                    .map(|(_, took)| took.as_secs_f64())
                    .sum::<f64>(),
                "garbage collection done"
            );
            let (bytes, blobs) = if r.dry_run {
                (0, 0)
            } else {
                (r.bytes_freed, r.blobs_deleted.len())
            };
            ops.metrics.gc_run(true, bytes, blobs);
        }
        Err(e) => {
            tracing::error!(error = %e, "garbage collection failed");
            ops.metrics.gc_run(false, 0, 0);
        }
    }
    result
}

/// Collects garbage every `interval`, forever.
pub async fn scheduled_gc(
    ops: Arc<Ops>,
    app: Arc<AppState>,
    interval: Duration,
    options: GcOptions,
) {
    loop {
        tokio::time::sleep(interval).await;
        let _ = collect_garbage(&ops, &app, &options).await;
    }
}

/// Applies the retention policies in `options` every `interval`, forever: each run is a garbage
/// collection that first deletes the tags the policies doom into the trash.
pub async fn scheduled_retention(
    ops: Arc<Ops>,
    app: Arc<AppState>,
    interval: Duration,
    options: GcOptions,
) {
    loop {
        tokio::time::sleep(interval).await;
        let _ = retention(&ops, &app, &options).await;
    }
}

/// Runs the retention policies once in the server, logging each deleted tag and counting them.
pub async fn retention(ops: &Ops, app: &AppState, options: &GcOptions) -> Result<GcReport> {
    let report = collect_garbage(ops, app, options).await?;
    report.log_retention("schedule");
    let tags = report.retention.iter().map(|r| r.tags.len()).sum();
    if !report.dry_run {
        let manifests = report.retention.iter().map(|r| r.manifests.len()).sum();
        let trash = app.registry.trash_size().await.unwrap_or(0);
        ops.metrics.retention_run(tags, manifests, trash);
    }
    Ok(report)
}

/// Writes the noted pulls every `interval`, and sooner whenever many wait, forever (see
/// [`crate::registry::pulls`]).
pub async fn flush_pulls(app: Arc<AppState>, interval: Duration) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = app.registry.pulls_waiting() => {}
        }
        if let Err(e) = app.registry.flush_pulls().await {
            tracing::warn!(error = %e, "writing last-pull records failed; retrying at the next flush");
        }
    }
}

/// Weighs every repository's usage every `interval`, forever, for `wharf_repository_bytes`; the first
/// time right away.
pub async fn weigh_usage(ops: Arc<Ops>, app: Arc<AppState>, interval: Duration) {
    loop {
        match app.registry.disk_usage().await {
            Ok(usage) => ops.metrics.all_repository_usage(
                usage
                    .repositories
                    .into_iter()
                    .map(|r| (r.repository.to_string(), r.bytes))
                    .collect(),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "weighing repositories' usage failed; retrying later")
            }
        }
        tokio::time::sleep(interval).await;
    }
}

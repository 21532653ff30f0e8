//! Wharf's API extension under `/v2/_wharf/`, which its web UI reads: the catalog with pull-through
//! caches marked, what uses the disk, the
//! retention policies' preview and applying them, the trash and restoring from it, and a
//! repository's tags with their push and last-pull times. Answers are JSON; errors are the OCI error
//! body like every other endpoint's. Authorization ([`super::auth`]) and read-only mode
//! ([`crate::ops::read_only`]) happen before these handlers, by the endpoint's access.

use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;

use super::events::RetentionApplied;
use super::{ApiError, ApiResult, AppState, Code};
use crate::registry::digest::Digest;
use crate::registry::gc::GcOptions;
use crate::registry::names::{RepoName, Tag};
use crate::registry::retention::Confirmed;

/// Largest restore request body: a repository name and a tag.
const MAX_RESTORE_BODY: usize = 16 * 1024;

/// Largest body of a confirmed retention run: about 100,000 tags.
const MAX_CONFIRMED_BODY: usize = 16 * 1024 * 1024;

/// `GET /v2/_wharf/catalog`.
pub async fn catalog(app: &AppState) -> ApiResult {
    Ok(Json(app.registry.marked_catalog().await?).into_response())
}

/// `GET /v2/_wharf/usage`.
pub async fn usage(app: &AppState) -> ApiResult {
    Ok(Json(app.registry.disk_usage().await?).into_response())
}

/// A request body the API cannot use: 400 with the OCI error body.
fn bad_request(message: String) -> ApiError {
    ApiError::new(Code::Unsupported, message).with_status(StatusCode::BAD_REQUEST)
}

/// A repository name and a tag from a request body, each refused with its own OCI error code.
fn repository_and_tag(repository: &str, tag: &str) -> Result<(RepoName, Tag), ApiError> {
    let name = repository
        .parse()
        .map_err(|e| ApiError::new(Code::NameInvalid, format!("{repository:?}: {e}")))?;
    let tag = tag
        .parse()
        .map_err(|e| ApiError::new(Code::TagInvalid, format!("{tag:?}: {e}")))?;
    Ok((name, tag))
}

/// The retention run of this server, as a preview or not.
fn retention_options(app: &AppState, dry_run: bool) -> Result<GcOptions, ApiError> {
    let options = app.retention.as_ref().ok_or_else(|| {
        ApiError::new(
            Code::Unsupported,
            "no retention policies are configured (retention.policies, or REGISTRY_RETENTION_POLICIES)",
        )
    })?;
    Ok(GcOptions {
        dry_run,
        ..options.clone()
    })
}

/// `GET /v2/_wharf/retention`: what `wharf retention --json` prints, deleting nothing.
pub async fn preview_retention(app: &AppState) -> ApiResult {
    let options = retention_options(app, true)?;
    let report = app.registry.collect_garbage(&options).await?;
    Ok(Json(report.retention_summary()).into_response())
}

/// One tag of a confirmed preview.
#[derive(Deserialize)]
struct ConfirmedTag {
    repository: String,
    tag: String,
    digest: String,
}

/// The optional body of `POST /v2/_wharf/retention`: the tags of the preview that was confirmed.
#[derive(Deserialize)]
struct ConfirmRequest {
    tags: Vec<ConfirmedTag>,
}

/// The confirmed tags of a request body; `None` for an empty body.
async fn confirmed_tags(body: Body) -> Result<Option<Confirmed>, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_CONFIRMED_BODY)
        .await
        .map_err(|e| bad_request(format!("reading the request: {e}")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let request: ConfirmRequest = serde_json::from_slice(&bytes).map_err(|e| {
        bad_request(format!(
            "expected {{\"tags\": [{{\"repository\": …, \"tag\": …, \"digest\": …}}]}}: {e}"
        ))
    })?;
    let tags = request
        .tags
        .into_iter()
        .map(|t| {
            let (name, tag) = repository_and_tag(&t.repository, &t.tag)?;
            let digest: Digest = t
                .digest
                .parse()
                .map_err(|e| ApiError::new(Code::DigestInvalid, format!("{:?}: {e}", t.digest)))?;
            Ok((name, tag, digest))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Some(Confirmed::new(tags)))
}

/// `POST /v2/_wharf/retention`: deletes what the policies doom into the trash and collects garbage,
/// as `wharf retention --apply` does; answers what was deleted. With a body listing the tags of a
/// preview (`{"tags": [{"repository", "tag", "digest"}]}`), only those of them the policies still
/// doom, at the same digest, are deleted.
pub async fn apply_retention(app: &AppState, body: Body) -> ApiResult {
    let confirmed = confirmed_tags(body).await?;
    let options = GcOptions {
        confirmed: confirmed.map(Arc::new),
        ..retention_options(app, false)?
    };
    let report = app.registry.collect_garbage(&options).await?;
    report.log_retention("the Wharf API");
    let counted = RetentionApplied {
        tags: report.retention.iter().map(|r| r.tags.len()).sum(),
        manifests: report.retention.iter().map(|r| r.manifests.len()).sum(),
        blobs: report.blobs_deleted.len(),
        freed_bytes: report.bytes_freed,
        trash: app.registry.trash_size().await?,
        collected: true,
    };
    let mut response = Json(report.retention_summary()).into_response();
    response.extensions_mut().insert(counted);
    Ok(response)
}

/// `GET /v2/_wharf/trash`: every entry, as `wharf trash list --json` prints them.
pub async fn trash(app: &AppState) -> ApiResult {
    Ok(Json(app.registry.trash_entries().await?).into_response())
}

/// The body of `POST /v2/_wharf/trash/restore`.
#[derive(Deserialize)]
struct RestoreRequest {
    repository: String,
    tag: String,
}

/// `POST /v2/_wharf/trash/restore` with `{"repository": …, "tag": …}`: puts the tag back and answers
/// its (now emptied) trash entry.
pub async fn restore(app: &AppState, body: Body) -> ApiResult {
    let bytes = axum::body::to_bytes(body, MAX_RESTORE_BODY)
        .await
        .map_err(|e| bad_request(format!("reading the request: {e}")))?;
    let request: RestoreRequest = serde_json::from_slice(&bytes)
        .map_err(|e| bad_request(format!("expected {{\"repository\": …, \"tag\": …}}: {e}")))?;
    let (name, tag) = repository_and_tag(&request.repository, &request.tag)?;
    let entry = app.registry.restore_tag(&name, &tag).await?;
    tracing::info!(repository = %name, tag = %tag, digest = %entry.digest, "restored from the trash (through the API)");
    let counted = RetentionApplied {
        trash: app.registry.trash_size().await?,
        ..RetentionApplied::default()
    };
    let mut response = Json(entry).into_response();
    response.extensions_mut().insert(counted);
    Ok(response)
}

/// `GET /v2/_wharf/tags/<name>`.
pub async fn tag_times(app: &AppState, name: &RepoName) -> ApiResult {
    Ok(Json(app.registry.tag_times(name).await?).into_response())
}

//! The UI's side of Wharf's API extension (`/v2/_wharf/`, see docs/compatibility.md): the documents
//! it answers, read into the UI's own types, and the calls. Only a Wharf registry has it; pages that
//! merely gain from it (sizes, times, the mirrored mark) go on without it, the disk, retention and
//! trash pages say it is missing.

use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;

use super::error::UiError;
use super::upstream::{pull, Upstream, CATALOG_SCOPE};
use super::wire::{parse_json, Credentials};

/// The token scope of Wharf's registry-wide maintenance (retention and the trash).
const ADMIN_SCOPE: &str = "registry:admin:*";

/// One entry of `GET /v2/_wharf/catalog`.
#[derive(Debug, Clone, Deserialize)]
pub struct CatalogEntry {
    /// The repository.
    pub repository: String,
    /// Whether it is a pull-through cache.
    pub mirrored: bool,
}

/// `GET /v2/_wharf/usage`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskUsage {
    /// Every distinct blob's bytes, counted once.
    pub total_bytes: u64,
    /// The repositories, largest first.
    pub repositories: Vec<RepoUsage>,
}

/// One repository's share of the disk.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepoUsage {
    /// The repository.
    pub repository: String,
    /// Bytes of every distinct blob it uses.
    pub bytes: u64,
    /// Bytes of blobs only it uses.
    pub unique_bytes: u64,
    /// Bytes of blobs other repositories use too.
    pub shared_bytes: u64,
    /// Whether it is a pull-through cache.
    pub mirrored: bool,
    /// Its number of tags.
    pub tags: usize,
    /// When a tag was last pushed to it (RFC 3339).
    pub last_pushed: Option<String>,
}

/// `GET`/`POST /v2/_wharf/retention`: what the policies would delete, or deleted.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionSummary {
    /// Whether it is a preview.
    pub dry_run: bool,
    /// Every repository a policy governs.
    pub repositories: Vec<RepoRetention>,
    /// Tags deleted, in all.
    pub tags_deleted: usize,
    /// Bytes freed, in all (by a preview: freed once the trash period ends).
    pub bytes_freed: u64,
}

/// One repository's retention.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepoRetention {
    /// The repository.
    pub repository: String,
    /// The index of its policy in `retention.policies`.
    pub policy: usize,
    /// The tags deleted.
    pub tags: Vec<DeletedTag>,
    /// A push reached it during the run, so it was left for the next.
    pub skipped_busy: bool,
    /// Bytes only its deleted manifests use.
    pub bytes_freed: u64,
}

/// A tag a policy deletes.
#[derive(Debug, Clone, Deserialize)]
pub struct DeletedTag {
    /// The tag.
    pub tag: String,
    /// Its manifest.
    pub digest: String,
    /// When it was pushed (RFC 3339).
    pub pushed: String,
    /// When it was last pulled (RFC 3339), if ever.
    pub pulled: Option<String>,
    /// The rule.
    pub reason: String,
}

/// One entry of `GET /v2/_wharf/trash`.
#[derive(Debug, Clone, Deserialize)]
pub struct TrashEntry {
    /// The repository.
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// The manifest it pointed at.
    pub digest: String,
    /// When it was deleted (RFC 3339).
    pub deleted: String,
    /// Until when it can be restored (RFC 3339).
    pub expires: String,
    /// Why it was deleted.
    pub reason: String,
}

/// One entry of `GET /v2/_wharf/tags/<name>`.
#[derive(Debug, Clone, Deserialize)]
pub struct TagTimes {
    /// The tag.
    pub tag: String,
    /// When it was pushed (RFC 3339).
    pub pushed: Option<String>,
    /// When its manifest was last pulled (RFC 3339), if ever.
    pub pulled: Option<String>,
}

/// A registry-wide endpoint's answer; a 404 means the registry is not Wharf.
async fn registry_wide(
    upstream: &Upstream,
    auth: &Credentials,
    method: Method,
    path: &str,
    scope: &str,
) -> Result<Bytes, UiError> {
    match upstream.wharf(auth, method, path, scope, None).await {
        Err(UiError::NotFound(_)) => Err(UiError::NotWharf(path.to_string())),
        answer => answer,
    }
}

/// Every repository, pull-through caches marked.
pub async fn catalog(
    upstream: &Upstream,
    auth: &Credentials,
) -> Result<Vec<CatalogEntry>, UiError> {
    let body = registry_wide(upstream, auth, Method::GET, "catalog", CATALOG_SCOPE).await?;
    parse_json(&body)
}

/// What uses the registry's disk.
pub async fn disk_usage(upstream: &Upstream, auth: &Credentials) -> Result<DiskUsage, UiError> {
    let body = registry_wide(upstream, auth, Method::GET, "usage", CATALOG_SCOPE).await?;
    parse_json(&body)
}

/// The retention preview (`apply` false) or the result of applying the policies.
pub async fn retention(
    upstream: &Upstream,
    auth: &Credentials,
    apply: bool,
) -> Result<RetentionSummary, UiError> {
    let method = if apply { Method::POST } else { Method::GET };
    let body = registry_wide(upstream, auth, method, "retention", ADMIN_SCOPE).await?;
    parse_json(&body)
}

/// Every trash entry.
pub async fn trash(upstream: &Upstream, auth: &Credentials) -> Result<Vec<TrashEntry>, UiError> {
    let body = registry_wide(upstream, auth, Method::GET, "trash", ADMIN_SCOPE).await?;
    parse_json(&body)
}

/// Puts `repository:tag` back from the trash; answers its entry.
pub async fn restore(
    upstream: &Upstream,
    auth: &Credentials,
    repository: &str,
    tag: &str,
) -> Result<TrashEntry, UiError> {
    let request = serde_json::json!({"repository": repository, "tag": tag});
    let body = upstream
        .wharf(
            auth,
            Method::POST,
            "trash/restore",
            ADMIN_SCOPE,
            Some(Bytes::from(request.to_string())),
        )
        .await?;
    parse_json(&body)
}

/// Every tag of `repository` with its push and last-pull time.
pub async fn tag_times(
    upstream: &Upstream,
    auth: &Credentials,
    repository: &str,
) -> Result<Vec<TagTimes>, UiError> {
    let path = format!("tags/{repository}");
    let body = upstream
        .wharf(auth, Method::GET, &path, &pull(repository), None)
        .await?;
    parse_json(&body)
}

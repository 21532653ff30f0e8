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
    json: Option<Bytes>,
) -> Result<Bytes, UiError> {
    match upstream.wharf(auth, method, path, scope, json).await {
        Err(UiError::NotFound(_)) => Err(UiError::NotWharf(path.to_string())),
        answer => answer,
    }
}

/// Every repository, pull-through caches marked.
pub async fn catalog(
    upstream: &Upstream,
    auth: &Credentials,
) -> Result<Vec<CatalogEntry>, UiError> {
    let body = registry_wide(upstream, auth, Method::GET, "catalog", CATALOG_SCOPE, None).await?;
    parse_json(&body)
}

/// What uses the registry's disk.
pub async fn disk_usage(upstream: &Upstream, auth: &Credentials) -> Result<DiskUsage, UiError> {
    let body = registry_wide(upstream, auth, Method::GET, "usage", CATALOG_SCOPE, None).await?;
    parse_json(&body)
}

/// What the retention policies would delete, deleting nothing.
pub async fn preview_retention(
    upstream: &Upstream,
    auth: &Credentials,
) -> Result<RetentionSummary, UiError> {
    let body = registry_wide(upstream, auth, Method::GET, "retention", ADMIN_SCOPE, None).await?;
    parse_json(&body)
}

/// A previewed tag a person confirmed: `repository:tag@digest`, as the preview page's form carries
/// it (none of the three can hold a `:`, `@` or space of its own, so the parts come back apart).
pub struct ConfirmedTag<'a> {
    repository: &'a str,
    tag: &'a str,
    digest: &'a str,
}

impl<'a> ConfirmedTag<'a> {
    /// The form value for a previewed tag.
    pub fn value(repository: &str, tag: &str, digest: &str) -> String {
        format!("{repository}:{tag}@{digest}")
    }

    /// Parses a form value; `None` when it is not `repository:tag@digest`.
    pub fn parse(value: &'a str) -> Option<ConfirmedTag<'a>> {
        let (repository, rest) = value.split_once(':')?;
        let (tag, digest) = rest.split_once('@')?;
        Some(ConfirmedTag {
            repository,
            tag,
            digest,
        })
    }
}

/// Applies the policies to the `confirmed` tags of a preview (those the policies still doom, at the
/// same digest); answers what was deleted.
pub async fn apply_retention(
    upstream: &Upstream,
    auth: &Credentials,
    confirmed: &[ConfirmedTag<'_>],
) -> Result<RetentionSummary, UiError> {
    let tags: Vec<_> = confirmed
        .iter()
        .map(|t| serde_json::json!({"repository": t.repository, "tag": t.tag, "digest": t.digest}))
        .collect();
    let request = serde_json::json!({ "tags": tags });
    let body = registry_wide(
        upstream,
        auth,
        Method::POST,
        "retention",
        ADMIN_SCOPE,
        Some(Bytes::from(request.to_string())),
    )
    .await?;
    parse_json(&body)
}

/// Every trash entry.
pub async fn trash(upstream: &Upstream, auth: &Credentials) -> Result<Vec<TrashEntry>, UiError> {
    let body = registry_wide(upstream, auth, Method::GET, "trash", ADMIN_SCOPE, None).await?;
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

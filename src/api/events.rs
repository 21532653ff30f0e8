//! What a successful request did to a repository's content, told to whoever listens: a handler puts an
//! [`Outcome`] into its response's extensions, the dispatcher adds the authenticated user, and a layer
//! outside the API (notifications, in `ops`) turns it into events. The API itself never sends anything
//! and does not know whether anyone listens.

use axum::response::Response;

use super::endpoint::Endpoint;

use crate::registry::digest::Digest;
use crate::registry::names::{RepoName, Tag};

/// A manifest as pushed or pulled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestInfo {
    /// Its digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its length in bytes.
    pub size: u64,
    /// The tag it was pushed or pulled by, if not by digest.
    pub tag: Option<Tag>,
}

/// A blob as pushed, pulled or mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// Its digest.
    pub digest: Digest,
    /// Its length in bytes.
    pub size: u64,
}

/// What happened, as distribution's notification listener names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happened {
    /// `PUT` of a manifest.
    ManifestPushed(ManifestInfo),
    /// `GET` of a manifest.
    ManifestPulled(ManifestInfo),
    /// An upload finished (in one request or several).
    BlobPushed(BlobInfo),
    /// `GET` of a blob.
    BlobPulled(BlobInfo),
    /// A blob linked from another repository.
    BlobMounted {
        /// The blob.
        blob: BlobInfo,
        /// The repository it came from.
        from: RepoName,
    },
    /// A manifest deleted by digest.
    ManifestDeleted(Digest),
    /// A blob unlinked from the repository.
    BlobDeleted(Digest),
    /// A tag deleted.
    TagDeleted(Tag),
}

/// What a request did, in which repository, and who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The repository acted on.
    pub repository: RepoName,
    /// What happened.
    pub happened: Happened,
    /// The authenticated user or token subject; `None` when anonymous or authentication is off.
    pub actor: Option<String>,
}

/// Records in `response` that the request did `happened` in `repository`.
pub(crate) fn attach(
    mut response: Response,
    repository: &RepoName,
    happened: Happened,
) -> Response {
    response.extensions_mut().insert(Outcome {
        repository: repository.clone(),
        happened,
        actor: None,
    });
    response
}

/// Whether a request on `endpoint` can report an [`Outcome`]: pulls by `GET`, pushes, mounts and
/// deletes. Listeners skip the rest without looking at them.
pub fn may_report(endpoint: &Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::GetManifest(..)
            | Endpoint::PutManifest(..)
            | Endpoint::DeleteManifest(..)
            | Endpoint::GetBlob(..)
            | Endpoint::DeleteBlob(..)
            | Endpoint::StartUpload(..)
            | Endpoint::PutUpload(..)
    )
}

/// Marks a response that refused a push because of a quota, for metrics.
#[derive(Debug, Clone, Copy)]
pub struct QuotaRefused;

/// Marks a response that applied retention, restored from the trash or deleted into it, for
/// metrics: what a retention run deleted and freed, and the trash's size afterwards.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetentionApplied {
    /// Tags deleted into the trash.
    pub tags: usize,
    /// Manifests deleted.
    pub manifests: usize,
    /// Blobs deleted by the collection that followed.
    pub blobs: usize,
    /// Bytes freed by that collection.
    pub freed_bytes: u64,
    /// Tags in the trash afterwards.
    pub trash: usize,
    /// Whether a collection ran (a retention run, not a restore or a delete into the trash).
    pub collected: bool,
}

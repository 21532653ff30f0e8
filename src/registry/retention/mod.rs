//! Retention: policies that delete old tags ([`policy`]), applied by a garbage collection
//! ([`crate::registry::gc`], which deletes through its protocol with concurrent writers and then
//! frees the bytes), with a trash that keeps deleted tags restorable for a while ([`trash`]). A dry
//! run is the preview: the same decisions, and the bytes that would be freed, with nothing deleted.
//!
//! Never deleted: a tag a policy keeps; a manifest a kept index or tag reaches, or the referrers of
//! one (GC's marking follows them); a tag pushed or re-pointed while the run is going (the run skips
//! a repository any write touched since it started, and re-reads each tag before deleting it).

pub mod policy;
pub mod trash;

use std::collections::HashSet;

use serde::Serialize;

use super::digest::Digest;
use super::names::{RepoName, Tag};

pub use policy::Policies;

/// What retention did (or, in a dry run, would do) to one repository.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepoRetention {
    /// The repository.
    pub repository: RepoName,
    /// The index of the policy governing it in `retention.policies`.
    pub policy: usize,
    /// Tags deleted, newest first.
    pub tags: Vec<DeletedTag>,
    /// A write reached the repository during the run, so its tags were left for the next run.
    pub skipped_busy: bool,
    /// Manifests deleted (no kept tag, index or trash entry reaches them any more).
    pub manifests: Vec<Digest>,
    /// Bytes of blobs freed that only this repository's deleted manifests used.
    pub bytes_freed: u64,
}

/// A tag a policy deleted.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedTag {
    /// The tag.
    pub tag: Tag,
    /// The manifest it pointed at.
    pub digest: Digest,
    /// When it was last pushed (RFC 3339).
    pub pushed: String,
    /// When its manifest was last pulled (RFC 3339), if ever.
    pub pulled: Option<String>,
    /// The rule that deleted it.
    pub reason: String,
}

/// A retention run as one document: what `wharf retention --json` prints and the Wharf API's
/// `/v2/_wharf/retention` answers, preview or not.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionSummary {
    /// Whether nothing was deleted (a preview).
    pub dry_run: bool,
    /// Every repository a policy governs.
    pub repositories: Vec<RepoRetention>,
    /// Tags deleted into the trash, in all.
    pub tags_deleted: usize,
    /// Manifests deleted, in all.
    pub manifests_deleted: usize,
    /// Blobs deleted, in all.
    pub blobs_deleted: usize,
    /// Bytes freed, in all.
    pub bytes_freed: u64,
}

/// The tags a preview showed and a person confirmed: a run given them deletes only those of them
/// the policies still doom, still pointing at the same manifest, so what is deleted is never more
/// than what was looked at (a tag that became due, or was pushed again, since the preview stays).
#[derive(Debug, Clone, Default)]
pub struct Confirmed(HashSet<(RepoName, Tag, Digest)>);

impl Confirmed {
    /// The set of `(repository, tag, digest)` confirmed.
    pub fn new(tags: impl IntoIterator<Item = (RepoName, Tag, Digest)>) -> Confirmed {
        Confirmed(tags.into_iter().collect())
    }

    /// Whether `tag` of `repository`, pointing at `digest`, was confirmed.
    pub fn contains(&self, repository: &RepoName, tag: &Tag, digest: &Digest) -> bool {
        self.0
            .contains(&(repository.clone(), tag.clone(), digest.clone()))
    }
}

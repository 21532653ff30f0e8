//! How the registry lists repositories and tags, chosen once when it is built
//! ([`super::Registry::new`]): by walking directories ([`Walked`], on the filesystem and in memory,
//! where listing a directory is a system call), or from the catalog and tag indexes
//! ([`super::catalog_index::Indexed`], on object storage, where each directory costs a request and
//! delimiter listings may still name deleted entries), which also deletes tags in its own order. The
//! rest of the registry calls [`Catalog`] and never asks which one it has.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};

use super::error::Result;
use super::listing::Page;
use super::names::{RepoName, Tag};
use super::paths;
use crate::storage::{DirQuery, Storage, StorageError};

/// A fingerprint of a set of tags (SHA-256 of their sorted names), so a garbage collection can tell
/// whether the tag index still names the tags it read while marking without holding them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagSet([u8; 32]);

impl TagSet {
    /// The fingerprint of `tags`, in any order.
    pub fn of<'a>(tags: impl IntoIterator<Item = &'a str>) -> TagSet {
        let mut sorted: Vec<&str> = tags.into_iter().collect();
        sorted.sort_unstable();
        let mut hash = Sha256::new();
        for tag in sorted {
            hash.update(tag.as_bytes());
            hash.update(b"\n");
        }
        TagSet(hash.finalize().into())
    }
}

/// What a garbage collection knows when it reconciles the catalog ([`Catalog::reconcile`]).
pub(super) struct Collected<'a> {
    /// Every repository its walk found.
    pub repositories: &'a [RepoName],
    /// Content written before this is older than the grace period.
    pub cutoff: SystemTime,
    /// Whether the collection saw a write to a repository since it started.
    pub written_since: &'a (dyn Fn(&RepoName) -> bool + Sync),
    /// For a repository the collection kept (with tags or manifests left), the tags with a current
    /// link that marking read; `None` for the others.
    pub kept_tags: &'a (dyn Fn(&RepoName) -> Option<TagSet> + Sync),
}

/// Listing repositories and tags, and keeping whatever the listing relies on up to date.
#[async_trait]
pub(super) trait Catalog: Send + Sync {
    /// At start-up, before the first request.
    async fn start(&self) -> Result<()>;
    /// The first `n` repositories after `last`, in name order.
    async fn page(&self, n: usize, last: Option<&str>) -> Result<Page>;
    /// Every tag of a repository, sorted, the fast way (for tag lists and pages).
    async fn tags(&self, name: &RepoName) -> Result<Vec<Tag>>;
    /// The first `n` tags after `last`, when the catalog has a cheaper way to find them than
    /// [`Catalog::tags`]; `None` when it has not.
    async fn tag_page(
        &self,
        _name: &RepoName,
        _n: usize,
        _last: Option<&str>,
    ) -> Result<Option<Page>> {
        Ok(None)
    }
    /// Every tag of a repository, sorted, read from the tags directory itself whatever other writers
    /// did (for deletes and garbage collection, which must not miss a tag).
    async fn tags_on_storage(&self, name: &RepoName) -> Result<Vec<Tag>>;
    /// A manifest was pushed to `name`.
    async fn added(&self, name: &RepoName) -> Result<()>;
    /// `tag`'s current link was written.
    async fn tagged(&self, name: &RepoName, tag: &Tag) -> Result<()>;
    /// Deletes a tag (its directory); whether there was anything to delete.
    async fn delete_tag(&self, name: &RepoName, tag: &Tag) -> Result<bool>;
    /// Garbage collection removed the repository `name`.
    async fn removed(&self, name: &RepoName) -> Result<()>;
    /// After garbage collection walked every repository: repairs what other writers left, for
    /// repositories older than its cutoff and not written since the walk began.
    async fn reconcile(&self, collected: &Collected<'_>) -> Result<()>;
}

/// The catalog that walks `storage`'s directories.
pub(super) fn walked(storage: Arc<dyn Storage>) -> Box<dyn Catalog> {
    Box::new(Walked { storage })
}

/// Tags from a listing of tag names; an absent tags directory has none, names that do not parse
/// are skipped.
pub(super) fn parse_tags(
    listed: std::result::Result<Vec<String>, StorageError>,
) -> Result<Vec<Tag>> {
    match listed {
        Ok(names) => Ok(names.iter().filter_map(|t| t.parse().ok()).collect()),
        Err(StorageError::NotFound(_)) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Listing by walking directories: a repository is a directory with a `_manifests` child (`_`
/// directories are not entered), a tag a child of its tags directory. Nothing to maintain.
struct Walked {
    storage: Arc<dyn Storage>,
}

#[async_trait]
impl Catalog for Walked {
    async fn start(&self) -> Result<()> {
        Ok(())
    }

    /// The walk visits only what the page needs (see [`crate::storage::walk`]), so paging through a
    /// large catalog costs about one walk in all, not one per page.
    async fn page(&self, n: usize, last: Option<&str>) -> Result<Page> {
        let query = DirQuery {
            marker: "_manifests",
            skip_prefix: "_",
            after: last,
            limit: n + 1,
        };
        let mut entries = self
            .storage
            .find_dirs(&paths::repositories_root(), &query)
            .await?;
        let more = entries.len() > n;
        entries.truncate(n);
        Ok(Page { entries, more })
    }

    async fn tags(&self, name: &RepoName) -> Result<Vec<Tag>> {
        parse_tags(self.storage.list(&paths::tags_dir(name)).await)
    }

    async fn tags_on_storage(&self, name: &RepoName) -> Result<Vec<Tag>> {
        self.tags(name).await
    }

    async fn added(&self, _: &RepoName) -> Result<()> {
        Ok(())
    }

    async fn tagged(&self, _: &RepoName, _: &Tag) -> Result<()> {
        Ok(())
    }

    async fn delete_tag(&self, name: &RepoName, tag: &Tag) -> Result<bool> {
        match self.storage.delete(&paths::tag_dir(name, tag)).await {
            Ok(()) => Ok(true),
            Err(StorageError::NotFound(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn removed(&self, _: &RepoName) -> Result<()> {
        Ok(())
    }

    async fn reconcile(&self, _: &Collected<'_>) -> Result<()> {
        Ok(())
    }
}

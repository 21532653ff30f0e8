//! The catalog index ([`Indexed`]), the [`Catalog`] of object storage (`Settings::indexed_listing`), where walking
//! `repositories/` level by level costs one listing request per directory and distribution's
//! `_catalog` takes minutes on big buckets.
//!
//! Every repository holding `_manifests` has an entry object `_wharf/catalog-index/<hex of name>`
//! ([`paths::catalog_entry`]), so a catalog page is one flat listing of the index started after the
//! page's `last`, exact even on engines that keep listing deleted prefixes (flat listings return live
//! objects only). Hex keys list in the names' byte-wise order and hold no `/`: with the names
//! themselves as keys, `a-b/…` would list before `a/…`, and engines that list directory by directory
//! (SeaweedFS) would order `a/b` before `a-b`.
//! - A manifest push writes the entry after the revision link (idempotent, one `PUT`).
//! - Garbage collection deletes the entry of a repository it removes, then reconciles the whole index
//!   with its full walk: missing entries are added, entries of repositories without `_manifests` that
//!   are older than the grace period are removed (a newer one may belong to a push in progress).
//! - A bucket without `_wharf/catalog-index-complete` (written by distribution, or by an older Wharf) gets its
//!   index built by one full walk on the first `_catalog` request. A bucket that holds no repository
//!   when Wharf starts is marked complete at once, so a bucket only Wharf ever wrote is never walked.
//!
//! Another writer that does not maintain the index (distribution on the same bucket) makes it miss
//! repositories until the next garbage collection; `docs/s3.md` says so.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::future::try_join_all;

use super::catalog::{parse_tags, Catalog, WrittenSince};
use super::error::Result;
use super::gc::walk;
use super::listing::Page;
use super::names::{RepoName, Tag};
use crate::registry::paths;
use crate::storage::{Storage, StorageError};

/// Requests in flight while the index is built.
const BUILD_CONCURRENCY: usize = 16;

/// Listing from the catalog index, and tags from one flat listing of a tags directory.
pub(super) struct Indexed {
    storage: Arc<dyn Storage>,
}

#[async_trait]
impl Catalog for Indexed {
    /// Marks the index of a storage without repositories complete (it is: it is empty), so that no
    /// `_catalog` request ever has to walk it.
    async fn start(&self) -> Result<()> {
        if self.exists(&paths::catalog_index_complete()).await?
            || self.exists(&paths::repositories_root()).await?
        {
            return Ok(());
        }
        self.mark_complete().await
    }

    /// One listing of the index started at `last`'s entry (entry keys sort as names do), so a page
    /// costs a request, whatever the size of the catalog.
    async fn page(&self, n: usize, last: Option<&str>) -> Result<Page> {
        self.ensure_built().await?;
        let after = last.map(paths::catalog_entry_key).unwrap_or_default();
        let keys = self
            .storage
            .walk_after(&paths::catalog_index_dir(), &after, n + 1)
            .await?;
        let mut entries: Vec<String> = keys
            .iter()
            .filter_map(|k| paths::catalog_entry_name(k))
            .filter(|name| name.parse::<RepoName>().is_ok())
            .collect();
        let more = keys.len() > n;
        entries.truncate(n);
        Ok(Page { entries, more })
    }

    /// The tags with a `current` link in one flat listing of the tags directory, as a delimiter
    /// listing may still name deleted tags on some S3 engines.
    async fn tags(&self, name: &RepoName) -> Result<Vec<Tag>> {
        let listed = self
            .storage
            .walk(&paths::tags_dir(name))
            .await
            .map(|files| {
                files
                    .iter()
                    .filter_map(|f| f.strip_suffix("/current/link"))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            });
        parse_tags(listed)
    }

    async fn added(&self, name: &RepoName) -> Result<()> {
        self.storage
            .put(&paths::catalog_entry(name), Bytes::from(name.to_string()))
            .await?;
        Ok(())
    }

    async fn removed(&self, name: &RepoName) -> Result<()> {
        self.delete_if_present(&paths::catalog_entry(name)).await
    }

    /// Adds entries for the repositories holding `_manifests`, removes entries older than `cutoff` of
    /// repositories without.
    async fn reconcile(
        &self,
        repositories: &[RepoName],
        cutoff: SystemTime,
        written_since: WrittenSince<'_>,
    ) -> Result<()> {
        let indexed: BTreeSet<String> = self.repositories().await?.into_iter().collect();
        let mut live = BTreeSet::new();
        for name in repositories {
            if self.exists(&paths::manifests_dir(name)).await? {
                live.insert(name.to_string());
                if !indexed.contains(name.as_str()) {
                    self.added(name).await?;
                }
            }
        }
        for stale in indexed.difference(&live) {
            let Ok(name) = stale.parse::<RepoName>() else {
                continue;
            };
            if written_since(&name) {
                continue;
            }
            let entry = paths::catalog_entry(&name);
            let old = walk::modified(self.storage.as_ref(), &entry)
                .await?
                .is_some_and(|t| t < cutoff);
            if old && !self.exists(&paths::manifests_dir(&name)).await? {
                self.delete_if_present(&entry).await?;
            }
        }
        Ok(())
    }
}

impl Indexed {
    /// The index over `storage`.
    pub(super) fn new(storage: Arc<dyn Storage>) -> Indexed {
        Indexed { storage }
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        match self.storage.stat(key).await {
            Ok(_) => Ok(true),
            Err(StorageError::NotFound(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_if_present(&self, key: &str) -> Result<()> {
        match self.storage.delete(key).await {
            Ok(()) | Err(StorageError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn ensure_built(&self) -> Result<()> {
        if !self.exists(&paths::catalog_index_complete()).await? {
            self.build().await?;
        }
        Ok(())
    }

    /// Every repository in the index, sorted; the index is built first if it never was.
    async fn repositories(&self) -> Result<Vec<String>> {
        self.ensure_built().await?;
        let entries = match self.storage.walk(&paths::catalog_index_dir()).await {
            Ok(e) => e,
            Err(StorageError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let names: BTreeSet<String> = entries
            .iter()
            .filter_map(|e| paths::catalog_entry_name(e))
            .filter(|name| name.parse::<RepoName>().is_ok())
            .collect();
        Ok(names.into_iter().collect())
    }

    async fn mark_complete(&self) -> Result<()> {
        let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        self.storage
            .put(&paths::catalog_index_complete(), Bytes::from(now))
            .await?;
        Ok(())
    }

    /// Builds the index from a full walk of `repositories/`, checking and recording repositories in
    /// batches of [`BUILD_CONCURRENCY`] (each is a request or two to the object store), then marks it
    /// complete.
    async fn build(&self) -> Result<()> {
        let names = walk::all_repositories(self.storage.as_ref()).await?;
        for batch in names.chunks(BUILD_CONCURRENCY) {
            try_join_all(batch.iter().map(|name| self.add_if_repository(name))).await?;
        }
        self.mark_complete().await
    }

    async fn add_if_repository(&self, name: &RepoName) -> Result<()> {
        if self.exists(&paths::manifests_dir(name)).await? {
            self.added(name).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::registry::gc::GcOptions;
    use crate::registry::Registry;
    use crate::registry::Settings;
    use crate::storage::memory::Memory;
    use crate::storage::Storage;

    /// Writes a revision link as another writer (distribution) would, without touching the index.
    async fn foreign_repo(storage: &Memory, name: &str) {
        let name: RepoName = name.parse().unwrap();
        let digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        storage
            .put(&paths::revision_link(&name, &digest), Bytes::from("x"))
            .await
            .unwrap();
    }

    /// The index is built by one walk when a layout has none, is then read instead of walking, and
    /// garbage collection adds what another writer created meanwhile.
    #[tokio::test]
    async fn index_is_derived_and_reconciled() {
        let storage = Memory::new();
        let registry = indexed(&storage);
        foreign_repo(&storage, "library/ubuntu").await;
        let page = registry.catalog(None, None).await.unwrap();
        assert_eq!(page.entries, vec!["library/ubuntu"]);
        assert!(storage.get(&paths::catalog_index_complete()).await.is_ok());

        foreign_repo(&storage, "other").await;
        let page = registry.catalog(None, None).await.unwrap();
        assert_eq!(
            page.entries,
            vec!["library/ubuntu"],
            "the index is read, not the tree"
        );

        let options = GcOptions {
            dry_run: false,
            delete_untagged: false,
            grace_period: Duration::from_secs(3600),
            retention: None,
            confirmed: None,
            pace: crate::registry::gc::Pace::FULL,
        };
        registry.collect_garbage(&options).await.unwrap();
        let page = registry.catalog(None, None).await.unwrap();
        assert_eq!(page.entries, vec!["library/ubuntu", "other"]);
    }

    /// Every page of every size, read from the index listing, equals the same page of the sorted
    /// names, for names that order differently as paths (`a/b` and `a-b`, `a` and `a.b`).
    #[tokio::test]
    async fn index_pages_follow_name_order() {
        let storage = Memory::new();
        let registry = indexed(&storage);
        registry.start_catalog_index().await.unwrap();
        let index = Indexed::new(Arc::new(storage.clone()));
        let mut all = vec![
            "a", "a-b", "a-b-c", "a.b", "a/b", "a/b-c", "a/b/c", "a0", "ab", "b", "b-a", "b.c/d",
            "c",
        ];
        for name in &all {
            index.added(&name.parse().unwrap()).await.unwrap();
        }
        all.sort_unstable();
        let all: Vec<String> = all.into_iter().map(String::from).collect();
        for n in 1..=all.len() + 1 {
            for last in std::iter::once(None).chain(all.iter().map(|l| Some(l.as_str()))) {
                let page = index.page(n, last).await.unwrap();
                let want = crate::registry::listing::paginate(&all, Some(n), last);
                assert_eq!(page, want, "n={n} last={last:?}");
            }
        }
    }

    fn indexed(storage: &Memory) -> Registry {
        Registry::new(
            Arc::new(storage.clone()),
            Settings {
                indexed_listing: true,
                ..Settings::for_tests()
            },
        )
    }

    /// A storage without repositories at start-up has its index marked complete (nothing to walk
    /// later); one that holds repositories is left for the first `_catalog` to build.
    #[tokio::test]
    async fn start_marks_only_an_empty_storage_complete() {
        let empty = Memory::new();
        indexed(&empty).start_catalog_index().await.unwrap();
        assert!(empty.get(&paths::catalog_index_complete()).await.is_ok());

        let used = Memory::new();
        foreign_repo(&used, "library/ubuntu").await;
        indexed(&used).start_catalog_index().await.unwrap();
        assert!(used.get(&paths::catalog_index_complete()).await.is_err());
        let page = indexed(&used).catalog(None, None).await.unwrap();
        assert_eq!(page.entries, vec!["library/ubuntu"]);
    }
}

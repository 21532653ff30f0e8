//! The catalog and tag indexes ([`Indexed`]), the [`Catalog`] of object storage (`Settings::indexed_listing`), where walking
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
//!
//! # Tags
//!
//! A tag exists iff its `current/link` does. Reading that for every tag costs a lot on S3: a flat
//! listing of `_manifests/tags/` returns every object of every tag (`current/link` and one
//! `index/<alg>/<hex>/link` per digest the tag ever pointed at), and SeaweedFS answers it by walking
//! five directory levels per tag: 0.6 s for 1,000 tags where listing one directory takes 24 ms
//! (`docs/benchmarks.md`). The cheap listings are wrong on their own:
//! - a delimiter listing of the tags directory (what distribution does) names every prefix still
//!   listed: SeaweedFS keeps listing a tag's prefix after all its objects are deleted (and `object_store`
//!   cannot address the directory keys that would remove it), and a tag whose delete stopped
//!   part-way, or that registry:2 or an older Wharf deleted, may keep `index/` links without
//!   `current/link`. Nothing in the listing tells those from live tags, and confirming each name is a
//!   request per tag (1 ms each on a local SeaweedFS, so no faster than the walk);
//! - so Wharf keeps a tag index, as it keeps the catalog index: an entry
//!   `_wharf/tag-index/<hex of name>/<tag>` ([`paths::tag_entry`]) per tag whose current link Wharf
//!   wrote, listed in one flat listing of one directory (one request per 1,000 tags, no levels to
//!   walk). Its entries follow the current links:
//!   - a push writes the entry after the current link, so an entry never precedes its tag (a push
//!     that stops in between was not acknowledged; its retry writes the entry);
//!   - a tag delete ([`Catalog::delete_tag`]) removes the entry first, then the tag's `index/` links,
//!     then `current/link` last, then the entry again (a garbage collection's reconcile may have
//!     put it back meanwhile). A delete stopped part-way leaves the tag whole or gone, never a
//!     listed tag without its current link: at worst a tag still resolvable but unlisted, which the
//!     retried delete removes;
//!   - garbage collection reconciles each repository's entries with its tags directory (an exact flat
//!     listing): entries are added for tags with a current link (and taken back if the link is gone
//!     right after), entries older than the grace period of tags without one are removed; then it
//!     marks the index complete (`_wharf/tag-index-complete`). Marking already read every current
//!     link, so for a repository nobody wrote since the collection began, an index naming exactly
//!     the tags marking read ([`super::catalog::TagSet`]) is left as it is without that listing.
//! - Until the index is complete (a bucket written by distribution or an older Wharf that no garbage
//!   collection has reconciled yet), tag lists use the exact flat listing. A bucket that holds no
//!   repository when Wharf starts is marked complete at once.
//!
//! Deletes and garbage collection, which must not miss a tag, read the tags directory itself
//! ([`Catalog::tags_on_storage`]). Another writer that does not maintain the index (registry:2 on the
//! same bucket, or a key deleted by hand) makes tag lists miss its new tags and keep its deleted ones
//! until the next garbage collection; `docs/s3.md` says so.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::future::try_join_all;
use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::catalog::{parse_tags, Catalog, Collected, TagSet};
use super::error::Result;
use super::gc::walk;
use super::listing::Page;
use super::names::{RepoName, Tag};
use crate::registry::paths;
use crate::storage::{Storage, StorageError};

/// Requests in flight while the index is built.
const BUILD_CONCURRENCY: usize = 16;

/// Listing from the catalog index and the tag index.
pub(super) struct Indexed {
    storage: Arc<dyn Storage>,
    /// Whether `_wharf/tag-index-complete` was seen (it is never removed).
    tags_complete: AtomicBool,
}

#[async_trait]
impl Catalog for Indexed {
    /// Marks the index of a storage without repositories complete (it is: it is empty), so that no
    /// `_catalog` request ever has to walk it.
    async fn start(&self) -> Result<()> {
        if self.exists(&paths::repositories_root()).await? {
            return Ok(());
        }
        if !self.exists(&paths::catalog_index_complete()).await? {
            self.mark_complete().await?;
        }
        if !self.tag_index_complete().await? {
            self.mark(&paths::tag_index_complete()).await?;
        }
        Ok(())
    }

    /// One listing of the index started at `last`'s entry (entry keys sort as names do), so a page
    /// costs a request, whatever the size of the catalog.
    async fn page(&self, n: usize, last: Option<&str>) -> Result<Page> {
        self.ensure_built().await?;
        let after = last.map(paths::catalog_entry_key).unwrap_or_default();
        self.index_page(&paths::catalog_index_dir(), &after, n, |k| {
            paths::catalog_entry_name(k).filter(|name| name.parse::<RepoName>().is_ok())
        })
        .await
    }

    /// The tag index's entries, once it is complete (see the module docs); until then, as
    /// [`Catalog::tags_on_storage`].
    async fn tags(&self, name: &RepoName) -> Result<Vec<Tag>> {
        if !self.tag_index_complete().await? {
            return self.tags_on_storage(name).await;
        }
        parse_tags(self.storage.walk(&paths::tag_index_dir(name)).await)
    }

    /// One listing of the tag index started at `last`'s entry, once the index is complete: a page
    /// costs a request, whatever the number of tags (tags hold no `/`, so their keys list in
    /// byte-wise order on every engine).
    async fn tag_page(
        &self,
        name: &RepoName,
        n: usize,
        last: Option<&str>,
    ) -> Result<Option<Page>> {
        if !self.tag_index_complete().await? {
            return Ok(None);
        }
        let dir = paths::tag_index_dir(name);
        let page = self.index_page(&dir, last.unwrap_or_default(), n, |k| {
            k.parse::<Tag>().ok().map(|_| k.to_string())
        });
        Ok(Some(page.await?))
    }

    /// The tags with a `current` link in one flat listing of the tags directory (exact, where a
    /// delimiter listing may name deleted tags).
    async fn tags_on_storage(&self, name: &RepoName) -> Result<Vec<Tag>> {
        parse_tags(self.current_links(name).await)
    }

    async fn added(&self, name: &RepoName) -> Result<()> {
        self.storage
            .put(&paths::catalog_entry(name), Bytes::from(name.to_string()))
            .await?;
        Ok(())
    }

    async fn tagged(&self, name: &RepoName, tag: &Tag) -> Result<()> {
        self.storage
            .put(&paths::tag_entry(name, tag), Bytes::from(tag.to_string()))
            .await?;
        Ok(())
    }

    /// The entry, the history (`index/`), the current link, the entry again (see the module docs).
    async fn delete_tag(&self, name: &RepoName, tag: &Tag) -> Result<bool> {
        let entry = paths::tag_entry(name, tag);
        self.delete_if_present(&entry).await?;
        let history = self
            .delete_found(&paths::tag_history_dir(name, tag))
            .await?;
        let rest = self.delete_found(&paths::tag_dir(name, tag)).await?;
        self.delete_if_present(&entry).await?;
        Ok(history || rest)
    }

    async fn removed(&self, name: &RepoName) -> Result<()> {
        self.delete_if_present(&paths::tag_index_dir(name)).await?;
        self.delete_if_present(&paths::catalog_entry(name)).await
    }

    /// Adds entries for the repositories holding `_manifests`, removes entries older than the cutoff
    /// of repositories without; then reconciles the tag index of each repository holding `_manifests`
    /// and marks it complete. A repository the collection kept and nobody wrote since holds
    /// `_manifests` without asking storage.
    async fn reconcile(&self, collected: &Collected<'_>) -> Result<()> {
        let written_since = collected.written_since;
        let kept = |name: &RepoName| match written_since(name) {
            true => None,
            false => (collected.kept_tags)(name),
        };
        let indexed: BTreeSet<String> = self.repositories().await?.into_iter().collect();
        let mut live = BTreeSet::new();
        // A request each on object storage: [`BUILD_CONCURRENCY`] in flight.
        // By index: a closure over `&RepoName` is not general enough for the future to be `Send`.
        let repositories = collected.repositories;
        let held: Vec<bool> = stream::iter(0..repositories.len())
            .map(|i| {
                let (name, kept) = (&repositories[i], kept(&repositories[i]));
                async move {
                    match kept {
                        Some(_) => Ok(true),
                        None => self.exists(&paths::manifests_dir(name)).await,
                    }
                }
            })
            .buffered(BUILD_CONCURRENCY)
            .try_collect()
            .await?;
        for (name, _) in repositories.iter().zip(held).filter(|(_, held)| *held) {
            live.insert(name.to_string());
            if !indexed.contains(name.as_str()) {
                self.added(name).await?;
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
                .is_some_and(|t| t < collected.cutoff);
            if old && !self.exists(&paths::manifests_dir(&name)).await? {
                self.delete_if_present(&entry).await?;
            }
        }
        let live: Vec<RepoName> = live.iter().filter_map(|n| n.parse().ok()).collect();
        stream::iter(0..live.len())
            .map(|i| self.reconcile_tags(&live[i], kept(&live[i]), collected))
            .buffer_unordered(BUILD_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        if !self.tag_index_complete().await? {
            self.mark(&paths::tag_index_complete()).await?;
            self.tags_complete.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

impl Indexed {
    /// The index over `storage`.
    pub(super) fn new(storage: Arc<dyn Storage>) -> Indexed {
        Indexed {
            storage,
            tags_complete: AtomicBool::new(false),
        }
    }

    async fn tag_index_complete(&self) -> Result<bool> {
        if self.tags_complete.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let complete = self.exists(&paths::tag_index_complete()).await?;
        self.tags_complete.store(complete, Ordering::Relaxed);
        Ok(complete)
    }

    /// The names of the tags with a current link, from one flat listing of the tags directory.
    async fn current_links(
        &self,
        name: &RepoName,
    ) -> std::result::Result<Vec<String>, StorageError> {
        self.storage
            .walk(&paths::tags_dir(name))
            .await
            .map(|files| {
                files
                    .iter()
                    .filter_map(|f| f.strip_suffix("/current/link"))
                    .map(str::to_string)
                    .collect()
            })
    }

    /// Makes a repository's tag index name the tags with a current link: adds the missing entries
    /// (taking one back when its current link is gone right after: a delete ran meanwhile), removes
    /// those of tags without one that are older than the cutoff, unless the repository was written
    /// since the collection began (putting one back when its current link appears right after: a
    /// push on another replica ran meanwhile). When the index names exactly the tags marking read
    /// (`kept`, for a repository nobody wrote since), it is left as it is without listing the tags
    /// directory (on S3 the costliest listing of a repository).
    async fn reconcile_tags(
        &self,
        name: &RepoName,
        kept: Option<TagSet>,
        collected: &Collected<'_>,
    ) -> Result<()> {
        let indexed: BTreeSet<Tag> =
            parse_tags(self.storage.walk(&paths::tag_index_dir(name)).await)?
                .into_iter()
                .collect();
        if kept.is_some_and(|k| k == TagSet::of(indexed.iter().map(Tag::as_str))) {
            return Ok(());
        }
        let tagged: BTreeSet<Tag> = self.tags_on_storage(name).await?.into_iter().collect();
        for tag in tagged.difference(&indexed) {
            self.tagged(name, tag).await?;
            if !self.exists(&paths::tag_current_link(name, tag)).await? {
                self.delete_if_present(&paths::tag_entry(name, tag)).await?;
            }
        }
        for tag in indexed.difference(&tagged) {
            if (collected.written_since)(name) {
                return Ok(());
            }
            let entry = paths::tag_entry(name, tag);
            let old = walk::modified(self.storage.as_ref(), &entry)
                .await?
                .is_some_and(|t| t < collected.cutoff);
            let current = paths::tag_current_link(name, tag);
            if old && !self.exists(&current).await? {
                self.delete_if_present(&entry).await?;
                if self.exists(&current).await? {
                    self.tagged(name, tag).await?;
                }
            }
        }
        Ok(())
    }

    /// Deletes `key` (a file or a directory); whether there was anything.
    async fn delete_found(&self, key: &str) -> Result<bool> {
        match self.storage.delete(key).await {
            Ok(()) => Ok(true),
            Err(StorageError::NotFound(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
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

    /// Up to `n` entries of an index directory after the key `after`, as `entry` names them (keys it
    /// cannot read are left out), and whether more follow: one listing.
    async fn index_page(
        &self,
        dir: &str,
        after: &str,
        n: usize,
        entry: impl Fn(&str) -> Option<String>,
    ) -> Result<Page> {
        let keys = self.storage.walk_after(dir, after, n + 1).await?;
        let mut entries: Vec<String> = keys.iter().filter_map(|k| entry(k)).collect();
        let more = keys.len() > n;
        entries.truncate(n);
        Ok(Page { entries, more })
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
        self.mark(&paths::catalog_index_complete()).await
    }

    /// Writes a completeness marker holding the time.
    async fn mark(&self, key: &str) -> Result<()> {
        let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        self.storage.put(key, Bytes::from(now)).await?;
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

    /// Writes a tag (history and current link) as another writer would, without touching the index.
    async fn foreign_tag(storage: &Memory, name: &str, tag: &str) {
        foreign_repo(storage, name).await;
        let (name, tag): (RepoName, Tag) = (name.parse().unwrap(), tag.parse().unwrap());
        let digest: crate::registry::digest::Digest =
            format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        let link = Bytes::from(digest.to_string());
        let history = paths::tag_index_link(&name, &tag, &digest);
        storage.put(&history, link.clone()).await.unwrap();
        storage
            .put(&paths::tag_current_link(&name, &tag), link)
            .await
            .unwrap();
    }

    async fn tags(registry: &Registry, name: &RepoName) -> Vec<String> {
        registry.list_tags(name, None, None).await.unwrap().entries
    }

    fn collect(grace_secs: u64) -> GcOptions {
        GcOptions {
            dry_run: false,
            delete_untagged: false,
            grace_period: Duration::from_secs(grace_secs),
            retention: None,
            confirmed: None,
            pace: crate::registry::gc::Pace::FULL,
        }
    }

    /// Tags of a layout without a complete tag index are read from the tags directory (a prefix
    /// holding only history is no tag); garbage collection builds the index and marks it complete,
    /// after which tag lists read the index: a tag deleted through the registry leaves it at once,
    /// whatever its delete order left, one whose current link another writer deleted at the next
    /// collection, which also adds the tags another writer pushed.
    #[tokio::test]
    async fn tag_index_is_built_by_gc_then_followed() {
        let storage = Memory::new();
        let registry = indexed(&storage);
        let name: RepoName = "app".parse().unwrap();
        for tag in ["v1", "v2", "v3"] {
            foreign_tag(&storage, "app", tag).await;
        }
        let v3: Tag = "v3".parse().unwrap();
        storage
            .delete(&paths::tag_current_link(&name, &v3))
            .await
            .unwrap();
        registry.start_catalog_index().await.unwrap();
        assert_eq!(tags(&registry, &name).await, vec!["v1", "v2"]);
        assert!(storage.get(&paths::tag_index_complete()).await.is_err());

        registry.collect_garbage(&collect(3600)).await.unwrap();
        assert!(storage.get(&paths::tag_index_complete()).await.is_ok());
        let fresh = indexed(&storage);
        assert_eq!(tags(&fresh, &name).await, vec!["v1", "v2"]);
        foreign_tag(&storage, "app", "v4").await;
        assert_eq!(
            tags(&fresh, &name).await,
            vec!["v1", "v2"],
            "the index is read"
        );

        fresh
            .delete_manifest(
                &name,
                &crate::registry::names::Reference::Tag("v1".parse().unwrap()),
            )
            .await
            .unwrap();
        let v2: Tag = "v2".parse().unwrap();
        storage
            .delete(&paths::tag_current_link(&name, &v2))
            .await
            .unwrap();
        fresh.collect_garbage(&collect(0)).await.unwrap();
        assert_eq!(tags(&fresh, &name).await, vec!["v4"]);
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

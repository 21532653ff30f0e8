//! Garbage collection: mark-and-sweep over the layout, safe to run while the registry serves, here
//! or in other processes on the same storage.
//!
//! 0. Unless it is a dry run, the collection announces itself in storage and waits the settle period
//!    ([`protocol`]), so writers everywhere record what they make reachable from then on.
//! 1. Mark ([`mark`]): every repository (including those that never held a manifest) is scanned; what
//!    each keeps is marked in one set of digests shared by all repositories.
//! 2. With `delete_untagged`, manifests nothing keeps lose their revision link (and tag history and
//!    referrer entries).
//! 3. Sweep: a blob is deleted, with every link to it, when it is unmarked, its data is older than the
//!    grace period, no repository linked it within the grace period, and no write touched it since
//!    the collection started: in this process ([`barrier`]) or any other ([`protocol`]). Deletions
//!    happen in sections that hold both barriers.
//! 4. Repositories left with no tag, manifest or upload session, and no recent link, are removed, so
//!    they leave the catalog; on object storage the catalog index is then reconciled with the walk
//!    ([`super::catalog_index`]).
//!
//! Only the [`Storage`](crate::storage::Storage) trait and [`paths`](crate::registry::paths) are used.
//! Nothing is cached above storage, so nothing stale is served afterwards. See
//! `docs/garbage-collection.md` for the design.

pub mod barrier;
mod mark;
pub mod protocol;
mod sweep;
pub(super) mod walk;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use super::digest::Digest;
use super::error::{RegistryError, Result};
use super::names::RepoName;
use super::Registry;

/// Deleted blobs per batch; writes wait for at most one batch.
const SWEEP_BATCH: usize = 64;

/// How a collection runs.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Report what would be deleted, delete nothing.
    pub dry_run: bool,
    /// Also delete manifests that no tag reaches (directly, as an index child or as a referrer).
    pub delete_untagged: bool,
    /// Content written or linked less than this long ago is kept.
    pub grace_period: Duration,
}

/// What a collection found and deleted (or, in a dry run, would delete).
#[derive(Debug, Clone, Default)]
pub struct GcReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Repositories scanned.
    pub repositories: usize,
    /// Distinct digests marked as in use.
    pub marked: usize,
    /// Untagged manifests deleted from repositories.
    pub manifests_deleted: Vec<(RepoName, Digest)>,
    /// Blobs deleted, with their sizes.
    pub blobs_deleted: Vec<(Digest, u64)>,
    /// Bytes of blob data freed.
    pub bytes_freed: u64,
    /// Repository links to deleted blobs removed.
    pub layer_links_removed: usize,
    /// Unused blobs kept because they are recent or a write touched them meanwhile.
    pub blobs_kept_recent: usize,
    /// Empty repositories removed.
    pub repositories_removed: Vec<RepoName>,
}

/// Both barriers, held for one section of deletions (never in a dry run): the in-process one
/// ([`barrier`]) and the collection's sweeping marker in storage ([`protocol`]).
struct Section<'a> {
    local: barrier::SweepGuard<'a>,
    shared: &'a protocol::Announced,
}

impl<'a> Section<'a> {
    async fn begin(
        collection: &'a barrier::Collection<'_>,
        shared: &'a protocol::Announced,
    ) -> Result<Section<'a>> {
        let local = collection.sweep().await;
        shared.begin_sweep().await?;
        Ok(Section { local, shared })
    }

    /// Whether a write since the collection started may have made `digest` reachable.
    fn touched_digest(&self, digest: &Digest) -> bool {
        self.local.touched_digest(digest) || self.shared.touched_digest(digest)
    }

    /// Whether a write since the collection started went to `repo`.
    fn touched_repo(&self, repo: &RepoName) -> bool {
        self.local.touched_repo(repo) || self.shared.touched_repo(repo)
    }

    /// Fails when the collection may no longer delete (it lost its lease).
    fn may_delete(&self) -> Result<()> {
        self.shared.check_lease()
    }

    /// Removes the sweeping marker, then lets this process's writes in.
    async fn end(self) -> Result<()> {
        self.shared.end_sweep().await
    }
}

impl Registry {
    /// Runs one garbage collection. Fails with `Unsupported` when one is already running in this
    /// process. Unless it is a dry run, the collection announces itself in storage first and waits
    /// the settle period ([`protocol`]).
    pub async fn collect_garbage(&self, options: &GcOptions) -> Result<GcReport> {
        let collection = self.gc.begin().await.ok_or(RegistryError::Unsupported(
            "a garbage collection is already running",
        ))?;
        if options.dry_run {
            return self.collect(&collection, None, options).await;
        }
        let announced = self.coordinator.announce().await?;
        let result = self.collect(&collection, Some(&announced), options).await;
        let withdrawn = announced.withdraw().await;
        let report = result?;
        withdrawn?;
        Ok(report)
    }

    async fn collect(
        &self,
        collection: &barrier::Collection<'_>,
        announced: Option<&protocol::Announced>,
        options: &GcOptions,
    ) -> Result<GcReport> {
        let cutoff = SystemTime::now()
            .checked_sub(options.grace_period)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let storage = self.storage.as_ref();
        let mut report = GcReport {
            dry_run: options.dry_run,
            ..GcReport::default()
        };
        let section = || async {
            match announced {
                Some(shared) => Section::begin(collection, shared).await.map(Some),
                None => Ok(None),
            }
        };

        let mut marks = HashSet::new();
        let mut scans = Vec::new();
        let repositories = walk::all_repositories(storage).await?;
        for name in &repositories {
            let scan = self.scan_repo(name).await?;
            let doomed = self
                .mark_repo(&scan, options.delete_untagged, cutoff, &mut marks)
                .await?;
            scans.push((scan, doomed));
        }
        report.repositories = scans.len();
        report.marked = marks.len();

        for (scan, doomed) in &scans {
            if doomed.is_empty() {
                continue;
            }
            let guard = section().await?;
            for d in doomed {
                if let Some(g) = &guard {
                    if g.touched_digest(d) {
                        continue;
                    }
                    g.may_delete()?;
                    self.delete_revision(scan, d).await?;
                }
                report
                    .manifests_deleted
                    .push((scan.name.clone(), d.clone()));
            }
            if let Some(g) = guard {
                g.end().await?;
            }
        }

        let mut linked_by: HashMap<&Digest, Vec<RepoName>> = HashMap::new();
        let mut recently_linked: HashSet<&Digest> = HashSet::new();
        for (scan, _) in &scans {
            for (d, t) in &scan.layer_links {
                linked_by.entry(d).or_default().push(scan.name.clone());
                if *t > cutoff {
                    recently_linked.insert(d);
                }
            }
        }
        let unused: Vec<_> = walk::all_blobs(storage)
            .await?
            .into_iter()
            .filter(|b| !marks.contains(&b.digest))
            .collect();
        let (recent, candidates): (Vec<_>, Vec<_>) = unused
            .into_iter()
            .partition(|b| b.modified > cutoff || recently_linked.contains(&b.digest));
        report.blobs_kept_recent = recent.len();
        for batch in candidates.chunks(SWEEP_BATCH) {
            let guard = section().await?;
            for blob in batch {
                let repos = linked_by.get(&blob.digest).cloned().unwrap_or_default();
                if let Some(g) = &guard {
                    if g.touched_digest(&blob.digest) {
                        report.blobs_kept_recent += 1;
                        continue;
                    }
                    g.may_delete()?;
                    self.delete_blob_everywhere(&blob.digest, &repos).await?;
                }
                report.layer_links_removed += repos.len();
                report.bytes_freed += blob.size;
                report.blobs_deleted.push((blob.digest.clone(), blob.size));
            }
            if let Some(g) = guard {
                g.end().await?;
            }
        }

        for (scan, doomed) in &scans {
            let recent_link = scan.layer_links.iter().any(|(_, t)| *t > cutoff);
            let left_revisions = scan.revisions.len() - doomed.len();
            if !scan.tags.is_empty() || left_revisions > 0 || scan.has_uploads || recent_link {
                continue;
            }
            if let Some(g) = section().await? {
                let keep = g.touched_repo(&scan.name) || !self.repo_is_empty(&scan.name).await?;
                if !keep {
                    g.may_delete()?;
                    self.remove_repo(&scan.name).await?;
                }
                g.end().await?;
                if keep {
                    continue;
                }
            }
            report.repositories_removed.push(scan.name.clone());
        }
        if let Some(g) = section().await? {
            g.may_delete()?;
            self.catalog
                .reconcile(&repositories, cutoff, &|r| g.touched_repo(r))
                .await?;
            g.end().await?;
        }
        Ok(report)
    }
}

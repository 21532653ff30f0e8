//! Garbage collection: mark-and-sweep over the layout, safe to run while the registry serves, here
//! or in other processes on the same storage.
//!
//! 0. Unless it is a dry run, the collection announces itself in storage and waits the settle period
//!    ([`protocol`]), so writers everywhere record what they make reachable from then on; with no
//!    process registered as a writer ([`writers`]) there is nothing to wait for.
//! 1. With retention policies ([`retain`]), each governed repository's doomed tags are deleted into
//!    the trash ([`super::retention`]).
//! 2. Mark ([`mark`]): every repository (including those that never held a manifest) is scanned, a
//!    few at a time; what each keeps is marked in one set of digests shared by all repositories.
//! 3. With `delete_untagged` (or a policy), manifests nothing keeps lose their revision link (and tag
//!    history and referrer entries): each repository's as soon as it is marked ([`untagged`]).
//! 4. Sweep: a blob is deleted, with every link to it, when it is unmarked, its data is older than the
//!    grace period, no repository linked it within the grace period, and no write touched it since
//!    the collection started: in this process ([`barrier`]) or any other ([`protocol`]). Deletions
//!    happen in sections that hold both barriers.
//! 5. Repositories left with no tag, manifest or upload session, and no recent link, are removed, so
//!    they leave the catalog; on object storage the catalog index is then reconciled with the walk
//!    ([`super::catalog_index`]).
//!
//! Inside a serving registry a collection is paced ([`pace`]): it rests between stretches of work
//! so that requests keep their latency.
//!
//! Only the [`Storage`](crate::storage::Storage) trait and [`paths`](crate::registry::paths) are used.
//! Nothing is cached above storage, so nothing stale is served afterwards. See
//! `docs/garbage-collection.md` for the design.

pub mod barrier;
mod mark;
mod marks;
pub mod pace;
pub mod protocol;
mod records;
mod retain;
mod sweep;
mod untagged;
pub(super) mod walk;
pub mod writers;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::catalog::{Collected, TagSet};
use super::digest::Digest;
use super::error::{RegistryError, Result};
use super::names::RepoName;
use super::paths;
use super::retention::trash::TrashEntry;
use super::retention::{Confirmed, Policies, RepoRetention, RetentionSummary};
use super::Registry;
use marks::Marks;
pub use pace::Pace;
use pace::Pacer;

/// Deletions per section of a paced collection (inside a serving registry); writes wait for at
/// most one section.
const SWEEP_BATCH: usize = 64;

/// Deletions per section at full speed (`wharf garbage-collect`): each section writes and removes
/// the collection's sweeping marker and reads the touched records, and no request waits on it.
const SWEEP_BATCH_FULL: usize = 512;

/// How a collection runs.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Report what would be deleted, delete nothing.
    pub dry_run: bool,
    /// Also delete manifests that no tag reaches (directly, as an index child or as a referrer).
    pub delete_untagged: bool,
    /// Content written or linked less than this long ago is kept.
    pub grace_period: Duration,
    /// Retention policies to apply first (see [`super::retention`]); `None` applies none.
    pub retention: Option<Arc<Policies>>,
    /// When set, retention deletes only these previewed and confirmed tags (of those the policies
    /// still doom); `None` deletes whatever the policies doom.
    pub confirmed: Option<Arc<Confirmed>>,
    /// How much of the machine the collection takes ([`pace`]): [`Pace::FULL`] for a collection
    /// of its own, less inside a serving registry.
    pub pace: Pace,
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
    /// What retention policies deleted, per governed repository with anything to delete.
    pub retention: Vec<RepoRetention>,
    /// Processes registered as writing to the storage when the collection announced itself
    /// ([`writers`]): it waited the settle period only when there were any. `None` in a dry run.
    pub writers: Option<usize>,
    /// How long each phase took, in order (see [`Phase`]).
    pub phases: Vec<(Phase, Duration)>,
}

/// A phase of a collection, as its report times it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Announcing the collection and waiting the settle period.
    Settle,
    /// Deleting the tags retention policies doom.
    Retention,
    /// Reading every repository and marking what it keeps.
    Mark,
    /// Deleting the revisions nothing keeps: what is left of it once marking ends (at full speed it
    /// runs beside marking).
    Manifests,
    /// Listing the blobs nothing marked: what is left of it once the untagged manifests are
    /// deleted (it runs beside them).
    ListBlobs,
    /// Deleting unused blobs and their links.
    Blobs,
    /// Removing empty repositories and reconciling the catalog.
    Repositories,
}

impl Phase {
    /// Its name in a report.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Settle => "settle period",
            Phase::Retention => "retention",
            Phase::Mark => "mark",
            Phase::Manifests => "untagged manifests",
            Phase::ListBlobs => "listing blobs",
            Phase::Blobs => "blobs",
            Phase::Repositories => "repositories",
        }
    }
}

/// Times a collection's phases one after another.
struct Clock(Instant);

impl Clock {
    fn start() -> Self {
        Clock(Instant::now())
    }

    /// Records the phase that ends now in `report`.
    fn lap(&mut self, report: &mut GcReport, phase: Phase) {
        self.lap_at(report, phase, Instant::now());
    }

    /// Records the phase that ended at `at` in `report` (the next one overlapped it until then).
    fn lap_at(&mut self, report: &mut GcReport, phase: Phase, at: Instant) {
        report
            .phases
            .push((phase, at.saturating_duration_since(self.0)));
        self.0 = at;
    }
}

impl GcReport {
    /// Logs each tag retention deleted (in a dry run: would delete) and each repository it left
    /// for its next run because a push reached it; `by` says what ran it.
    pub fn log_retention(&self, by: &str) {
        for repo in &self.retention {
            if repo.skipped_busy {
                tracing::info!(repository = %repo.repository, by,
                    "retention: a push reached the repository during the run; it is weighed again next run");
            }
            for tag in &repo.tags {
                tracing::info!(
                    repository = %repo.repository,
                    tag = %tag.tag,
                    digest = %tag.digest,
                    reason = %tag.reason,
                    dry_run = self.dry_run,
                    by,
                    "retention: tag deleted into the trash"
                );
            }
        }
    }

    /// The retention document of a collection that applied (or previewed) retention.
    pub fn retention_summary(self) -> RetentionSummary {
        RetentionSummary {
            dry_run: self.dry_run,
            tags_deleted: self.retention.iter().map(|r| r.tags.len()).sum(),
            repositories: self.retention,
            manifests_deleted: self.manifests_deleted.len(),
            blobs_deleted: self.blobs_deleted.len(),
            bytes_freed: self.bytes_freed,
        }
    }
}

/// Both barriers, held for one section of deletions (never in a dry run): the in-process one
/// ([`barrier`]) and the collection's sweeping marker in storage ([`protocol`]).
struct Section<'a> {
    local: barrier::SweepGuard<'a>,
    shared: &'a protocol::Announced,
}

impl<'a> Section<'a> {
    /// Begins a section of a collection `announced` in storage; a dry run (`None`) has none.
    async fn begin(
        collection: &'a barrier::Collection<'_>,
        announced: Option<&'a protocol::Announced>,
    ) -> Result<Option<Section<'a>>> {
        let Some(shared) = announced else {
            return Ok(None);
        };
        let local = collection.sweep().await;
        shared.begin_sweep().await?;
        Ok(Some(Section { local, shared }))
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
    /// the settle period ([`protocol`]), reading ahead meanwhile the repositories' links where that
    /// warms a cache ([`Registry::read_ahead`]).
    pub async fn collect_garbage(&self, options: &GcOptions) -> Result<GcReport> {
        let collection = self.gc.begin().await.ok_or(RegistryError::Unsupported(
            "a garbage collection is already running",
        ))?;
        let mut clock = Clock::start();
        let mut report = GcReport {
            dry_run: options.dry_run,
            ..GcReport::default()
        };
        if options.dry_run {
            self.collect(&collection, None, options, &mut report, clock)
                .await?;
            return Ok(report);
        }
        let announced = self
            .coordinator
            .announce(self.read_ahead(options.pace))
            .await?;
        clock.lap(&mut report, Phase::Settle);
        report.writers = Some(announced.writers());
        let result = self
            .collect(&collection, Some(&announced), options, &mut report, clock)
            .await;
        let withdrawn = announced.withdraw().await;
        result?;
        withdrawn?;
        Ok(report)
    }

    /// Removes this process's record as a writer to the storage ([`writers`]) once no write is in
    /// flight, so that collections no longer settle for it: what a process done writing calls
    /// (a server after its drain, a command at its end). Returns whether the record is gone.
    pub async fn retire_writer(&self) -> Result<bool> {
        self.coordinator.retire().await
    }

    async fn collect(
        &self,
        collection: &barrier::Collection<'_>,
        announced: Option<&protocol::Announced>,
        options: &GcOptions,
        report: &mut GcReport,
        mut clock: Clock,
    ) -> Result<()> {
        let cutoff = SystemTime::now()
            .checked_sub(options.grace_period)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let storage = self.storage.as_ref();
        let pacer = Pacer::new(options.pace);
        let pacer = &pacer;
        let section = || Section::begin(collection, announced);

        let now = SystemTime::now();
        let repositories = walk::all_repositories(storage).await?;
        let mut trash = self.trash_by_repository().await?;
        if let Some(policies) = &options.retention {
            for name in &repositories {
                let Some(policy) = policies.for_repository(name) else {
                    continue;
                };
                pacer.rest().await;
                let mut scan = self.scan_repo(name).await?;
                let mut doomed = self.doomed_tags(&scan, policy, pacer, now).await?;
                if let Some(confirmed) = &options.confirmed {
                    doomed.retain(|(facts, _)| confirmed.contains(name, &facts.tag, &facts.digest));
                }
                if doomed.is_empty() {
                    continue;
                }
                let guard = section().await?;
                let (outcome, trashed) = self
                    .delete_doomed(
                        &mut scan,
                        policy,
                        doomed,
                        guard.as_ref(),
                        pacer,
                        retain::Stamp::new(now, policies.trash_period),
                    )
                    .await?;
                if let Some(g) = guard {
                    g.end().await?;
                }
                for entry in trashed {
                    let entries = trash.entry(entry.repository.clone()).or_default();
                    entries.retain(|e| e.tag != entry.tag);
                    entries.push(entry);
                }
                report.retention.push(outcome);
            }
            clock.lap(report, Phase::Retention);
        }

        // Each repository's doomed revisions go to the untagged deletes as soon as it is marked
        // ([`untagged`]); at full pace the deletes run beside marking, and then beside the listing
        // of blobs.
        let sweep_batch = match options.pace.is_full() {
            true => SWEEP_BATCH_FULL,
            false => SWEEP_BATCH,
        };
        let (feed, doomed_feed) = tokio::sync::mpsc::unbounded_channel();
        let deletes = untagged::Deletes {
            collection,
            announced,
            pacer,
            batch: sweep_batch,
            beside_marking: options.pace.is_full(),
        };
        let delete_untagged = async {
            let deleted = self.delete_untagged(doomed_feed, &deletes).await?;
            Ok::<_, RegistryError>((deleted, Instant::now()))
        };
        // Repositories are read and marked several at a time, as many as the storage's read width
        // (each with marks of its own, merged in order): the reads are independent, and each is a
        // round trip on S3 or a disk read on a cold filesystem. Retention has already deleted its
        // tags, so each repository is read afresh here.
        let run = mark::Run {
            options,
            pacer,
            cutoff,
            now,
        };
        let (run, retention) = (&run, &report.retention);
        let trash_of = |name: &RepoName| trash.get(name).map(Vec::as_slice).unwrap_or_default();
        let mark_then_list = async {
            let mut marks = Marks::default();
            let mut scans = Vec::new();
            let mut retention_blobs: HashMap<RepoName, HashSet<Digest>> = HashMap::new();
            // Each repository's work is made as it starts (not all 10,000 at once: each is a few
            // KiB).
            let mut scanned = stream::iter(0..repositories.len())
                .map(|i| {
                    let name = &repositories[i];
                    let retained = retention.iter().find(|r| r.repository == *name);
                    self.scan_and_mark(name, trash_of(name), retained, run)
                })
                .buffered(pacer.width(storage.read_width()));
            while let Some(next) = scanned.next().await {
                let (mut scan, doomed, own, left, used) = next?;
                marks.merge(own);
                // Only links to blobs nothing has marked yet can matter to the sweep, and marks
                // only grow: most links (shared base layers) are dropped here rather than held to
                // the end.
                scan.layer_links.retain(|d| !marks.contains(d));
                scan.layer_links.shrink_to_fit();
                if let Some(used) = used {
                    retention_blobs.insert(scan.name.clone(), used);
                }
                if !doomed.is_empty() {
                    // The deletes end only by an error, which fails the collection anyway.
                    let _ = feed.send((scan.name.clone(), doomed));
                }
                scans.push((scan, left));
            }
            drop(scanned);
            drop(feed);
            let marked = Instant::now();
            // The links to blobs nothing marked are read beside the listing (their times decide
            // whether a blob was linked within the grace period); a link directory without its
            // link is none. Deleting revisions changes no mark, and the listing reads only the
            // blob store.
            let unmarked_links: Vec<(&RepoName, &Digest)> = scans
                .iter()
                .flat_map(|(scan, _)| {
                    let name = &scan.name;
                    scan.layer_links.iter().map(move |d| (name, d))
                })
                .filter(|(_, d)| !marks.contains(d))
                .collect();
            let blobs = walk::unmarked_blobs(storage, &marks, pacer).await?;
            let links = walk::link_times(storage, &unmarked_links, pacer).await?;
            let links: Vec<(RepoName, Digest, SystemTime)> = links
                .into_iter()
                .map(|(name, d, t)| (name.clone(), d.clone(), t))
                .collect();
            Ok::<_, RegistryError>((marks, scans, retention_blobs, marked, blobs, links))
        };
        let (listed, deleted) = tokio::try_join!(mark_then_list, delete_untagged)?;
        let (marks, scans, retention_blobs, marked, mut candidates, links) = listed;
        let (manifests_deleted, deleted_at) = deleted;
        report.repositories = scans.len();
        report.marked = marks.len();
        report.manifests_deleted.extend(manifests_deleted);
        clock.lap_at(report, Phase::Mark, marked);
        clock.lap_at(report, Phase::Manifests, deleted_at.max(marked));

        let mut linked_by: HashMap<&Digest, Vec<&RepoName>> = HashMap::new();
        let mut recently_linked: HashSet<&Digest> = HashSet::new();
        for (name, d, t) in &links {
            linked_by.entry(d).or_default().push(name);
            if *t > cutoff {
                recently_linked.insert(d);
            }
        }
        // A retention preview counts the blobs of the manifests it would delete however recent:
        // they are freed once the trash period ends.
        let previewed: HashSet<&Digest> = match options.dry_run {
            true => retention_blobs.values().flatten().collect(),
            false => HashSet::new(),
        };
        let unused = candidates.len();
        candidates.retain(|b| {
            !(b.modified > cutoff || recently_linked.contains(&b.digest))
                || previewed.contains(&b.digest)
        });
        report.blobs_kept_recent = unused - candidates.len();
        // Deletes in flight at once go to different fan-out directories.
        candidates.sort_unstable_by(|a, b| {
            paths::fan_out_spread(&a.digest).cmp(paths::fan_out_spread(&b.digest))
        });
        clock.lap(report, Phase::ListBlobs);
        // Taken a section at a time, so each digest moves into the report rather than being copied.
        let mut candidates = candidates.into_iter();
        loop {
            let batch: Vec<walk::StoredBlob> = candidates.by_ref().take(sweep_batch).collect();
            if batch.is_empty() {
                break;
            }
            let guard = section().await?;
            let touched: Vec<bool> = batch
                .iter()
                .map(|b| guard.as_ref().is_some_and(|g| g.touched_digest(&b.digest)))
                .collect();
            let mut pending = Vec::with_capacity(batch.len());
            for (blob, _) in batch.iter().zip(&touched).filter(|(_, t)| !**t) {
                let repos = linked_by
                    .get(&blob.digest)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                report.layer_links_removed += repos.len();
                if let Some(g) = &guard {
                    pending.push(async move {
                        pacer.rest().await;
                        g.may_delete()?;
                        self.delete_blob_everywhere(&blob.digest, repos).await
                    });
                }
            }
            // A blob's deletes keep their order (links, then data); blobs go a few at a time.
            stream::iter(pending)
                .buffer_unordered(pacer.width(walk::CONCURRENCY))
                .try_collect::<Vec<()>>()
                .await?;
            for (blob, touched) in batch.into_iter().zip(touched) {
                if touched {
                    report.blobs_kept_recent += 1;
                    continue;
                }
                report.bytes_freed += blob.size;
                report.blobs_deleted.push((blob.digest, blob.size));
            }
            if let Some(g) = guard {
                g.end().await?;
            }
        }
        report.blobs_deleted.sort_unstable();
        clock.lap(report, Phase::Blobs);

        for (scan, left) in &scans {
            if left.tagged
                || left.revisions > 0
                || scan.has_uploads
                || self.linked_since(&scan.name, cutoff).await?
            {
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
            let kept: HashMap<&RepoName, TagSet> = scans
                .iter()
                .filter(|(scan, left)| left.revisions > 0 || scan.current_tags.is_some())
                .map(|(scan, _)| {
                    let tags = scan.current_tags.unwrap_or_else(|| TagSet::of([]));
                    (&scan.name, tags)
                })
                .collect();
            self.catalog
                .reconcile(&Collected {
                    repositories: &repositories,
                    cutoff,
                    written_since: &|r| g.touched_repo(r),
                    kept_tags: &|r| kept.get(r).copied(),
                })
                .await?;
            g.end().await?;
        }
        account_retention(report, retention_blobs);
        if announced.is_some() {
            self.empty_expired_trash(&trash, now).await?;
        }
        clock.lap(report, Phase::Repositories);
        Ok(())
    }

    /// Removes expired trash entries whose manifest is gone or whose tag was pushed again: nothing
    /// is left to restore or to protect.
    async fn empty_expired_trash(
        &self,
        trash: &HashMap<RepoName, Vec<TrashEntry>>,
        now: SystemTime,
    ) -> Result<()> {
        for entry in trash.values().flatten().filter(|e| e.expired(now)) {
            let revision = paths::revision_link(&entry.repository, &entry.digest);
            let tag = paths::tag_current_link(&entry.repository, &entry.tag);
            if !self.exists(&revision).await? || self.exists(&tag).await? {
                self.forget_trashed(&entry.repository, &entry.tag).await?;
            }
        }
        Ok(())
    }
}

/// Fills in each governed repository's deleted manifests, and the bytes freed of the blobs its
/// doomed manifests used (`blobs`, by repository): blobs no kept manifest shares.
fn account_retention(report: &mut GcReport, blobs: HashMap<RepoName, HashSet<Digest>>) {
    let freed: HashMap<&Digest, u64> = report.blobs_deleted.iter().map(|(d, s)| (d, *s)).collect();
    let accounted: Vec<(Vec<Digest>, u64)> = report
        .retention
        .iter()
        .map(|outcome| {
            let manifests = report
                .manifests_deleted
                .iter()
                .filter(|(repo, _)| *repo == outcome.repository)
                .map(|(_, d)| d.clone())
                .collect();
            let used = blobs.get(&outcome.repository).into_iter().flatten();
            (manifests, used.filter_map(|d| freed.get(d)).sum())
        })
        .collect();
    for (outcome, (manifests, bytes)) in report.retention.iter_mut().zip(accounted) {
        outcome.manifests = manifests;
        outcome.bytes_freed = bytes;
    }
}

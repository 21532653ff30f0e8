//! The storage protocol that keeps garbage collection safe beside writers in other processes (the
//! `wharf garbage-collect` command beside a server, replicas sharing a bucket). It owns
//! `_wharf/gc/` ([`paths`]) and uses only `put`, `get`, `stat`, `list`, `walk` and `delete`.
//!
//! - **Announcement.** A collection writes `_wharf/gc/running/<id>` (a JSON record with a beat
//!   counter), rewrites it every [`Timing::lease`]`/5` while it runs, and waits [`Timing::settle`]
//!   before it reads anything to mark.
//! - **Writers.** Every write that makes content reachable (finishing an upload, a mount, storing a
//!   manifest, opening an upload session) first reads the announcements (a cached read, at most one
//!   listing per `settle/10`). While one is live it records what it is about to make reachable (its
//!   repository and digests) as `_wharf/gc/touched/<id>/<uuid>`, then waits until that collection is
//!   not deleting (no `_wharf/gc/sweeping/<id>`), and only then checks and writes.
//! - **Sweep.** A collection deletes in sections: it writes `_wharf/gc/sweeping/<id>`, reads every
//!   touched record, deletes what no record names, and removes the marker.
//!
//! Why no acknowledged write is lost, for a write W and a collection C:
//! - W saw C announced and recorded a touch, then saw no sweeping marker. Each of C's sections that
//!   starts later writes its marker after W's read, so reads the records after W's touch, and skips
//!   what W touched. A section that was running when W looked had finished (W waited), so W's checks
//!   see its deletions: a blob deleted is uploaded again, a manifest over it is refused.
//! - W saw no announcement. Its read started before C's announcement was visible, and W's writes
//!   completed within `settle/2` of that read start, else W takes the slow path below. C waits
//!   `settle` after announcing before it marks, so its mark reads W's writes. C skips the wait only
//!   when it lists no writer record once its announcement is visible; but W's process wrote its
//!   record ([`writers`]) before W's read and keeps it while W is in flight (else W has outlasted
//!   `settle/2`: the slow path), so that cannot happen to a W that saw no announcement.
//! - W took longer than `settle/2` (a slow disk, a slow request). Before acknowledging, W reads the
//!   announcements afresh, records a touch in each live one and waits as above, then checks that
//!   what it wrote and relies on still exists; if not, the client gets a retryable error
//!   (503 `UNAVAILABLE`) instead of an acknowledgement of something a collection deleted.
//!
//! Staleness. A collection is alive while its record keeps changing: a process that sees the same
//! record for a whole lease (on its own monotonic clock, so clocks need not agree) takes the
//! collection for crashed, stops waiting for it and removes its files. A collection fences itself:
//! it stops deleting, and fails, once its last successful beat started half a lease ago, and never
//! beats again after a late beat; so by the time others can take it for dead it deletes nothing
//! more (given that one storage request takes less than half a lease). A crashed writer leaves at
//! most a touched record, which only keeps something one collection longer; records of finished
//! collections are removed by the next collection that starts.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::records::{ids_in, Seen};
use super::writers::{self, Active, Registration};
use crate::registry::digest::Digest;
use crate::registry::error::{RegistryError, Result};
use crate::registry::names::RepoName;
use crate::registry::paths;
use crate::storage::{Storage, StorageError};

/// How long a collection's record may stay unchanged before others take the collection for dead.
pub const LEASE: Duration = Duration::from_secs(30);

/// How long a writer's record may stay unchanged before others take the writer for dead
/// ([`writers`]): writers rewrite theirs every 2 minutes (on object storage, about 30 writes and 30
/// listings an hour per writer).
pub const WRITER_LEASE: Duration = Duration::from_secs(600);

/// The protocol's durations. Every process on one storage must use the same `settle`.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long a collection waits between announcing itself and marking.
    pub settle: Duration,
    /// How long a collection's record may stay unchanged before it is taken for dead.
    pub lease: Duration,
    /// How long a writer's record may stay unchanged before it is taken for dead; at least
    /// `settle`, so that a write in flight when its writer's record is taken for dead has outlasted
    /// half a settle period and takes the slow path.
    pub writer_lease: Duration,
}

impl Timing {
    /// The timing for a settle period, with the standard [`LEASE`] and [`WRITER_LEASE`].
    pub fn new(settle: Duration) -> Self {
        Timing {
            settle,
            lease: LEASE,
            writer_lease: WRITER_LEASE.max(settle),
        }
    }

    /// Longest time from a writer's read of the announcements to the end of its writes for the read
    /// to count.
    fn write_bound(&self) -> Duration {
        self.settle / 2
    }

    /// How long a writer reuses a read of the announcements.
    fn cache_period(&self) -> Duration {
        self.settle / 10
    }

    /// How often a collection rewrites its record.
    fn beat_every(&self) -> Duration {
        self.lease / 5
    }

    /// How long after the start of its last successful beat a collection still deletes.
    fn fence(&self) -> Duration {
        self.lease / 2
    }

    /// How often a waiting writer looks again.
    fn poll(&self) -> Duration {
        (self.settle / 10).clamp(Duration::from_millis(10), Duration::from_millis(100))
    }
}

/// A collection's record in `_wharf/gc/running/`.
#[derive(Debug, Serialize)]
struct Announcement {
    id: String,
    host: String,
    pid: u32,
    started: String,
    beat: u64,
}

/// What a write made reachable, in `_wharf/gc/touched/<id>/`.
#[derive(Debug, Serialize, Deserialize)]
struct Touch {
    repo: String,
    digests: Vec<String>,
}

/// The last read of the announcements, and how long each record has been seen unchanged.
#[derive(Default)]
struct View {
    read_at: Option<Instant>,
    live: Vec<Uuid>,
    seen: Seen,
}

/// One process's side of the protocol: writers' checks and records, and announcing collections.
pub struct Coordinator {
    storage: Arc<dyn Storage>,
    timing: Timing,
    view: tokio::sync::Mutex<View>,
    /// This process's record as a writer, made at its first write.
    writers: Registration,
}

/// What a write saw of collections when it started; given back to [`Coordinator::leave`].
#[must_use = "a write must leave the protocol before it is acknowledged"]
pub struct Entered {
    read_at: Instant,
    /// Counts the write in until it leaves (or is dropped), so the writer's record stays meanwhile.
    active: Active,
}

async fn delete_if_present(storage: &dyn Storage, key: &str) -> Result<()> {
    match storage.delete(key).await {
        Ok(()) | Err(StorageError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn exists(storage: &dyn Storage, key: &str) -> Result<bool> {
    match storage.stat(key).await {
        Ok(_) => Ok(true),
        Err(StorageError::NotFound(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The collection ids that files below a directory are named after (`<id>` or `<id>/...`). Exact
/// where a listing is not: object stores may keep listing a prefix whose files were deleted.
async fn ids_with_files(storage: &dyn Storage, dir: &str) -> Result<HashSet<Uuid>> {
    let files = match storage.walk(dir).await {
        Ok(files) => files,
        Err(StorageError::NotFound(_)) => return Ok(HashSet::new()),
        Err(e) => return Err(e.into()),
    };
    Ok(files
        .iter()
        .filter_map(|f| Uuid::try_parse(f.split('/').next().unwrap_or_default()).ok())
        .collect())
}

/// Removes what a collection left: its sweeping marker, touched records and record.
async fn remove_collection(storage: &dyn Storage, id: &Uuid) -> Result<()> {
    delete_if_present(storage, &paths::gc_sweeping(id)).await?;
    delete_if_present(storage, &paths::gc_announcement(id)).await?;
    // A write that saw the announcement before it went may still be adding its record here, so the
    // directory can refuse to go (not empty); its records are harmless once the collection is over,
    // and the next collection removes them.
    if let Err(e) = delete_if_present(storage, &paths::gc_touched_dir(id)).await {
        tracing::debug!(collection = %id, error = %e, "touched records left for the next collection");
    }
    Ok(())
}

impl Coordinator {
    /// The protocol over `storage`.
    pub fn new(storage: Arc<dyn Storage>, timing: Timing) -> Self {
        Coordinator {
            storage,
            timing,
            view: Default::default(),
            writers: Default::default(),
        }
    }

    /// The live collections, from a read younger than the cache period unless `fresh`, and when that
    /// read started. Records unchanged for a lease are removed.
    async fn live(&self, fresh: bool) -> Result<(Instant, Vec<Uuid>)> {
        let mut view = self.view.lock().await;
        if let Some(at) = view.read_at {
            if !fresh && at.elapsed() < self.timing.cache_period() {
                return Ok((at, view.live.clone()));
            }
        }
        let storage = self.storage.as_ref();
        let at = Instant::now();
        let listed = ids_in(storage, &paths::gc_announcements_dir()).await?;
        let mut live = Vec::new();
        for id in &listed {
            let record = match storage.get(&paths::gc_announcement(id)).await {
                Ok(r) => r,
                Err(StorageError::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            if view.seen.alive(*id, record, self.timing.lease) {
                live.push(*id);
            } else {
                tracing::warn!(collection = %id, "a garbage collection stopped renewing its lease: removing its records");
                remove_collection(storage, id).await?;
            }
        }
        view.seen.keep_only(&listed);
        view.read_at = Some(at);
        view.live = live.clone();
        Ok((at, live))
    }

    /// Records that a write to `repo` is about to make `digests` reachable in every live collection,
    /// then waits until none of them is deleting.
    async fn record(&self, live: &[Uuid], repo: &RepoName, digests: &[Digest]) -> Result<()> {
        let touch = Touch {
            repo: repo.to_string(),
            digests: digests.iter().map(Digest::to_string).collect(),
        };
        let body = Bytes::from(serde_json::to_vec(&touch).expect("a touch serialises"));
        for id in live {
            self.storage
                .put(&paths::gc_touched(id, &Uuid::new_v4()), body.clone())
                .await?;
        }
        for id in live {
            self.wait_idle(id).await?;
        }
        Ok(())
    }

    /// Waits until collection `id` is not deleting: no sweeping marker, or the collection is over or
    /// dead.
    async fn wait_idle(&self, id: &Uuid) -> Result<()> {
        let storage = self.storage.as_ref();
        loop {
            if !exists(storage, &paths::gc_sweeping(id)).await? {
                return Ok(());
            }
            let record = match storage.get(&paths::gc_announcement(id)).await {
                Ok(r) => r,
                Err(StorageError::NotFound(_)) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            if !self
                .view
                .lock()
                .await
                .seen
                .alive(*id, record, self.timing.lease)
            {
                return Ok(());
            }
            tokio::time::sleep(self.timing.poll()).await;
        }
    }

    /// Enters a write to `repo` that may make `digests` reachable: before its checks and writes.
    /// The process registers as a writer first ([`writers`]), and reads the announcements afresh
    /// when it has just (re)written its record.
    pub async fn enter(&self, repo: &RepoName, digests: &[Digest]) -> Result<Entered> {
        let (active, registered) = self
            .writers
            .enter(&self.storage, self.timing.writer_lease)
            .await?;
        let (read_at, live) = self.live(registered).await?;
        if !live.is_empty() {
            self.record(&live, repo, digests).await?;
        }
        Ok(Entered { read_at, active })
    }

    /// Removes this process's writer record once no write is in flight, waiting at most a settle
    /// period for that: a process done writing (a server after its drain, a command at its end)
    /// lets collections mark without settling. Returns whether the record is gone.
    pub async fn retire(&self) -> Result<bool> {
        self.writers
            .retire(self.storage.as_ref(), self.timing.settle)
            .await
    }

    /// Leaves a write, after its writes and before it is acknowledged. When it took longer than the
    /// protocol allows, it records itself in the collections live now and then fails with
    /// `Unavailable` if any key of `must_exist` (what it wrote and relies on) is gone.
    pub async fn leave(
        &self,
        entered: Entered,
        repo: &RepoName,
        digests: &[Digest],
        must_exist: &[String],
    ) -> Result<()> {
        let Entered { read_at, active } = entered;
        if read_at.elapsed() <= self.timing.write_bound() {
            return Ok(());
        }
        let (_, live) = self.live(true).await?;
        if !live.is_empty() {
            self.record(&live, repo, digests).await?;
        }
        for key in must_exist {
            if !exists(self.storage.as_ref(), key).await? {
                return Err(RegistryError::Unavailable(format!(
                    "a garbage collection removed content of this write to {repo} while it ran; retry"
                )));
            }
        }
        drop(active);
        Ok(())
    }

    /// Announces a collection, removes what finished collections left, and returns once the settle
    /// period has passed, running `meanwhile` until then at most (it is dropped unfinished when the
    /// period ends; nothing it reads may decide what the collection deletes). With no writer
    /// registered once the announcement is visible ([`writers`]), there is no settle period: a
    /// writer registering later reads the announcements after its record is written, so sees this
    /// one before it writes.
    pub async fn announce(&self, meanwhile: impl Future<Output = ()>) -> Result<Announced> {
        let storage = self.storage.as_ref();
        let mut leftovers = ids_with_files(storage, &paths::gc_touched_root()).await?;
        leftovers.extend(ids_with_files(storage, &paths::gc_sweeping_dir()).await?);
        for id in leftovers {
            if !exists(storage, &paths::gc_announcement(&id)).await? {
                remove_collection(storage, &id).await?;
            }
        }

        let id = Uuid::new_v4();
        let mut record = Announcement {
            id: id.to_string(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
            started: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            beat: 0,
        };
        let started = Instant::now();
        storage
            .put(&paths::gc_announcement(&id), announcement_bytes(&record))
            .await?;
        let visible = Instant::now();
        let writers = writers::registered(storage).await?.len();
        let settle = match writers {
            0 => Duration::ZERO,
            _ => self.timing.settle,
        };
        tracing::info!(collection = %id, writers, settle = %humantime::format_duration(settle), "garbage collection announced");
        let lease = Arc::new(Lease {
            last_ok: Mutex::new(started),
            lost: AtomicBool::new(false),
        });
        let beat = tokio::spawn({
            let (storage, lease, timing) = (self.storage.clone(), lease.clone(), self.timing);
            async move {
                loop {
                    tokio::time::sleep(timing.beat_every()).await;
                    let start = Instant::now();
                    if start.duration_since(lease.last_ok()) > timing.fence() {
                        lease.lost.store(true, Ordering::SeqCst);
                        return;
                    }
                    record.beat += 1;
                    let key = paths::gc_announcement(&id);
                    match storage.put(&key, announcement_bytes(&record)).await {
                        Ok(()) => *lease.last_ok.lock().unwrap_or_else(|p| p.into_inner()) = start,
                        Err(e) => {
                            tracing::warn!(error = %e, "garbage collection lease not renewed")
                        }
                    }
                }
            }
        });
        let announced = Announced {
            id,
            storage: self.storage.clone(),
            timing: self.timing,
            lease,
            beat,
            touched: Default::default(),
            writers,
        };
        let settled = (visible + settle).into();
        // Whether `meanwhile` finishes or is cut off, the collection reads nothing before `settled`.
        if !settle.is_zero() {
            let _ = tokio::time::timeout_at(settled, meanwhile).await;
            tokio::time::sleep_until(settled).await;
        }
        Ok(announced)
    }
}

fn announcement_bytes(record: &Announcement) -> Bytes {
    Bytes::from(serde_json::to_vec(record).expect("an announcement serialises"))
}

/// A collection's hold on its announcement.
struct Lease {
    /// Start of the last successful beat.
    last_ok: Mutex<Instant>,
    /// Set for good once a beat came too late.
    lost: AtomicBool,
}

impl Lease {
    fn last_ok(&self) -> Instant {
        *self.last_ok.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What the touched records of a collection named, as read so far.
#[derive(Default)]
struct Touched {
    records: HashSet<String>,
    digests: HashSet<Digest>,
    repos: HashSet<RepoName>,
}

/// A running, announced collection: beats while it lives, deletes only inside sections
/// ([`Announced::begin_sweep`] to [`Announced::end_sweep`]) and skips what writers touched.
pub struct Announced {
    id: Uuid,
    storage: Arc<dyn Storage>,
    timing: Timing,
    lease: Arc<Lease>,
    beat: JoinHandle<()>,
    touched: Mutex<Touched>,
    writers: usize,
}

impl Announced {
    /// How many processes were registered as writers when the announcement was visible (the
    /// collection settled only when there were any).
    pub fn writers(&self) -> usize {
        self.writers
    }

    fn touched(&self) -> std::sync::MutexGuard<'_, Touched> {
        // A poisoned lock only means a panic elsewhere; the sets stay usable.
        self.touched.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fails once the collection may have been taken for dead: nothing may be deleted any more.
    pub fn check_lease(&self) -> Result<()> {
        let late = self.lease.last_ok().elapsed() > self.timing.fence();
        if late || self.lease.lost.load(Ordering::SeqCst) {
            return Err(RegistryError::Unavailable(format!(
                "garbage collection {} could not renew its lease in storage; stopped",
                self.id
            )));
        }
        Ok(())
    }

    /// Starts a section of deletions: marks the collection as deleting, then reads the touched
    /// records written so far.
    pub async fn begin_sweep(&self) -> Result<()> {
        self.check_lease()?;
        self.storage
            .put_transient(
                &paths::gc_sweeping(&self.id),
                Bytes::from_static(b"sweeping"),
            )
            .await?;
        let dir = paths::gc_touched_dir(&self.id);
        let keys = match self.storage.walk(&dir).await {
            Ok(keys) => keys,
            Err(StorageError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let new: Vec<String> = {
            let touched = self.touched();
            keys.into_iter()
                .filter(|k| !touched.records.contains(k))
                .collect()
        };
        for key in new {
            let bytes = self.storage.get(&paths::child(&dir, &key)).await?;
            let corrupt = || {
                RegistryError::Unavailable(format!(
                    "garbage collection {}: unreadable touched record {key}",
                    self.id
                ))
            };
            let touch: Touch = serde_json::from_slice(&bytes).map_err(|_| corrupt())?;
            let repo: RepoName = touch.repo.parse().map_err(|_| corrupt())?;
            let digests = touch
                .digests
                .iter()
                .map(|d| d.parse::<Digest>())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|_| corrupt())?;
            let mut touched = self.touched();
            touched.repos.insert(repo);
            touched.digests.extend(digests);
            touched.records.insert(key);
        }
        Ok(())
    }

    /// Ends a section of deletions.
    pub async fn end_sweep(&self) -> Result<()> {
        delete_if_present(self.storage.as_ref(), &paths::gc_sweeping(&self.id)).await
    }

    /// Whether a write recorded `digest` before the current section began.
    pub fn touched_digest(&self, digest: &Digest) -> bool {
        self.touched().digests.contains(digest)
    }

    /// Whether a write to `repo` was recorded before the current section began.
    pub fn touched_repo(&self, repo: &RepoName) -> bool {
        self.touched().repos.contains(repo)
    }

    /// Ends the collection: stops beating and removes its marker, record and touched records.
    pub async fn withdraw(self) -> Result<()> {
        self.beat.abort();
        remove_collection(self.storage.as_ref(), &self.id).await
    }
}

impl Drop for Announced {
    /// A collection dropped without withdrawing (an error, a panic) stops beating, so its lease
    /// expires and others remove its records.
    fn drop(&mut self) {
        self.beat.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::Memory;

    fn digest(s: &str) -> Digest {
        Digest::compute(crate::registry::digest::Algorithm::Sha256, s.as_bytes())
    }

    fn repo(s: &str) -> RepoName {
        s.parse().unwrap()
    }

    fn coordinator(storage: &Arc<Memory>, settle_ms: u64, lease_ms: u64) -> Coordinator {
        let storage: Arc<dyn Storage> = storage.clone();
        Coordinator::new(
            storage,
            Timing {
                settle: Duration::from_millis(settle_ms),
                lease: Duration::from_millis(lease_ms),
                writer_lease: WRITER_LEASE,
            },
        )
    }

    /// Registers `writer` as a writer, as its first write does.
    async fn register(writer: &Coordinator) {
        let entered = writer.enter(&repo("app"), &[]).await.unwrap();
        writer.leave(entered, &repo("app"), &[], &[]).await.unwrap();
    }

    /// A write entered while a collection is announced is recorded, and the collection's next
    /// section skips its digests and repository; what nobody touched is not skipped.
    #[tokio::test]
    async fn writes_during_a_collection_are_skipped_by_its_sweep() {
        let storage = Arc::new(Memory::new());
        let collector = coordinator(&storage, 20, 10_000);
        let writer = coordinator(&storage, 20, 10_000);
        let announced = collector.announce(async {}).await.unwrap();
        let (app, layer) = (repo("new/app"), digest("layer"));
        let entered = writer
            .enter(&app, std::slice::from_ref(&layer))
            .await
            .unwrap();
        writer.leave(entered, &app, &[], &[]).await.unwrap();
        announced.begin_sweep().await.unwrap();
        assert!(announced.touched_digest(&layer));
        assert!(announced.touched_repo(&app));
        assert!(!announced.touched_digest(&digest("other")));
        announced.end_sweep().await.unwrap();
        announced.withdraw().await.unwrap();
        assert!(writer.retire().await.unwrap());
        assert!(storage.walk("docker/registry/v2/_wharf/gc").await.is_err());
    }

    /// What a collection does while it settles is cut off when the settle period ends, and a part
    /// that ends early does not end the settle period early.
    #[tokio::test]
    async fn the_settle_period_bounds_what_runs_meanwhile() {
        let storage = Arc::new(Memory::new());
        let collector = coordinator(&storage, 50, 10_000);
        register(&coordinator(&storage, 50, 10_000)).await;
        let endless = collector.announce(std::future::pending()).await.unwrap();
        endless.withdraw().await.unwrap();
        let started = Instant::now();
        let quick = collector.announce(async {}).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50));
        quick.withdraw().await.unwrap();
    }

    /// A write that finds a section of deletions in progress records itself first, and enters only
    /// once the section has ended.
    #[tokio::test]
    async fn a_write_waits_for_the_section_in_progress() {
        let storage = Arc::new(Memory::new());
        let collector = coordinator(&storage, 20, 10_000);
        let writer = Arc::new(coordinator(&storage, 20, 10_000));
        let announced = collector.announce(async {}).await.unwrap();
        announced.begin_sweep().await.unwrap();
        let waiting = tokio::spawn({
            let writer = writer.clone();
            async move {
                let entered = writer.enter(&repo("app"), &[digest("d")]).await.unwrap();
                writer.leave(entered, &repo("app"), &[], &[]).await.unwrap();
            }
        });
        let touched = paths::gc_touched_dir(&announced.id);
        while storage.walk(&touched).await.is_err() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!waiting.is_finished(), "entered during a section");
        announced.end_sweep().await.unwrap();
        waiting.await.unwrap();
        announced.begin_sweep().await.unwrap();
        assert!(announced.touched_digest(&digest("d")));
        announced.withdraw().await.unwrap();
    }

    /// A collection that crashed in the middle of a section (its record stops changing) holds writers
    /// for one lease at most: then they stop waiting, stop recording, and its files are removed.
    #[tokio::test]
    async fn a_crashed_collection_expires_with_its_lease() {
        let storage = Arc::new(Memory::new());
        let collector = coordinator(&storage, 20, 300);
        let writer = coordinator(&storage, 20, 300);
        let announced = collector.announce(async {}).await.unwrap();
        announced.begin_sweep().await.unwrap();
        let id = announced.id;
        drop(announced);
        let entered = writer.enter(&repo("app"), &[digest("d")]).await.unwrap();
        writer.leave(entered, &repo("app"), &[], &[]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let entered = writer.enter(&repo("app"), &[digest("e")]).await.unwrap();
        writer.leave(entered, &repo("app"), &[], &[]).await.unwrap();
        for key in [paths::gc_announcement(&id), paths::gc_sweeping(&id)] {
            assert!(storage.stat(&key).await.is_err(), "{key} left behind");
        }
        assert!(storage.walk(&paths::gc_touched_dir(&id)).await.is_err());
    }

    /// A live collection keeps its lease by rewriting its record; once its beats stop (its process
    /// stalls, its storage fails) it refuses to delete anything.
    #[tokio::test]
    async fn a_collection_that_cannot_beat_stops_deleting() {
        let storage = Arc::new(Memory::new());
        let collector = coordinator(&storage, 10, 3000);
        let announced = collector.announce(async {}).await.unwrap();
        let key = paths::gc_announcement(&announced.id);
        let first = storage.get(&key).await.unwrap();
        while storage.get(&key).await.unwrap() == first {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        announced.check_lease().unwrap();
        announced.beat.abort();
        tokio::time::sleep(Duration::from_millis(1600)).await;
        assert!(matches!(
            announced.check_lease(),
            Err(RegistryError::Unavailable(_))
        ));
        assert!(matches!(
            announced.begin_sweep().await,
            Err(RegistryError::Unavailable(_))
        ));
    }

    /// Leftovers of finished collections (touched records written after a collection withdrew) are
    /// removed when the next collection starts; a write that ran longer than the protocol allows is
    /// refused when what it wrote is gone, and acknowledged when it is there.
    #[tokio::test]
    async fn leftovers_are_removed_and_slow_writes_are_verified() {
        let storage = Arc::new(Memory::new());
        let collector = coordinator(&storage, 20, 10_000);
        let stale = Uuid::new_v4();
        storage
            .put(&paths::gc_touched(&stale, &Uuid::new_v4()), Bytes::new())
            .await
            .unwrap();
        let announced = collector.announce(async {}).await.unwrap();
        assert!(storage.walk(&paths::gc_touched_dir(&stale)).await.is_err());
        announced.withdraw().await.unwrap();

        let writer = coordinator(&storage, 20, 10_000);
        let kept = "docker/registry/v2/kept".to_string();
        storage.put(&kept, Bytes::new()).await.unwrap();
        let app = repo("app");
        let entered = writer.enter(&app, &[]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(15)).await;
        writer
            .leave(entered, &app, &[], std::slice::from_ref(&kept))
            .await
            .unwrap();
        let entered = writer.enter(&app, &[]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(15)).await;
        let gone = "docker/registry/v2/gone".to_string();
        assert!(matches!(
            writer.leave(entered, &app, &[], &[gone]).await,
            Err(RegistryError::Unavailable(_))
        ));
    }

    /// With no writer registered, a collection marks at once: no settle period (one of an hour
    /// would hang the test), and what it does meanwhile is not started. A writer that registers
    /// afterwards reads the announcements afresh, so its first write is recorded in the collection.
    #[tokio::test]
    async fn without_writers_a_collection_does_not_settle() {
        let storage = Arc::new(Memory::new());
        let collector = coordinator(&storage, 3_600_000, 10_000);
        let meanwhile_ran = AtomicBool::new(false);
        let announced = collector
            .announce(async { meanwhile_ran.store(true, Ordering::SeqCst) })
            .await
            .unwrap();
        assert_eq!(announced.writers(), 0);
        assert!(!meanwhile_ran.load(Ordering::SeqCst));
        let writer = coordinator(&storage, 3_600_000, 10_000);
        let entered = writer.enter(&repo("app"), &[digest("d")]).await.unwrap();
        writer.leave(entered, &repo("app"), &[], &[]).await.unwrap();
        announced.begin_sweep().await.unwrap();
        assert!(announced.touched_digest(&digest("d")));
        announced.end_sweep().await.unwrap();
        announced.withdraw().await.unwrap();
    }

    /// A process's first write registers it; a collection then settles for it. Retiring waits for
    /// the write in flight (and keeps the record while one is), then removes the record, and the
    /// next collection does not settle.
    #[tokio::test]
    async fn a_registered_writer_makes_collections_settle_until_it_retires() {
        let storage = Arc::new(Memory::new());
        let collector = coordinator(&storage, 50, 10_000);
        let writer = coordinator(&storage, 50, 10_000);
        assert!(writers::registered(storage.as_ref())
            .await
            .unwrap()
            .is_empty());
        let entered = writer.enter(&repo("app"), &[]).await.unwrap();
        assert_eq!(
            writers::registered(storage.as_ref()).await.unwrap().len(),
            1
        );
        let started = Instant::now();
        let announced = collector.announce(async {}).await.unwrap();
        assert_eq!(announced.writers(), 1);
        assert!(started.elapsed() >= Duration::from_millis(50));
        announced.withdraw().await.unwrap();
        assert!(
            !writer.retire().await.unwrap(),
            "retired with a write in flight"
        );
        assert_eq!(
            writers::registered(storage.as_ref()).await.unwrap().len(),
            1
        );
        writer.leave(entered, &repo("app"), &[], &[]).await.unwrap();
        assert!(writer.retire().await.unwrap());
        assert!(writers::registered(storage.as_ref())
            .await
            .unwrap()
            .is_empty());
        let announced = collector.announce(std::future::pending()).await.unwrap();
        assert_eq!(announced.writers(), 0);
        announced.withdraw().await.unwrap();
    }

    /// A live writer rewrites its record, and removes a record that stays unchanged for a whole
    /// writer lease (its process died); its own record stays.
    #[tokio::test]
    async fn a_dead_writers_record_is_removed_by_a_live_one() {
        let storage = Arc::new(Memory::new());
        let dyn_storage: Arc<dyn Storage> = storage.clone();
        let timing = Timing {
            settle: Duration::from_millis(20),
            lease: Duration::from_millis(10_000),
            writer_lease: Duration::from_millis(200),
        };
        let dead = paths::gc_writer(&Uuid::new_v4());
        storage.put(&dead, Bytes::from_static(b"{}")).await.unwrap();
        let writer = Coordinator::new(dyn_storage, timing);
        register(&writer).await;
        let own = paths::gc_writer(&writer.writers.id());
        let first = storage.get(&own).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while storage.stat(&dead).await.is_ok() {
            assert!(
                Instant::now() < deadline,
                "the dead writer's record was never removed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_ne!(
            storage.get(&own).await.unwrap(),
            first,
            "own record not rewritten"
        );
    }
}

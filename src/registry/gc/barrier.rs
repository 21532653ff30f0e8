//! The write barrier that lets garbage collection run while the registry serves pushes.
//!
//! Every write that makes content reachable (finishing an upload, mounting a blob, storing a manifest,
//! opening an upload session) holds the barrier's gate shared while it checks and writes, and, while a
//! collection runs, records the digests and repository it touches. A collection takes the gate
//! exclusively to start recording (so no write is half-way through unrecorded) and again for each batch
//! of deletions, skipping anything recorded since it started. So a write either finished before the
//! deletion and is recorded, or starts after it and finds the content gone (and the client uploads it
//! again). This covers writes in this process, which then wait for a batch without polling storage;
//! [`super::protocol`] covers writes in every process.

use std::collections::HashSet;
use std::sync::Mutex;

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::registry::digest::Digest;
use crate::registry::names::RepoName;

/// What writes touched since the running collection started.
#[derive(Default)]
struct Touched {
    digests: HashSet<Digest>,
    repos: HashSet<RepoName>,
}

/// Coordination between writes and the garbage collector of one process.
#[derive(Default)]
pub struct Barrier {
    gate: RwLock<()>,
    touched: Mutex<Option<Touched>>,
    running: tokio::sync::Mutex<()>,
}

/// Held by a write for as long as it checks and writes.
pub struct WriteGuard<'a> {
    _gate: RwLockReadGuard<'a, ()>,
}

/// Held by the collection while it deletes a batch.
pub struct SweepGuard<'a> {
    barrier: &'a Barrier,
    _gate: RwLockWriteGuard<'a, ()>,
}

/// Held by the collection from start to end; recording stops when it is dropped.
pub struct Collection<'a> {
    barrier: &'a Barrier,
    _running: tokio::sync::MutexGuard<'a, ()>,
}

impl Barrier {
    fn with_touched(&self, f: impl FnOnce(&mut Option<Touched>)) {
        // A poisoned lock only means a panic elsewhere; the sets stay usable.
        f(&mut self.touched.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Enters a write to `repo` that may make `digests` reachable.
    pub async fn write<'a>(
        &self,
        repo: &RepoName,
        digests: impl IntoIterator<Item = &'a Digest>,
    ) -> WriteGuard<'_> {
        let gate = self.gate.read().await;
        self.with_touched(|t| {
            if let Some(t) = t {
                t.repos.insert(repo.clone());
                t.digests.extend(digests.into_iter().cloned());
            }
        });
        WriteGuard { _gate: gate }
    }

    /// Starts a collection, or `None` when one is already running in this process.
    pub async fn begin(&self) -> Option<Collection<'_>> {
        let running = self.running.try_lock().ok()?;
        let _gate = self.gate.write().await;
        self.with_touched(|t| *t = Some(Touched::default()));
        Some(Collection {
            barrier: self,
            _running: running,
        })
    }
}

impl Collection<'_> {
    /// Waits until no write is in progress and holds writes off until the guard is dropped.
    pub async fn sweep(&self) -> SweepGuard<'_> {
        SweepGuard {
            barrier: self.barrier,
            _gate: self.barrier.gate.write().await,
        }
    }
}

impl Drop for Collection<'_> {
    fn drop(&mut self) {
        self.barrier.with_touched(|t| *t = None);
    }
}

impl SweepGuard<'_> {
    /// Whether a write since the collection started may have made `digest` reachable.
    pub fn touched_digest(&self, digest: &Digest) -> bool {
        let mut hit = false;
        self.barrier.with_touched(|t| {
            hit = t.as_ref().is_some_and(|t| t.digests.contains(digest));
        });
        hit
    }

    /// Whether a write since the collection started went to `repo`.
    pub fn touched_repo(&self, repo: &RepoName) -> bool {
        let mut hit = false;
        self.barrier.with_touched(|t| {
            hit = t.as_ref().is_some_and(|t| t.repos.contains(repo));
        });
        hit
    }
}

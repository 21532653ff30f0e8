//! When each manifest was last pulled, kept cheaply: a pull is noted in memory
//! ([`Registry::record_pull`]) and the notes are written in batches ([`Registry::flush_pulls`], which
//! the server calls every minute, as soon as [`FLUSH_AT`] pulls wait, and on shutdown) as one small
//! file per manifest and repository, `_wharf/pulls/<hex of name>/<alg>/<hex>` holding the time in
//! RFC 3339, which registry:2 never reads. A process rewrites a record at most twice per
//! [`RESOLUTION`], so a manifest pulled all day costs two writes an hour, on the filesystem and on S3
//! alike. Several processes on one storage each write their own latest time; the last write wins,
//! and each is recent.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use tokio::sync::Notify;

use super::digest::Digest;
use super::error::Result;
use super::names::RepoName;
use super::paths;
use super::Registry;
use crate::storage::StorageError;

/// How stale a written record may be: last-pulled times are exact to within this.
pub const RESOLUTION: Duration = Duration::from_secs(3600);

/// Pulls noted before a flush is asked for ahead of the minute: a server verifying 200,000
/// manifests notes thousands a second, and each note holds a repository name and a digest.
pub const FLUSH_AT: usize = 4096;

/// Records a flush writes at once (each is a small file written, synced and renamed).
const WRITES: usize = 16;

/// Pulls noted and not yet written, and which records this process wrote lately ([`Written`]).
#[derive(Default)]
pub struct Pulls {
    pending: Mutex<HashMap<(RepoName, Digest), SystemTime>>,
    written: Mutex<Written>,
    backlog: Notify,
}

/// The records this process wrote within the last [`RESOLUTION`], known by a keyed 64-bit hash of
/// their repository and manifest, in two generations of half a [`RESOLUTION`] each: a server that
/// served 200,000 manifests in the hour holds a few MB for them, not a copy of every name, and forgets
/// them as the generations turn. Two that collide (about one chance in 10^10 at that size, not
/// steerable from outside: the key is random) share one entry, so one's record may be written up to
/// [`RESOLUTION`] late.
struct Written {
    current: HashSet<u64>,
    previous: HashSet<u64>,
    /// When `current` began; `previous` began half a [`RESOLUTION`] earlier.
    started: Instant,
    keys: RandomState,
}

impl Default for Written {
    fn default() -> Self {
        Written {
            current: HashSet::new(),
            previous: HashSet::new(),
            started: Instant::now(),
            keys: RandomState::new(),
        }
    }
}

impl Written {
    /// Turns the generations that `now` has left behind: afterwards every entry was written less
    /// than a [`RESOLUTION`] before `now`.
    fn turn(&mut self, now: Instant) {
        let age = now.saturating_duration_since(self.started);
        if age >= RESOLUTION {
            self.current = HashSet::new();
            self.previous = HashSet::new();
            self.started = now;
        } else if age >= RESOLUTION / 2 {
            self.previous = std::mem::take(&mut self.current);
            self.started += RESOLUTION / 2;
        }
    }

    fn key(&self, name: &RepoName, digest: &Digest) -> u64 {
        self.keys.hash_one((name, digest))
    }

    /// Whether this process wrote the record of `name` and `digest` within the last [`RESOLUTION`].
    fn fresh(&mut self, name: &RepoName, digest: &Digest) -> bool {
        self.turn(Instant::now());
        let key = self.key(name, digest);
        self.current.contains(&key) || self.previous.contains(&key)
    }

    fn insert(&mut self, name: &RepoName, digest: &Digest) {
        self.turn(Instant::now());
        let key = self.key(name, digest);
        self.current.insert(key);
    }
}

impl Pulls {
    fn written(&self) -> std::sync::MutexGuard<'_, Written> {
        self.written.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<(RepoName, Digest), SystemTime>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Registry {
    /// Notes that `digest` was pulled from `name` now. Costs a map insert; nothing is written here.
    pub fn record_pull(&self, name: &RepoName, digest: &Digest) {
        if self.pulls.written().fresh(name, digest) {
            return;
        }
        let waiting = {
            let mut pending = self.pulls.pending();
            pending.insert((name.clone(), digest.clone()), SystemTime::now());
            pending.len()
        };
        if waiting >= FLUSH_AT {
            self.pulls.backlog.notify_one();
        }
    }

    /// Completes once [`FLUSH_AT`] pulls wait to be written (at once if they did since the last
    /// call): the server's flushing job then flushes ahead of its minute.
    pub async fn pulls_waiting(&self) {
        self.pulls.backlog.notified().await
    }

    /// Writes the pulls noted since the last flush, [`WRITES`] at a time; returns how many records
    /// were written. A record that fails to write is noted again for the next flush, and the first
    /// failure is returned once the others are written.
    pub async fn flush_pulls(&self) -> Result<usize> {
        let pending = std::mem::take(&mut *self.pulls.pending());
        let mut writes = stream::iter(pending)
            .map(|((name, digest), at)| async move {
                let text = humantime::format_rfc3339_seconds(at).to_string();
                let put = self
                    .storage
                    .put(&paths::pull_record(&name, &digest), Bytes::from(text))
                    .await;
                (put, name, digest, at)
            })
            .buffer_unordered(WRITES);
        let mut written = 0;
        let mut failed = None;
        while let Some((put, name, digest, at)) = writes.next().await {
            match put {
                Ok(()) => {
                    self.pulls.written().insert(&name, &digest);
                    written += 1;
                }
                Err(e) => {
                    self.pulls.pending().entry((name, digest)).or_insert(at);
                    failed.get_or_insert(e);
                }
            }
        }
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(written),
        }
    }

    /// When `digest` was last pulled from `name`, as recorded in storage or noted here; `None` when
    /// it never was (since Wharf kept records).
    pub async fn last_pulled(
        &self,
        name: &RepoName,
        digest: &Digest,
    ) -> Result<Option<SystemTime>> {
        let key = (name.clone(), digest.clone());
        let noted = self.pulls.pending().get(&key).copied();
        let stored = match self.storage.get(&paths::pull_record(name, digest)).await {
            Ok(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|t| humantime::parse_rfc3339(t.trim()).ok()),
            Err(StorageError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(noted.max(stored))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::registry::Settings;
    use crate::storage::memory::Memory;
    use crate::storage::Storage;

    /// A pull is invisible in storage until a flush, then read back; a second pull within the
    /// resolution writes nothing more.
    #[tokio::test]
    async fn pulls_are_written_in_batches() {
        let storage = Memory::new();
        let registry = Registry::new(Arc::new(storage.clone()), Settings::for_tests());
        let name: RepoName = "team/app".parse().unwrap();
        let digest: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        assert_eq!(registry.last_pulled(&name, &digest).await.unwrap(), None);
        registry.record_pull(&name, &digest);
        assert!(storage
            .get(&paths::pull_record(&name, &digest))
            .await
            .is_err());
        let noted = registry.last_pulled(&name, &digest).await.unwrap();
        assert!(noted.is_some());
        assert_eq!(registry.flush_pulls().await.unwrap(), 1);
        assert!(storage
            .get(&paths::pull_record(&name, &digest))
            .await
            .is_ok());
        let fresh = Registry::new(Arc::new(storage.clone()), Settings::for_tests());
        let stored = fresh.last_pulled(&name, &digest).await.unwrap().unwrap();
        let noted = noted.unwrap();
        assert!(noted.duration_since(stored).unwrap_or_default() < Duration::from_secs(1));
        registry.record_pull(&name, &digest);
        assert_eq!(registry.flush_pulls().await.unwrap(), 0);
    }

    /// What a process remembers of its writes is forgotten within a resolution (so it does not grow
    /// with every manifest ever pulled), never before half of one, and the next pull is written again.
    #[tokio::test]
    async fn written_records_are_forgotten_within_the_resolution() {
        let registry = Registry::new(Arc::new(Memory::new()), Settings::for_tests());
        let name: RepoName = "team/app".parse().unwrap();
        let digests: Vec<Digest> = ["ab", "cd"]
            .iter()
            .map(|h| format!("sha256:{}", h.repeat(32)).parse().unwrap())
            .collect();
        let start = Instant::now();
        registry.record_pull(&name, &digests[0]);
        assert_eq!(registry.flush_pulls().await.unwrap(), 1);
        registry
            .pulls
            .written()
            .turn(start + RESOLUTION / 2 + Duration::from_secs(1));
        registry.record_pull(&name, &digests[1]);
        assert_eq!(registry.flush_pulls().await.unwrap(), 1);
        for d in &digests {
            registry.record_pull(&name, d);
        }
        assert_eq!(
            registry.flush_pulls().await.unwrap(),
            0,
            "both were written within the resolution"
        );
        registry
            .pulls
            .written()
            .turn(start + RESOLUTION + Duration::from_secs(1));
        assert_eq!(registry.pulls.written().previous.len(), 1);
        for d in &digests {
            registry.record_pull(&name, d);
        }
        assert_eq!(
            registry.flush_pulls().await.unwrap(),
            1,
            "only the one written over a resolution ago again"
        );
        registry.pulls.written().turn(start + RESOLUTION * 3);
        let written = registry.pulls.written();
        assert!(written.current.is_empty() && written.previous.is_empty());
    }

    /// Noting [`FLUSH_AT`] different pulls asks for a flush ahead of the minute; fewer do not, and
    /// the flush writes them all.
    #[tokio::test]
    async fn a_backlog_of_pulls_asks_for_a_flush() {
        use futures_util::FutureExt;
        let registry = Registry::new(Arc::new(Memory::new()), Settings::for_tests());
        let name: RepoName = "team/app".parse().unwrap();
        let digest = |i: usize| -> Digest { format!("sha256:{i:064x}").parse().unwrap() };
        for i in 0..FLUSH_AT - 1 {
            registry.record_pull(&name, &digest(i));
            registry.record_pull(&name, &digest(i));
        }
        assert!(registry.pulls_waiting().now_or_never().is_none());
        registry.record_pull(&name, &digest(FLUSH_AT));
        assert!(registry.pulls_waiting().now_or_never().is_some());
        assert_eq!(registry.flush_pulls().await.unwrap(), FLUSH_AT);
        assert!(registry.pulls_waiting().now_or_never().is_none());
    }
}

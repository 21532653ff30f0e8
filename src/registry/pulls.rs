//! When each manifest was last pulled, kept cheaply: a pull is noted in memory
//! ([`Registry::record_pull`]) and the notes are written in batches ([`Registry::flush_pulls`], which
//! the server calls every minute and on shutdown) as one small file per manifest and repository,
//! `_wharf/pulls/<hex of name>/<alg>/<hex>` holding the time in RFC 3339, which registry:2 never
//! reads. A process rewrites a record at most once per [`RESOLUTION`], so a manifest pulled all day
//! costs one write an hour, on the filesystem and on S3 alike. Several processes on one storage each
//! write their own latest time; the last write wins, and each is recent.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::digest::Digest;
use super::error::Result;
use super::names::RepoName;
use super::paths;
use super::Registry;
use crate::storage::StorageError;

/// How stale a written record may be: last-pulled times are exact to within this.
pub const RESOLUTION: Duration = Duration::from_secs(3600);

/// Pulls noted and not yet written, and when each record was last written by this process (within
/// the last [`RESOLUTION`]: older entries suppress nothing and are forgotten at the next flush).
/// Written records are known by a keyed 64-bit hash of their repository and manifest, so a server
/// that served 200,000 manifests in the hour holds a few MB for them, not a copy of every name; two
/// that collide (about one chance in 10^10 at that size, not steerable from outside: the key is
/// random) share one entry, so one's record may be written up to [`RESOLUTION`] late.
#[derive(Default)]
pub struct Pulls {
    pending: Mutex<HashMap<(RepoName, Digest), SystemTime>>,
    written: Mutex<HashMap<u64, SystemTime>>,
    keys: RandomState,
}

impl Pulls {
    fn written_key(&self, name: &RepoName, digest: &Digest) -> u64 {
        self.keys.hash_one((name, digest))
    }

    fn written(&self) -> std::sync::MutexGuard<'_, HashMap<u64, SystemTime>> {
        self.written.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Registry {
    /// Notes that `digest` was pulled from `name` now. Costs a map insert; nothing is written here.
    pub fn record_pull(&self, name: &RepoName, digest: &Digest) {
        let now = SystemTime::now();
        let fresh = self
            .pulls
            .written()
            .get(&self.pulls.written_key(name, digest))
            .is_some_and(|at| now.duration_since(*at).unwrap_or_default() < RESOLUTION);
        if !fresh {
            self.pulls
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert((name.clone(), digest.clone()), now);
        }
    }

    /// Writes the pulls noted since the last flush; returns how many records were written. A record
    /// that fails to write is noted again for the next flush. Records written longer than
    /// [`RESOLUTION`] ago are forgotten first.
    pub async fn flush_pulls(&self) -> Result<usize> {
        let now = SystemTime::now();
        self.pulls
            .written()
            .retain(|_, at| now.duration_since(*at).unwrap_or_default() < RESOLUTION);
        let pending: Vec<_> =
            std::mem::take(&mut *self.pulls.pending.lock().unwrap_or_else(|e| e.into_inner()))
                .into_iter()
                .collect();
        let mut written = 0;
        for (i, ((name, digest), at)) in pending.iter().enumerate() {
            let text = humantime::format_rfc3339_seconds(*at).to_string();
            if let Err(e) = self
                .storage
                .put(&paths::pull_record(name, digest), Bytes::from(text))
                .await
            {
                let mut again = self.pulls.pending.lock().unwrap_or_else(|e| e.into_inner());
                for (key, at) in &pending[i..] {
                    again.entry(key.clone()).or_insert(*at);
                }
                return Err(e.into());
            }
            self.pulls
                .written()
                .insert(self.pulls.written_key(name, digest), *at);
            written += 1;
        }
        Ok(written)
    }

    /// When `digest` was last pulled from `name`, as recorded in storage or noted here; `None` when
    /// it never was (since Wharf kept records).
    pub async fn last_pulled(
        &self,
        name: &RepoName,
        digest: &Digest,
    ) -> Result<Option<SystemTime>> {
        let key = (name.clone(), digest.clone());
        let noted = self
            .pulls
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .copied();
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

    /// What a process remembers of its writes is forgotten once it is older than the resolution (so
    /// it does not grow with every manifest ever pulled), and the next pull is written again.
    #[tokio::test]
    async fn written_records_are_forgotten_after_the_resolution() {
        let registry = Registry::new(Arc::new(Memory::new()), Settings::for_tests());
        let name: RepoName = "team/app".parse().unwrap();
        let digests: Vec<Digest> = ["ab", "cd"]
            .iter()
            .map(|h| format!("sha256:{}", h.repeat(32)).parse().unwrap())
            .collect();
        for d in &digests {
            registry.record_pull(&name, d);
        }
        assert_eq!(registry.flush_pulls().await.unwrap(), 2);
        assert_eq!(registry.pulls.written().len(), 2);
        let old = SystemTime::now() - RESOLUTION - Duration::from_secs(1);
        let first = registry.pulls.written_key(&name, &digests[0]);
        registry.pulls.written().insert(first, old);
        assert_eq!(registry.flush_pulls().await.unwrap(), 0);
        assert_eq!(
            registry.pulls.written().len(),
            1,
            "the old entry is forgotten"
        );
        for d in &digests {
            registry.record_pull(&name, d);
        }
        assert_eq!(
            registry.flush_pulls().await.unwrap(),
            1,
            "only the forgotten one again"
        );
    }
}

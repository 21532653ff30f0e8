//! A cache of directory listings that stays correct while other processes change the directories:
//! the sorted tag lists of `tags/list` (so paging through thousands of tags costs one listing instead
//! of one per page) and, on the filesystem, the directories the catalog walk reads.
//!
//! An entry is used only while the storage reports the same [`DirVersion`] for the directory (on
//! the filesystem: same inode and modification time, and that time settled; see
//! [`crate::storage::Storage::dir_version`]), so a child added or removed by this process, another
//! replica or a hand on the disk is seen at once. Backends that cannot vouch for a version are never
//! cached. An entry also expires after [`MAX_AGE`], which bounds staleness where timestamps mislead (a
//! network filesystem whose server clock lags this host's). Garbage collection and deletes never read
//! it: they list afresh.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::DirVersion;
use crate::bounded_cache::BoundedCache;

/// How long an entry may serve at most.
const MAX_AGE: Duration = Duration::from_secs(30);
/// How many names one cache holds at most, over all its directories (a few MiB).
const MAX_NAMES: usize = 100_000;

/// Listings by key (a repository, a directory).
pub(crate) struct ListingCache {
    entries: Mutex<BoundedCache<String, Entry>>,
}

struct Entry {
    version: DirVersion,
    names: Arc<Vec<String>>,
    stored: Instant,
}

impl Default for ListingCache {
    fn default() -> Self {
        ListingCache {
            entries: Mutex::new(BoundedCache::new(MAX_NAMES)),
        }
    }
}

impl ListingCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, BoundedCache<String, Entry>> {
        // A plain map: a panic elsewhere while holding the lock cannot leave it inconsistent.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached listing of `key` if it was listed at `version` and is fresh enough.
    pub(crate) fn get(&self, key: &str, version: DirVersion) -> Option<Arc<Vec<String>>> {
        self.lock()
            .get(&key.to_string())
            .filter(|e| e.version == version && e.stored.elapsed() < MAX_AGE)
            .map(|e| e.names.clone())
    }

    /// Stores the listing of `key` made at `version`.
    pub(crate) fn put(&self, key: &str, version: DirVersion, names: Arc<Vec<String>>) {
        let weight = names.len() + 1;
        let entry = Entry {
            version,
            names,
            stored: Instant::now(),
        };
        self.lock().insert(key.to_string(), entry, weight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(changed_ns: i128) -> DirVersion {
        DirVersion { id: 1, changed_ns }
    }

    /// An entry serves only the version it was listed at.
    #[test]
    fn serves_only_the_same_version() {
        let cache = ListingCache::default();
        cache.put("a", version(1), Arc::new(vec!["t".to_string()]));
        assert_eq!(cache.get("a", version(1)).map(|t| t.len()), Some(1));
        assert!(cache.get("a", version(2)).is_none());
        assert!(cache.get("b", version(1)).is_none());
    }
}

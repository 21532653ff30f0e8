//! A cache of repositories' sorted tag lists for `tags/list`, so paging through thousands of tags costs
//! one directory listing instead of one per page.
//!
//! An entry is used only while the storage reports the same [`DirVersion`] for the tags directory (on
//! the filesystem: same inode and modification time, and that time settled; see
//! [`crate::storage::Storage::dir_version`]), so a tag added or deleted by this process, another replica
//! or a hand on the disk is seen at once. Backends that cannot vouch for a version are never cached. An
//! entry also expires after [`MAX_AGE`], which bounds staleness where timestamps mislead (a network
//! filesystem whose server clock lags this host's). Garbage collection and manifest deletion never read
//! it: they list tags afresh.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::bounded_cache::BoundedCache;
use crate::storage::DirVersion;

/// How long an entry may serve at most.
const MAX_AGE: Duration = Duration::from_secs(30);
/// How many tag names the cache holds at most, over all repositories (a few MiB).
const MAX_NAMES: usize = 100_000;

/// Sorted tag lists by repository.
pub(super) struct TagCache {
    entries: Mutex<BoundedCache<String, Entry>>,
}

struct Entry {
    version: DirVersion,
    tags: Arc<Vec<String>>,
    stored: Instant,
}

impl Default for TagCache {
    fn default() -> Self {
        TagCache {
            entries: Mutex::new(BoundedCache::new(MAX_NAMES)),
        }
    }
}

impl TagCache {
    /// The cached tags of `repo` if they were listed at `version` and are fresh enough.
    pub(super) fn get(&self, repo: &str, version: DirVersion) -> Option<Arc<Vec<String>>> {
        let entries = self.entries.lock().expect("tag cache lock");
        entries
            .get(&repo.to_string())
            .filter(|e| e.version == version && e.stored.elapsed() < MAX_AGE)
            .map(|e| e.tags.clone())
    }

    /// Stores the tags of `repo` listed at `version`.
    pub(super) fn put(&self, repo: &str, version: DirVersion, tags: Arc<Vec<String>>) {
        let weight = tags.len();
        let entry = Entry {
            version,
            tags,
            stored: Instant::now(),
        };
        let mut entries = self.entries.lock().expect("tag cache lock");
        entries.insert(repo.to_string(), entry, weight);
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
        let cache = TagCache::default();
        cache.put("a", version(1), Arc::new(vec!["t".to_string()]));
        assert_eq!(cache.get("a", version(1)).map(|t| t.len()), Some(1));
        assert!(cache.get("a", version(2)).is_none());
        assert!(cache.get("b", version(1)).is_none());
    }
}

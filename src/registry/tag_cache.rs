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

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::storage::DirVersion;

/// How long an entry may serve at most.
const MAX_AGE: Duration = Duration::from_secs(30);
/// How many tag names the cache holds at most, over all repositories (a few MiB).
const MAX_NAMES: usize = 100_000;

/// Sorted tag lists by repository.
#[derive(Default)]
pub(super) struct TagCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Repositories in insertion order, oldest first, for eviction.
    order: VecDeque<String>,
    names: usize,
}

struct Entry {
    version: DirVersion,
    tags: Arc<Vec<String>>,
    stored: Instant,
}

impl TagCache {
    /// The cached tags of `repo` if they were listed at `version` and are fresh enough.
    pub(super) fn get(&self, repo: &str, version: DirVersion) -> Option<Arc<Vec<String>>> {
        let inner = self.inner.lock().expect("tag cache lock");
        inner
            .entries
            .get(repo)
            .filter(|e| e.version == version && e.stored.elapsed() < MAX_AGE)
            .map(|e| e.tags.clone())
    }

    /// Stores the tags of `repo` listed at `version`, evicting the oldest entries beyond the size limit.
    pub(super) fn put(&self, repo: &str, version: DirVersion, tags: Arc<Vec<String>>) {
        if tags.len() > MAX_NAMES {
            return;
        }
        let mut inner = self.inner.lock().expect("tag cache lock");
        if let Some(old) = inner.entries.remove(repo) {
            inner.names -= old.tags.len();
            inner.order.retain(|r| r != repo);
        }
        while inner.names + tags.len() > MAX_NAMES {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(old) = inner.entries.remove(&oldest) {
                inner.names -= old.tags.len();
            }
        }
        inner.names += tags.len();
        inner.order.push_back(repo.to_string());
        inner.entries.insert(
            repo.to_string(),
            Entry {
                version,
                tags,
                stored: Instant::now(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(changed_ns: i128) -> DirVersion {
        DirVersion { id: 1, changed_ns }
    }

    fn tags(n: usize) -> Arc<Vec<String>> {
        Arc::new((0..n).map(|i| format!("t{i}")).collect())
    }

    /// An entry serves only the version it was listed at.
    #[test]
    fn serves_only_the_same_version() {
        let cache = TagCache::default();
        cache.put("a", version(1), tags(3));
        assert_eq!(cache.get("a", version(1)).map(|t| t.len()), Some(3));
        assert!(cache.get("a", version(2)).is_none());
        assert!(cache.get("b", version(1)).is_none());
    }

    /// The oldest repositories are evicted to keep the total number of names bounded.
    #[test]
    fn evicts_oldest_beyond_the_limit() {
        let cache = TagCache::default();
        cache.put("old", version(1), tags(MAX_NAMES / 2));
        cache.put("mid", version(1), tags(MAX_NAMES / 2));
        cache.put("new", version(1), tags(10));
        assert!(cache.get("old", version(1)).is_none());
        assert!(cache.get("mid", version(1)).is_some());
        assert!(cache.get("new", version(1)).is_some());
        cache.put("huge", version(1), tags(MAX_NAMES + 1));
        assert!(cache.get("huge", version(1)).is_none());
        assert_eq!(cache.inner.lock().unwrap().names, MAX_NAMES / 2 + 10);
    }
}

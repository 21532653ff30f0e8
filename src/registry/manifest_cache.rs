//! Manifest content by digest, so a pull by tag reads two small links and no manifest file.
//!
//! Content is addressed by its digest and never changes, so an entry never goes stale; whether a
//! repository still holds the manifest is checked on every request (its revision link), so deletes are
//! seen at once. Only manifests up to [`MAX_ONE`] are kept, [`BUDGET`] bytes in all.

use std::sync::Mutex;

use bytes::Bytes;

use super::digest::Digest;
use crate::bounded_cache::BoundedCache;

/// Bytes of manifest content the cache holds at most.
const BUDGET: usize = 4 * 1024 * 1024;
/// The largest manifest kept (image manifests are a few KiB; huge indexes are left to storage).
const MAX_ONE: usize = 256 * 1024;

/// A manifest's media type and bytes.
#[derive(Clone)]
pub(super) struct Content {
    pub(super) media_type: String,
    pub(super) bytes: Bytes,
}

/// Manifest content by digest.
pub(super) struct ManifestCache {
    entries: Mutex<BoundedCache<Digest, Content>>,
}

impl Default for ManifestCache {
    fn default() -> Self {
        ManifestCache {
            entries: Mutex::new(BoundedCache::new(BUDGET)),
        }
    }
}

impl ManifestCache {
    /// The content of `digest`, if cached.
    pub(super) fn get(&self, digest: &Digest) -> Option<Content> {
        self.entries
            .lock()
            .expect("manifest cache lock")
            .get(digest)
            .cloned()
    }

    /// Keeps the content of `digest` if it is small enough.
    pub(super) fn put(&self, digest: &Digest, content: Content) {
        let weight = content.bytes.len() + content.media_type.len();
        if weight <= MAX_ONE {
            self.entries.lock().expect("manifest cache lock").insert(
                digest.clone(),
                content,
                weight,
            );
        }
    }
}

//! Quotas (`quotas:`): how many bytes a repository may hold. A repository's usage is the size of every
//! distinct blob its manifests use, configs and layers and the manifests themselves, as a pull of
//! everything it holds would fetch. Garbage no manifest uses does not count. A push is refused with
//! `Denied` as soon as its size is known to go over: at a blob upload that declares its length, and at
//! the manifest `PUT` at the latest. Usage is worked out from storage and cached for
//! [`USAGE_TTL`], or until this process writes or deletes a manifest in the repository, so pushes
//! through several processes at once may overshoot a quota by what they push in that time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytesize::ByteSize;

use super::digest::Digest;
use super::error::{RegistryError, Result};
use super::gc::walk;
use super::names::RepoName;
use super::paths;
use super::Registry;
use crate::config::pattern::wildcard_match;
use crate::storage::StorageError;

/// How long a repository's usage is reused before it is worked out again.
pub const USAGE_TTL: Duration = Duration::from_secs(30);

/// What a repository holds.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// Bytes of every distinct blob its manifests use, the manifests included.
    pub bytes: u64,
    /// Those blobs, each with its size.
    pub blobs: HashMap<Digest, u64>,
}

/// Usage worked out recently, by repository.
#[derive(Default)]
pub struct UsageCache(Mutex<HashMap<RepoName, (Instant, Usage)>>);

impl UsageCache {
    fn get(&self, name: &RepoName) -> Option<Usage> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(name)
            .filter(|(at, _)| at.elapsed() < USAGE_TTL)
            .map(|(_, usage)| usage.clone())
    }

    fn put(&self, name: &RepoName, usage: Usage) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(name.clone(), (Instant::now(), usage));
    }

    /// Every repository's last worked-out usage in bytes, however old.
    fn known(&self) -> Vec<(String, u64)> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .map(|(name, (_, usage))| (name.to_string(), usage.bytes))
            .collect()
    }

    /// Forgets a repository's usage (its manifests changed).
    pub fn forget(&self, name: &RepoName) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }
}

impl Registry {
    /// The quota for `name`: its index in `quotas` and its limit in bytes.
    fn quota_for(&self, name: &RepoName) -> Option<(usize, u64)> {
        self.settings
            .quotas
            .iter()
            .enumerate()
            .find(|(_, q)| {
                q.repositories
                    .iter()
                    .any(|p| wildcard_match(p, name.as_str()))
            })
            .map(|(i, q)| (i, q.size.as_u64()))
    }

    /// The usage in bytes of every repository a quota check or [`Registry::disk_usage`] weighed, as
    /// last worked out.
    pub fn known_usage(&self) -> Vec<(String, u64)> {
        self.usage_cache.known()
    }

    /// What `name` holds now, from the cache or storage.
    pub async fn usage(&self, name: &RepoName) -> Result<Usage> {
        if let Some(usage) = self.usage_cache.get(name) {
            return Ok(usage);
        }
        let revisions = walk::live_links(self.storage.as_ref(), &paths::revisions_dir(name), |d| {
            paths::revision_link(name, d)
        })
        .await?;
        let manifests: Vec<Digest> = revisions.into_iter().map(|(d, _)| d).collect();
        let blobs = self.blobs_used(&manifests).await?;
        let mut usage = Usage::default();
        for d in blobs {
            let size = self.stored_size(&d).await?;
            usage.bytes += size;
            usage.blobs.insert(d, size);
        }
        self.usage_cache.put(name, usage.clone());
        Ok(usage)
    }

    /// The size of a stored blob; 0 when it is gone.
    async fn stored_size(&self, digest: &Digest) -> Result<u64> {
        match self.storage.stat(&paths::blob_data(digest)).await {
            Ok(meta) => Ok(meta.size),
            Err(StorageError::NotFound(_)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// The refusal of a push that would bring `name` to `total` bytes, if that is over its quota.
    fn over_quota(&self, name: &RepoName, total: u64) -> Result<()> {
        let Some((index, limit)) = self.quota_for(name) else {
            return Ok(());
        };
        if total <= limit {
            return Ok(());
        }
        Err(RegistryError::Denied(format!(
            "quota exceeded: this push would bring {name} to {}, over its quota of {} (quotas[{index}]); delete tags or raise the quota",
            ByteSize(total).display().iec(),
            ByteSize(limit).display().iec(),
        )))
    }

    /// Refuses a blob upload of `declared` more bytes (on top of `already` in its session) when the
    /// repository would then hold more than its quota.
    pub async fn admit_upload(&self, name: &RepoName, already: u64, declared: u64) -> Result<()> {
        if self.quota_for(name).is_none() {
            return Ok(());
        }
        let usage = self.usage(name).await?;
        self.over_quota(name, usage.bytes + already + declared)
    }

    /// Refuses a manifest of `len` bytes using `references` (blobs and child manifests) when the
    /// repository would then hold more than its quota; what it already uses counts once.
    pub(super) async fn admit_manifest(
        &self,
        name: &RepoName,
        len: u64,
        references: &[Digest],
    ) -> Result<()> {
        if self.quota_for(name).is_none() {
            return Ok(());
        }
        let usage = self.usage(name).await?;
        let mut added = len;
        for d in references.iter().filter(|d| !usage.blobs.contains_key(*d)) {
            added += self.stored_size(d).await?;
        }
        self.over_quota(name, usage.bytes + added)
    }
}

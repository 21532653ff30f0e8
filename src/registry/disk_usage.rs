//! What uses the disk, registry-wide: every repository's usage (as [`super::quota`] works it out,
//! cached the same way), split into the bytes only that repository uses and the bytes it shares with
//! others, with whether it is a pull-through cache and when a tag was last pushed to it. Read by the
//! Wharf API's `GET /v2/_wharf/usage` for the web UI's disk view.

use std::collections::HashMap;
use std::time::SystemTime;

use serde::Serialize;

use super::digest::Digest;
use super::error::Result;
use super::names::RepoName;
use super::Registry;

/// One repository's share of the disk.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepoDiskUsage {
    /// The repository.
    pub repository: RepoName,
    /// Bytes of every distinct blob its manifests use (its usage, as quotas count it).
    pub bytes: u64,
    /// Of those, the bytes of blobs no other repository uses: what deleting it would free.
    pub unique_bytes: u64,
    /// Of those, the bytes of blobs other repositories use too.
    pub shared_bytes: u64,
    /// Whether it is a pull-through cache of an upstream (`proxy.*`).
    pub mirrored: bool,
    /// How many tags it has.
    pub tags: usize,
    /// When a tag was last pushed to it (RFC 3339), if it has tags.
    pub last_pushed: Option<String>,
}

/// Every repository's share, largest first, and the bytes of every distinct blob they use.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskUsage {
    /// Bytes of every distinct blob any repository uses, each counted once.
    pub total_bytes: u64,
    /// The repositories, largest first (then by name).
    pub repositories: Vec<RepoDiskUsage>,
}

impl Registry {
    /// The newest push time of `name`'s tags and how many tags it has.
    async fn tag_summary(&self, name: &RepoName) -> Result<(usize, Option<SystemTime>)> {
        let tags = self.all_tags(name).await?;
        let mut newest = None;
        for tag in &tags {
            newest = newest.max(self.tag_pushed(name, tag).await?);
        }
        Ok((tags.len(), newest))
    }

    /// What uses the disk: every repository's usage, unique and shared bytes.
    pub async fn disk_usage(&self) -> Result<DiskUsage> {
        let mut usages = Vec::new();
        for name in self.every_repository().await? {
            let usage = self.usage(&name).await?;
            usages.push((name, usage));
        }
        let mut users: HashMap<&Digest, (usize, u64)> = HashMap::new();
        for (_, usage) in &usages {
            for (digest, size) in &usage.blobs {
                users.entry(digest).or_insert((0, *size)).0 += 1;
            }
        }
        let total_bytes = users.values().map(|(_, size)| size).sum();
        let mut repositories = Vec::new();
        for (name, usage) in &usages {
            let unique_bytes = usage
                .blobs
                .iter()
                .filter(|(d, _)| users.get(d).is_some_and(|(n, _)| *n == 1))
                .map(|(_, size)| size)
                .sum();
            let (tags, newest) = self.tag_summary(name).await?;
            repositories.push(RepoDiskUsage {
                repository: name.clone(),
                bytes: usage.bytes,
                unique_bytes,
                shared_bytes: usage.bytes - unique_bytes,
                mirrored: self.mirrors(Some(name)),
                tags,
                last_pushed: newest.map(|t| humantime::format_rfc3339_seconds(t).to_string()),
            });
        }
        repositories.sort_by(|a, b| {
            b.bytes
                .cmp(&a.bytes)
                .then_with(|| a.repository.cmp(&b.repository))
        });
        Ok(DiskUsage {
            total_bytes,
            repositories,
        })
    }
}

//! The trash: a tag a retention policy (or the web UI) deletes leaves an entry, `_wharf/trash/<hex of name>/<hex of
//! tag>` (JSON), naming the manifest it pointed at, when and why it went, and until when it can be
//! restored. Until then garbage collection keeps that manifest and everything it references, so
//! [`Registry::restore_tag`] can put the tag back; after it, the manifest is collected like any
//! other that no tag reaches.

use std::collections::HashMap;
use std::time::SystemTime;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::registry::digest::Digest;
use crate::registry::error::{RegistryError, Result};
use crate::registry::gc::walk;
use crate::registry::manifest_format;
use crate::registry::names::{Reference, RepoName, Tag};
use crate::registry::paths;
use crate::registry::Registry;
use crate::storage::StorageError;

/// One deleted tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrashEntry {
    /// The repository.
    pub repository: RepoName,
    /// The tag.
    pub tag: Tag,
    /// The manifest it pointed at.
    pub digest: Digest,
    /// When it was deleted (RFC 3339).
    pub deleted: String,
    /// Until when it can be restored (RFC 3339).
    pub expires: String,
    /// Why: the policy and its rule.
    pub reason: String,
}

impl TrashEntry {
    /// Whether the entry can no longer be restored at `now`.
    pub fn expired(&self, now: SystemTime) -> bool {
        humantime::parse_rfc3339(&self.expires).map_or(true, |t| t <= now)
    }
}

impl Registry {
    /// Puts a deleted tag's entry in the trash (replacing an older entry of the same tag).
    pub(crate) async fn trash(&self, entry: &TrashEntry) -> Result<()> {
        let json = serde_json::to_vec(entry).map_err(|e| RegistryError::Corrupt(e.to_string()))?;
        self.storage
            .put(
                &paths::trash_entry(&entry.repository, &entry.tag),
                Bytes::from(json),
            )
            .await?;
        Ok(())
    }

    /// The trash's entry files, relative to its directory; none when it was never written.
    async fn trash_files(&self) -> Result<Vec<String>> {
        match self.storage.walk(&paths::trash_dir()).await {
            Ok(files) => Ok(files),
            Err(StorageError::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// How many entries the trash holds, from one listing (no entry is read).
    pub async fn trash_size(&self) -> Result<usize> {
        Ok(self.trash_files().await?.len())
    }

    /// Every entry in the trash, expired or not, by repository then tag. Unreadable entries are
    /// skipped.
    pub async fn trash_entries(&self) -> Result<Vec<TrashEntry>> {
        let mut entries = Vec::new();
        for file in self.trash_files().await? {
            let key = paths::child(&paths::trash_dir(), &file);
            let bytes = match self.storage.get(&key).await {
                Ok(b) => b,
                Err(StorageError::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            if let Ok(entry) = serde_json::from_slice::<TrashEntry>(&bytes) {
                entries.push(entry);
            }
        }
        entries.sort_by(|a, b| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)));
        Ok(entries)
    }

    /// The trash entries by repository.
    pub(crate) async fn trash_by_repository(&self) -> Result<HashMap<RepoName, Vec<TrashEntry>>> {
        let mut by_repo: HashMap<RepoName, Vec<TrashEntry>> = HashMap::new();
        for entry in self.trash_entries().await? {
            by_repo
                .entry(entry.repository.clone())
                .or_default()
                .push(entry);
        }
        Ok(by_repo)
    }

    /// Removes a tag's trash entry, if any.
    pub(crate) async fn forget_trashed(&self, name: &RepoName, tag: &Tag) -> Result<()> {
        self.delete_if_present(&paths::trash_entry(name, tag)).await
    }

    /// Puts a deleted tag back, pointing at the manifest it pointed at, as a push would (so a
    /// garbage collection running meanwhile keeps it), and empties its trash entry. Fails with
    /// `ManifestUnknown` when the trash has no such tag, or when its content was already collected
    /// (naming the expiry).
    pub async fn restore_tag(&self, name: &RepoName, tag: &Tag) -> Result<TrashEntry> {
        let key = paths::trash_entry(name, tag);
        let entry: TrashEntry = match self.storage.get(&key).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| RegistryError::Corrupt(format!("trash entry {key}: {e}")))?,
            Err(StorageError::NotFound(_)) => {
                return Err(RegistryError::ManifestUnknown(format!(
                    "{name}:{tag} is not in the trash"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let bytes = match self.storage.get(&paths::blob_data(&entry.digest)).await {
            Ok(bytes) => bytes,
            Err(StorageError::NotFound(_)) => {
                return Err(RegistryError::ManifestUnknown(format!(
                    "{name}:{tag} ({}) was collected after its trash entry expired at {}",
                    entry.digest, entry.expires
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let media_type = manifest_format::stored_media_type(&bytes);
        self.put_manifest(name, &Reference::Tag(tag.clone()), Some(&media_type), bytes)
            .await?;
        self.delete_if_present(&key).await?;
        Ok(entry)
    }

    /// Deletes like [`Registry::delete_manifest`], but into the trash: a tag's entry, or by digest an
    /// entry for every tag pointing at the manifest (which is then deleted as by digest), restorable
    /// for `trash_period`: until the entries expire, garbage collection keeps the manifest and what it
    /// references, then frees them as it would have.
    /// `reason` says who deleted (`ui`).
    pub async fn delete_into_trash(
        &self,
        name: &RepoName,
        reference: &Reference,
        reason: &str,
    ) -> Result<()> {
        self.require_delete()?;
        let digest = self.resolve(name, reference).await?;
        let tags: Vec<Tag> = match reference {
            Reference::Tag(tag) => vec![tag.clone()],
            Reference::Digest(_) => {
                let mut pointing = Vec::new();
                for tag in self.tags_on_storage(name).await? {
                    let current = self.read_link(&paths::tag_current_link(name, &tag)).await?;
                    if current.as_ref() == Some(&digest) {
                        pointing.push(tag);
                    }
                }
                pointing
            }
        };
        let now = SystemTime::now();
        let stamp = |t: SystemTime| humantime::format_rfc3339_seconds(t).to_string();
        for tag in tags {
            self.trash(&TrashEntry {
                repository: name.clone(),
                tag: tag.clone(),
                digest: digest.clone(),
                deleted: stamp(now),
                expires: stamp(now + self.settings.trash_period),
                reason: format!("deleted by {reason}"),
            })
            .await?;
            self.catalog.delete_tag(name, &tag).await?;
        }
        if matches!(reference, Reference::Digest(_)) {
            self.delete_manifest(name, reference).await?;
        }
        Ok(())
    }

    /// When a tag's current link was last written: its push time, on the filesystem and on S3, for
    /// data registry:2 wrote too.
    pub(crate) async fn tag_pushed(
        &self,
        name: &RepoName,
        tag: &Tag,
    ) -> Result<Option<SystemTime>> {
        walk::modified(self.storage.as_ref(), &paths::tag_current_link(name, tag)).await
    }
}

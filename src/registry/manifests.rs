//! Manifests in a repository: resolve a tag or digest, store with reference checks, delete by tag or
//! digest. Writes follow distribution's order (blob, revision link, tag index, tag current), so a
//! manifest is visible by tag only once everything it needs is durable.

use bytes::Bytes;

use super::digest::{Algorithm, Digest};
use super::error::{RegistryError, Result};
use super::manifest_cache::Content;
use super::manifest_format::{self, ParsedManifest, Reference as Needed};
use super::names::{Reference, RepoName, Tag};
use super::Registry;
use crate::registry::paths;
use crate::storage::StorageError;

/// A manifest as stored.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    /// Its digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// The exact bytes pushed.
    pub bytes: Bytes,
}

/// What a successful manifest push reports.
#[derive(Debug, Clone)]
pub struct PushedManifest {
    /// The manifest's digest.
    pub digest: Digest,
    /// Its media type: the document's `mediaType`, else the request's `Content-Type`.
    pub media_type: String,
    /// Its `subject`, if it has one.
    pub subject: Option<Digest>,
}

impl Registry {
    /// Resolves a reference to a digest the repository holds, or `ManifestUnknown`.
    pub async fn resolve(&self, name: &RepoName, reference: &Reference) -> Result<Digest> {
        let unknown = || RegistryError::ManifestUnknown(format!("{name}:{reference}"));
        let digest = match reference {
            Reference::Digest(d) => d.clone(),
            Reference::Tag(t) => self
                .read_link(&paths::tag_current_link(name, t))
                .await?
                .ok_or_else(unknown)?,
        };
        if !self.exists(&paths::revision_link(name, &digest)).await? {
            return Err(unknown());
        }
        Ok(digest)
    }

    /// Reads a manifest by tag or digest.
    pub async fn get_manifest(
        &self,
        name: &RepoName,
        reference: &Reference,
    ) -> Result<StoredManifest> {
        let digest = self.resolve(name, reference).await?;
        if let Some(content) = self.manifest_cache.get(&digest) {
            return Ok(StoredManifest {
                digest,
                media_type: content.media_type,
                bytes: content.bytes,
            });
        }
        let bytes = match self.storage.get(&paths::blob_data(&digest)).await {
            Ok(b) => b,
            Err(StorageError::NotFound(_)) => {
                return Err(RegistryError::ManifestUnknown(format!("{name}@{digest}")))
            }
            Err(e) => return Err(e.into()),
        };
        let content = Content {
            media_type: manifest_format::stored_media_type(&bytes),
            bytes,
        };
        self.manifest_cache.put(&digest, content.clone());
        Ok(StoredManifest {
            digest,
            media_type: content.media_type,
            bytes: content.bytes,
        })
    }

    /// Stores a manifest under a tag or its digest after checking that everything it references is in
    /// the repository.
    pub async fn put_manifest(
        &self,
        name: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        bytes: Bytes,
    ) -> Result<PushedManifest> {
        let digest = match reference {
            Reference::Digest(want) => {
                let got = Digest::compute(want.algorithm(), &bytes);
                if got != *want {
                    return Err(RegistryError::DigestInvalid(format!(
                        "manifest has digest {got}, not {want}"
                    )));
                }
                got
            }
            Reference::Tag(_) => Digest::compute(Algorithm::Sha256, &bytes),
        };
        let parsed =
            manifest_format::parse(content_type, &bytes).map_err(RegistryError::ManifestInvalid)?;
        let touched: Vec<Digest> = parsed
            .references
            .iter()
            .map(|(Needed::Blob(d) | Needed::Manifest(d))| d)
            .chain([&digest])
            .chain(&parsed.subject)
            .cloned()
            .collect();
        let entered = self.coordinator.enter(name, &touched).await?;
        let writing = self.gc.write(name, &touched).await;
        self.check_references(name, &parsed).await?;
        let referenced: Vec<Digest> = parsed
            .references
            .iter()
            .map(|(Needed::Blob(d) | Needed::Manifest(d))| d.clone())
            .collect();
        self.admit_manifest(name, bytes.len() as u64, &referenced)
            .await?;

        let blob = paths::blob_data(&digest);
        if !self.exists(&blob).await? {
            self.storage.put(&blob, bytes).await?;
        }
        let link = Bytes::from(digest.to_string());
        self.storage
            .put(&paths::revision_link(name, &digest), link.clone())
            .await?;
        self.catalog.added(name).await?;
        if let Some(subject) = &parsed.subject {
            self.storage
                .put(&paths::referrer_link(name, subject, &digest), link.clone())
                .await?;
        }
        if let Reference::Tag(tag) = reference {
            self.storage
                .put(&paths::tag_index_link(name, tag, &digest), link.clone())
                .await?;
            self.storage
                .put(&paths::tag_current_link(name, tag), link)
                .await?;
            self.catalog.tagged(name, tag).await?;
        }
        drop(writing);
        self.usage_cache.forget(name);
        let mut wrote = vec![blob, paths::revision_link(name, &digest)];
        for needed in &parsed.references {
            let (link, d) = match needed {
                Needed::Blob(d) => (paths::layer_link(name, d), d),
                Needed::Manifest(d) => (paths::revision_link(name, d), d),
            };
            wrote.extend([link, paths::blob_data(d)]);
        }
        self.coordinator
            .leave(entered, name, &touched, &wrote)
            .await?;
        Ok(PushedManifest {
            digest,
            media_type: parsed.media_type,
            subject: parsed.subject,
        })
    }

    async fn check_references(&self, name: &RepoName, parsed: &ParsedManifest) -> Result<()> {
        for needed in &parsed.references {
            let present = match needed {
                Needed::Blob(d) => self.layer_linked(name, d).await?,
                Needed::Manifest(d) => self.exists(&paths::revision_link(name, d)).await?,
            };
            if !present {
                let (Needed::Blob(d) | Needed::Manifest(d)) = needed;
                return Err(RegistryError::ManifestBlobUnknown(d.clone()));
            }
        }
        Ok(())
    }

    /// Deletes by digest (the manifest and every tag pointing at it) or by tag (only the tag).
    pub async fn delete_manifest(&self, name: &RepoName, reference: &Reference) -> Result<()> {
        self.require_delete()?;
        match reference {
            Reference::Tag(tag) => self.delete_tag(name, tag).await,
            Reference::Digest(digest) => {
                let manifest = self.get_manifest(name, reference).await?;
                if let Ok(parsed) = manifest_format::parse(None, &manifest.bytes) {
                    if let Some(subject) = parsed.subject {
                        self.delete_if_present(&paths::referrer_link(name, &subject, digest))
                            .await?;
                    }
                }
                self.delete_if_present(&paths::revision_link(name, digest))
                    .await?;
                self.usage_cache.forget(name);
                for tag in self.tags_on_storage(name).await? {
                    if self
                        .read_link(&paths::tag_current_link(name, &tag))
                        .await?
                        .as_ref()
                        == Some(digest)
                    {
                        self.catalog.delete_tag(name, &tag).await?;
                    }
                }
                Ok(())
            }
        }
    }

    async fn delete_tag(&self, name: &RepoName, tag: &Tag) -> Result<()> {
        if self.catalog.delete_tag(name, tag).await? {
            Ok(())
        } else {
            Err(RegistryError::ManifestUnknown(format!("{name}:{tag}")))
        }
    }

    pub(super) async fn delete_if_present(&self, key: &str) -> Result<()> {
        match self.storage.delete(key).await {
            Ok(()) | Err(StorageError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

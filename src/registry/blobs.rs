//! Blobs as seen through a repository: existence, size, streaming reads, links, mounts and deletes.
//!
//! A blob belongs to a repository when the repository links it (`_layers`), or holds it as a manifest
//! revision. The bytes themselves are shared by every repository and only removed by garbage collection.

use std::time::Duration;

use bytes::Bytes;

use super::digest::Digest;
use super::error::{RegistryError, Result};
use super::names::RepoName;
use super::Registry;
use crate::registry::paths;
use crate::storage::{ByteStream, StorageError};

/// How long a blob redirect URL stays valid (distribution's 20 minutes).
pub const REDIRECT_EXPIRY: Duration = Duration::from_secs(20 * 60);

impl Registry {
    /// Size of a blob of the repository, or `BlobUnknown`.
    pub async fn blob_size(&self, name: &RepoName, digest: &Digest) -> Result<u64> {
        if !self.blob_linked(name, digest).await? {
            return Err(RegistryError::BlobUnknown(digest.clone()));
        }
        match self.storage.stat(&paths::blob_data(digest)).await {
            Ok(meta) => Ok(meta.size),
            Err(StorageError::NotFound(_)) => Err(RegistryError::BlobUnknown(digest.clone())),
            Err(e) => Err(e.into()),
        }
    }

    /// Streams `len` bytes of a blob from `offset`. Callers check existence with [`Registry::blob_size`].
    pub async fn read_blob(&self, digest: &Digest, offset: u64, len: u64) -> Result<ByteStream> {
        match self
            .storage
            .read(&paths::blob_data(digest), offset, len)
            .await
        {
            Ok(s) => Ok(s),
            Err(StorageError::NotFound(_)) => Err(RegistryError::BlobUnknown(digest.clone())),
            Err(e) => Err(e.into()),
        }
    }

    /// The blob's file, open for reading, when the storage keeps blobs in local files. Callers check
    /// existence with [`Registry::blob_size`].
    pub async fn blob_file(&self, digest: &Digest) -> Result<Option<std::fs::File>> {
        match self.storage.local_file(&paths::blob_data(digest)).await {
            Ok(file) => Ok(file),
            Err(StorageError::NotFound(_)) => Err(RegistryError::BlobUnknown(digest.clone())),
            Err(e) => Err(e.into()),
        }
    }

    /// A URL the client can download the blob from directly (a presigned object-store URL, valid for
    /// [`REDIRECT_EXPIRY`]), when redirects are on and the storage has such URLs. Callers check
    /// existence with [`Registry::blob_size`].
    pub async fn blob_redirect(&self, digest: &Digest) -> Result<Option<String>> {
        if !self.settings.redirect {
            return Ok(None);
        }
        Ok(self
            .storage
            .signed_url(&paths::blob_data(digest), REDIRECT_EXPIRY)
            .await?)
    }

    /// Removes a blob from a repository (the bytes stay until garbage collection).
    pub async fn delete_blob(&self, name: &RepoName, digest: &Digest) -> Result<()> {
        self.require_delete()?;
        match self.storage.delete(&paths::layer_link(name, digest)).await {
            Ok(()) => Ok(()),
            Err(StorageError::NotFound(_)) => Err(RegistryError::BlobUnknown(digest.clone())),
            Err(e) => Err(e.into()),
        }
    }

    /// Links a blob held by repository `from` into `name` and returns its size; `None` when `from` does
    /// not have it.
    pub async fn mount_blob(
        &self,
        name: &RepoName,
        digest: &Digest,
        from: &RepoName,
    ) -> Result<Option<u64>> {
        let touched = std::slice::from_ref(digest);
        let entered = self.coordinator.enter(name, touched).await?;
        let writing = self.gc.write(name, touched).await;
        match self.blob_size(from, digest).await {
            Ok(size) => {
                self.link_blob(name, digest).await?;
                drop(writing);
                let wrote = [paths::blob_data(digest), paths::layer_link(name, digest)];
                self.coordinator
                    .leave(entered, name, touched, &wrote)
                    .await?;
                Ok(Some(size))
            }
            Err(RegistryError::BlobUnknown(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the repository links `digest` as a layer or config blob.
    pub(super) async fn layer_linked(&self, name: &RepoName, digest: &Digest) -> Result<bool> {
        self.exists(&paths::layer_link(name, digest)).await
    }

    /// Whether the repository holds `digest` as a layer, config or manifest.
    async fn blob_linked(&self, name: &RepoName, digest: &Digest) -> Result<bool> {
        Ok(self.layer_linked(name, digest).await?
            || self.exists(&paths::revision_link(name, digest)).await?)
    }

    pub(super) async fn link_blob(&self, name: &RepoName, digest: &Digest) -> Result<()> {
        self.storage
            .put(
                &paths::layer_link(name, digest),
                Bytes::from(digest.to_string()),
            )
            .await?;
        Ok(())
    }

    pub(super) async fn exists(&self, key: &str) -> Result<bool> {
        match self.storage.stat(key).await {
            Ok(_) => Ok(true),
            Err(StorageError::NotFound(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads a link file and parses the digest it holds (whitespace-tolerant, as distribution writes none).
    pub(super) async fn read_link(&self, key: &str) -> Result<Option<Digest>> {
        match self.storage.get(key).await {
            Ok(bytes) => Ok(std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.trim().parse().ok())),
            Err(StorageError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

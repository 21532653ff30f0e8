//! Blob upload sessions: start, append chunks, report progress, finish with digest verification, cancel.
//!
//! Session state lives in storage only (`_uploads/<uuid>/data` and `startedat`), so an upload survives a
//! restart and can continue on another process. Each process also keeps, per session, the hash of the
//! bytes received so far: finishing then costs no second read of the data. When the cached hash does
//! not match the data (after a restart, a failed write, another process appending), the data is
//! re-hashed from storage, so the cache is an optimisation, never a source of truth.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::task::JoinHandle;

use super::digest::{Algorithm, Digest, Hasher};
use super::error::{RegistryError, Result};
use super::names::{RepoName, UploadId};
use super::paths;
use super::Registry;
use crate::storage::{Appender, ByteStream, StorageError};

/// Bytes gathered from the request before each write to storage.
const WRITE_BATCH: usize = 1024 * 1024;

/// A byte range a client declared for a chunk (`Content-Range: <start>-<end>`, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRange {
    /// First byte's offset.
    pub start: u64,
    /// Last byte's offset.
    pub end: u64,
}

/// Hash of a session's first `offset` bytes.
struct HashedPrefix {
    offset: u64,
    hasher: Hasher,
}

/// Per-session lock, serialising appends and finishing, holding the running hash.
type SessionLock = Arc<tokio::sync::Mutex<Option<HashedPrefix>>>;

/// The in-process part of upload sessions.
#[derive(Default)]
pub(super) struct Sessions {
    locks: Mutex<HashMap<(RepoName, UploadId), SessionLock>>,
}

impl Sessions {
    fn lock_for(&self, name: &RepoName, id: UploadId) -> SessionLock {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        map.entry((name.clone(), id)).or_default().clone()
    }

    fn forget(&self, name: &RepoName, id: UploadId) {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&(name.clone(), id));
    }
}

impl Registry {
    /// Opens an upload session.
    pub async fn start_upload(&self, name: &RepoName) -> Result<UploadId> {
        let id = UploadId::new();
        let entered = self.coordinator.enter(name, &[]).await?;
        let writing = self.gc.write(name, []).await;
        let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let started_at = paths::upload_started_at(name, &id);
        self.storage.put(&started_at, Bytes::from(now)).await?;
        drop(writing);
        self.coordinator
            .leave(entered, name, &[], &[started_at])
            .await?;
        Ok(id)
    }

    /// Bytes a session holds so far.
    pub async fn upload_size(&self, name: &RepoName, id: UploadId) -> Result<u64> {
        match self
            .storage
            .stat(&paths::upload_started_at(name, &id))
            .await
        {
            Ok(_) => {}
            Err(StorageError::NotFound(_)) => return Err(RegistryError::BlobUploadUnknown),
            Err(e) => return Err(e.into()),
        }
        match self.storage.stat(&paths::upload_data(name, &id)).await {
            Ok(meta) => Ok(meta.size),
            Err(StorageError::NotFound(_)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// Appends a chunk. With a `range`, the chunk must start where the session ends (else
    /// `RangeInvalid`, nothing written) and be exactly as long as declared. Returns the new size.
    pub async fn append_upload(
        &self,
        name: &RepoName,
        id: UploadId,
        range: Option<ChunkRange>,
        body: ByteStream,
    ) -> Result<u64> {
        let lock = self.sessions.lock_for(name, id);
        let mut hashed = lock.lock().await;
        self.append_locked(name, id, &mut hashed, range, body).await
    }

    async fn append_locked(
        &self,
        name: &RepoName,
        id: UploadId,
        hashed: &mut Option<HashedPrefix>,
        range: Option<ChunkRange>,
        body: ByteStream,
    ) -> Result<u64> {
        let size = self.upload_size(name, id).await?;
        if let Some(r) = range {
            if r.start != size || r.end < r.start {
                return Err(RegistryError::RangeInvalid { current: size });
            }
        }
        let mut hasher = match hashed.take() {
            Some(h) if h.offset == size => Some(h.hasher),
            _ if size == 0 => Some(Algorithm::Sha256.hasher()),
            _ => None,
        };
        let file = self
            .storage
            .appender(&paths::upload_data(name, &id))
            .await?;
        let (written, failure) = write_body(file, body, &mut hasher).await;
        *hashed = hasher.map(|hasher| HashedPrefix {
            offset: size + written,
            hasher,
        });
        if let Some(e) = failure {
            return Err(e);
        }
        if let Some(r) = range {
            if written != r.end - r.start + 1 {
                return Err(RegistryError::SizeInvalid(format!(
                    "Content-Range declared {} bytes, body had {written}",
                    r.end - r.start + 1
                )));
            }
        }
        Ok(size + written)
    }

    /// Closes a session: appends the final chunk if any, verifies the whole content against `digest`,
    /// then makes the blob visible in the repository and returns its size. On a digest mismatch nothing
    /// is stored and the session stays as it was.
    pub async fn finish_upload(
        &self,
        name: &RepoName,
        id: UploadId,
        digest: &Digest,
        last_chunk: Option<(Option<ChunkRange>, ByteStream)>,
    ) -> Result<u64> {
        let lock = self.sessions.lock_for(name, id);
        let mut hashed = lock.lock().await;
        let size = match last_chunk {
            Some((range, body)) => {
                self.append_locked(name, id, &mut hashed, range, body)
                    .await?
            }
            None => self.upload_size(name, id).await?,
        };
        let data = paths::upload_data(name, &id);
        if size == 0 {
            // A zero-length upload may have no data file yet.
            self.storage
                .appender(&data)
                .await?
                .close()
                .await
                .map_err(|e| StorageError::from_io(&data, e))?;
        }
        let actual = match hashed.take() {
            Some(h) if h.offset == size && digest.algorithm() == Algorithm::Sha256 => {
                h.hasher.finish()
            }
            _ => self.hash_stored(&data, size, digest.algorithm()).await?,
        };
        if actual != *digest {
            *hashed = None;
            return Err(RegistryError::DigestInvalid(format!(
                "content has digest {actual}, not {digest}"
            )));
        }
        let touched = std::slice::from_ref(digest);
        let entered = self.coordinator.enter(name, touched).await?;
        let writing = self.gc.write(name, touched).await;
        self.storage
            .commit(&data, &paths::blob_data(digest))
            .await?;
        self.link_blob(name, digest).await?;
        self.storage.delete(&paths::upload_dir(name, &id)).await?;
        drop(writing);
        drop(hashed);
        self.sessions.forget(name, id);
        let wrote = [paths::blob_data(digest), paths::layer_link(name, digest)];
        self.coordinator
            .leave(entered, name, touched, &wrote)
            .await?;
        Ok(size)
    }

    /// Abandons a session and its data.
    pub async fn cancel_upload(&self, name: &RepoName, id: UploadId) -> Result<()> {
        let lock = self.sessions.lock_for(name, id);
        let _held = lock.lock().await;
        self.upload_size(name, id).await?;
        self.storage.delete(&paths::upload_dir(name, &id)).await?;
        self.sessions.forget(name, id);
        Ok(())
    }

    /// Removes a session whatever its state, once no request is appending to it (upload purging).
    pub(super) async fn discard_upload(&self, name: &RepoName, id: UploadId) -> Result<()> {
        let lock = self.sessions.lock_for(name, id);
        let _held = lock.lock().await;
        self.delete_if_present(&paths::upload_dir(name, &id))
            .await?;
        self.sessions.forget(name, id);
        Ok(())
    }

    /// Stores a whole blob sent in one request: a session that is opened and finished at once. Returns
    /// the blob's size.
    pub async fn put_blob(
        &self,
        name: &RepoName,
        digest: &Digest,
        body: ByteStream,
    ) -> Result<u64> {
        let id = self.start_upload(name).await?;
        let result = self
            .finish_upload(name, id, digest, Some((None, body)))
            .await;
        if result.is_err() {
            // Best effort: the bytes of a failed monolithic upload can never be resumed.
            let _ = self.cancel_upload(name, id).await;
        }
        result
    }

    async fn hash_stored(&self, key: &str, size: u64, algorithm: Algorithm) -> Result<Digest> {
        let mut stream = self.storage.read(key, 0, size).await?;
        let mut hasher = algorithm.hasher();
        while let Some(chunk) = stream.next().await {
            hasher.update(&chunk.map_err(|e| StorageError::from_io(key, e))?);
        }
        Ok(hasher.finish())
    }
}

/// Streams `body` into `file` in batches of [`WRITE_BATCH`], hashing as bytes arrive. Returns the bytes
/// written and the failure that stopped it, if any. Bytes received before a client failure are still
/// written, so the client can resume after them; after a storage failure `hasher` is cleared, as it no
/// longer matches the data.
///
/// Three things overlap: receiving the next batch (here), writing the previous one (the appender, on
/// the blocking pool) and hashing it (on the blocking pool too). A batch is the request's own buffers,
/// never copied: the appender writes them with one vectored write and the hasher reads them in place.
async fn write_body(
    mut file: Box<dyn Appender>,
    mut body: ByteStream,
    hasher: &mut Option<Hasher>,
) -> (u64, Option<RegistryError>) {
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batch_len = 0usize;
    let mut written = 0u64;
    let mut failure = None;
    let mut idle_hasher = hasher.take();
    let mut hashing: Option<JoinHandle<Hasher>> = None;
    loop {
        let done = match body.next().await {
            Some(Ok(chunk)) => {
                if !chunk.is_empty() {
                    batch_len += chunk.len();
                    batch.push(chunk);
                }
                false
            }
            Some(Err(e)) => {
                failure = Some(RegistryError::BlobUploadInvalid(format!(
                    "request body ended early: {e}"
                )));
                true
            }
            None => true,
        };
        if batch_len >= WRITE_BATCH || (done && batch_len > 0) {
            let chunks = std::mem::take(&mut batch);
            if let Some(previous) = hashing.take() {
                idle_hasher = previous.await.ok();
            }
            if let Some(mut h) = idle_hasher.take() {
                let to_hash = chunks.clone();
                hashing = Some(tokio::task::spawn_blocking(move || {
                    for chunk in &to_hash {
                        h.update(chunk);
                    }
                    h
                }));
            }
            if let Err(e) = file.append_all(chunks).await {
                *hasher = None;
                return (
                    written,
                    Some(StorageError::from_io("upload data", e).into()),
                );
            }
            written += batch_len as u64;
            batch_len = 0;
        }
        if done {
            break;
        }
    }
    if let Some(previous) = hashing.take() {
        idle_hasher = previous.await.ok();
    }
    *hasher = idle_hasher;
    if let Err(e) = file.close().await {
        *hasher = None;
        failure = Some(StorageError::from_io("upload data", e).into());
    }
    (written, failure)
}

//! The S3 backend: keys are objects named `<rootdirectory>/<key>` in one bucket, so a bucket written by
//! distribution's S3 driver is served as is, and any number of Wharf replicas can share it.
//!
//! How the storage contract maps to S3 (through the `object_store` crate; no signing of our own):
//! - files written by `put` are plain objects; `get` and `read` are (ranged) `GET`s, streamed;
//! - directories do not exist in S3: `list` is a delimiter listing of `<key>/`, which may name prefixes
//!   whose objects were all deleted (SeaweedFS keeps them), as the contract allows. `stat` of a
//!   directory and `walk` use flat listings, which only ever return live objects, so they are exact;
//! - appendable files (upload data) are chunk objects `<key>/.chunk-<offset>` ([`chunks`]): each
//!   opening of an appender streams one chunk as a multipart upload with `storage.s3.chunksize` parts
//!   (smaller writes are buffered to one `PUT`), `stat` sums the chunks, `read` chains ranged `GET`s
//!   across them. Nothing lives in one process's memory, so an upload started on one replica can be
//!   continued and finished on another. An appender is not opened on a file written by `put`;
//! - `commit` makes the blob one plain object: a server-side `CopyObject` of a single chunk (the usual
//!   monolithic or one-`PATCH` upload, up to 5 GiB), else a streamed multipart re-upload of the chunks;
//!   then the chunks are deleted;
//! - `delete` of a directory deletes every object under it with bulk `DeleteObjects`;
//! - `signed_url` presigns a `GET`, for blob redirects: for the bucket's own host, or for
//!   `redirectendpoint`'s (a second client that only signs).
//!
//! Orphaned multipart uploads (a replica killed mid-upload) are invisible to listings; a bucket
//! lifecycle rule `AbortIncompleteMultipartUpload` removes them (see `docs/s3.md`).

mod chunks;
mod connect;
mod endpoint;

use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{stream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3;
use object_store::buffered::BufWriter;
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{
    Attribute, Attributes, GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt, PutOptions,
    PutPayload,
};
use tokio::io::AsyncWriteExt;

use super::walk::{self, DirQuery};
use super::{
    Appender, ByteStream, Meta, Result, ScanPattern, ScanRead, ScannedFile, Storage, StorageError,
    SCAN_READ_MAX,
};
use crate::config::S3Config;
use chunks::{Below, ChunkAppender};
pub use connect::S3SetupError;
pub use endpoint::{check as check_endpoint, endpoint_name};

/// Keys one listing request returns at most (S3's limit).
const LIST_PAGE: usize = 1000;
/// Small files [`Storage::scan`] reads at once.
const SCAN_READS: usize = 16;
/// Largest object a single `CopyObject` may copy on AWS.
const MAX_COPY: u64 = 5 * 1024 * 1024 * 1024;

/// Storage in an S3 bucket.
pub struct S3 {
    store: Arc<AmazonS3>,
    /// Presigns redirect URLs: `store`, or a client for `redirectendpoint`.
    signer: Arc<AmazonS3>,
    /// `rootdirectory` with a trailing `/`, or empty.
    root: String,
    part_size: usize,
    attributes: Attributes,
    config: S3Config,
}

impl std::fmt::Debug for S3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3")
            .field("bucket", &self.config.bucket)
            .field("root", &self.root)
            .finish()
    }
}

fn failed(key: &str, e: object_store::Error) -> StorageError {
    match e {
        object_store::Error::NotFound { .. } => StorageError::NotFound(key.to_string()),
        other => StorageError::Io {
            path: key.to_string(),
            source: io::Error::other(other),
        },
    }
}

fn io_failed(key: &str, e: io::Error) -> StorageError {
    StorageError::Io {
        path: key.to_string(),
        source: e,
    }
}

impl S3 {
    /// A backend for `config` (no request is made; see [`S3::check`]).
    pub fn new(config: &S3Config) -> std::result::Result<S3, S3SetupError> {
        let store = Arc::new(connect::client(config)?);
        let signer = match connect::redirect_signer(config)? {
            Some(signer) => Arc::new(signer),
            None => store.clone(),
        };
        let prefix = config.root_prefix();
        let mut attributes = Attributes::new();
        if let Some(class) = config.storage_class() {
            attributes.insert(Attribute::StorageClass, class.to_string().into());
        }
        Ok(S3 {
            store,
            signer,
            root: if prefix.is_empty() {
                prefix
            } else {
                format!("{prefix}/")
            },
            part_size: config.chunksize as usize,
            attributes,
            config: config.clone(),
        })
    }

    /// Checks that the bucket exists and the credentials may list it, explaining a failure by the
    /// setting to fix.
    pub async fn check(&self) -> std::result::Result<(), S3SetupError> {
        let options = PaginatedListOptions {
            max_keys: Some(1),
            ..Default::default()
        };
        match self.store.list_paginated(Some(&self.root), options).await {
            Ok(_) => Ok(()),
            Err(e) => Err(connect::explain(&self.config, &e)),
        }
    }

    fn path(&self, key: &str) -> Path {
        Path::from(format!("{}{key}", self.root))
    }

    fn dyn_store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// The objects under `<key>/` whose names relative to that prefix sort after `after`, at most
    /// `limit` of them, with those names. The listing starts after `after` on the server, so a page
    /// of a large prefix costs a request or two.
    async fn objects_below(
        &self,
        key: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(String, ObjectMeta)>> {
        let prefix = format!("{}{key}/", self.root);
        let mut found = Vec::new();
        let mut token = None;
        while found.len() < limit {
            let options = PaginatedListOptions {
                offset: (!after.is_empty()).then(|| format!("{prefix}{after}")),
                max_keys: Some((limit - found.len()).min(LIST_PAGE)),
                page_token: token,
                ..Default::default()
            };
            let page = self
                .store
                .list_paginated(Some(&prefix), options)
                .await
                .map_err(|e| failed(key, e))?;
            for meta in page.result.objects {
                if let Some(rel) = meta.location.as_ref().strip_prefix(&prefix) {
                    if rel > after {
                        found.push((rel.to_string(), meta));
                    }
                }
            }
            token = page.page_token;
            if token.is_none() {
                break;
            }
        }
        found.truncate(limit);
        Ok(found)
    }

    /// What lies below `<key>/`; all of it when it is a chunked file.
    async fn below(&self, key: &str) -> Result<Below> {
        let objects = self.objects_below(key, "", LIST_PAGE).await?;
        let below = chunks::classify(key, objects).map_err(|e| io_failed(key, e))?;
        match below {
            Below::File(_) => {
                let all = self.objects_below(key, "", usize::MAX).await?;
                chunks::classify(key, all).map_err(|e| io_failed(key, e))
            }
            other => Ok(other),
        }
    }

    /// The chunks of `key`; `NotFound` when it is neither a chunked file nor anything else.
    async fn chunks_of(&self, key: &str) -> Result<Vec<chunks::Chunk>> {
        match self.below(key).await? {
            Below::File(c) => Ok(c),
            Below::Nothing => Err(StorageError::NotFound(key.to_string())),
            Below::Dir(_) => Err(io_failed(
                key,
                io::Error::new(io::ErrorKind::InvalidInput, "is a directory, not a file"),
            )),
        }
    }

    /// Deletes every object under `<key>/`; returns how many there were.
    async fn delete_below(&self, key: &str) -> Result<usize> {
        let locations: Vec<Path> = self
            .objects_below(key, "", usize::MAX)
            .await?
            .into_iter()
            .map(|(_, m)| m.location)
            .collect();
        let count = locations.len();
        let locations = stream::iter(locations.into_iter().map(Ok)).boxed();
        self.store
            .delete_stream(locations)
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| failed(key, e))?;
        Ok(count)
    }

    /// Streams `len` bytes from `offset` of a chunked file.
    fn read_chunks(
        &self,
        key: &str,
        chunks: Vec<chunks::Chunk>,
        offset: u64,
        len: u64,
    ) -> ByteStream {
        let end = offset.saturating_add(len);
        let store = self.store.clone();
        let key = key.to_string();
        let ranges: Vec<(Path, u64, u64)> = chunks
            .into_iter()
            .filter(|c| c.size > 0 && c.offset < end && c.offset + c.size > offset)
            .map(|c| {
                let from = offset.max(c.offset) - c.offset;
                let to = end.min(c.offset + c.size) - c.offset;
                (c.location, from, to)
            })
            .collect();
        stream::iter(ranges)
            .then(move |(location, from, to)| {
                let store = store.clone();
                let key = key.clone();
                async move {
                    let options = GetOptions {
                        range: Some((from..to).into()),
                        ..Default::default()
                    };
                    store
                        .get_opts(&location, options)
                        .await
                        .map(|r| r.into_stream())
                        .map_err(|e| io::Error::other(failed(&key, e)))
                }
            })
            .map_ok(|s| s.map_err(io::Error::other))
            .try_flatten()
            .boxed()
    }

    /// Writes `source` (a chunked file) into the single object `to`, server-side when it is one chunk.
    async fn assemble(&self, from: &str, to: &str, chunks: Vec<chunks::Chunk>) -> Result<()> {
        let size = chunks::total(&chunks);
        let plain_copy =
            self.attributes.is_empty() || self.config.storage_class() == Some("STANDARD");
        if let [single] = chunks.as_slice() {
            if plain_copy && size <= MAX_COPY {
                return self
                    .store
                    .copy(&single.location, &self.path(to))
                    .await
                    .map_err(|e| failed(to, e));
            }
        }
        let mut writer = BufWriter::with_capacity(self.dyn_store(), self.path(to), self.part_size)
            .with_max_concurrency(2)
            .with_attributes(self.attributes.clone());
        let mut source = self.read_chunks(from, chunks, 0, size);
        while let Some(bytes) = source.next().await {
            let bytes = match bytes {
                Ok(b) => b,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(io_failed(from, e));
                }
            };
            if let Err(e) = writer.put(bytes).await {
                let _ = writer.abort().await;
                return Err(failed(to, e));
            }
        }
        writer.shutdown().await.map_err(|e| io_failed(to, e))
    }
}

/// A response body in an allocation of its own. A body that arrived in one piece is a slice of the
/// connection's read buffer (8–800 KiB), and the whole buffer stays allocated while any slice of it
/// lives: a few thousand cached manifests of a few KiB each held 40 MiB of buffers.
fn own(body: Bytes) -> Bytes {
    Bytes::copy_from_slice(&body)
}

#[async_trait]
impl Storage for S3 {
    async fn get(&self, key: &str) -> Result<Bytes> {
        match self.store.get(&self.path(key)).await {
            Ok(r) => r.bytes().await.map(own).map_err(|e| failed(key, e)),
            Err(object_store::Error::NotFound { .. }) => {
                let chunks = self.chunks_of(key).await?;
                let size = chunks::total(&chunks);
                let mut out = Vec::with_capacity(size as usize);
                let mut s = self.read_chunks(key, chunks, 0, size);
                while let Some(b) = s.next().await {
                    out.extend_from_slice(&b.map_err(|e| io_failed(key, e))?);
                }
                Ok(out.into())
            }
            Err(e) => Err(failed(key, e)),
        }
    }

    async fn put(&self, key: &str, content: Bytes) -> Result<()> {
        let options = PutOptions {
            attributes: self.attributes.clone(),
            ..Default::default()
        };
        self.store
            .put_opts(&self.path(key), PutPayload::from(content), options)
            .await
            .map(|_| ())
            .map_err(|e| failed(key, e))
    }

    async fn stat(&self, key: &str) -> Result<Meta> {
        match self.store.head(&self.path(key)).await {
            Ok(meta) => {
                return Ok(Meta {
                    size: meta.size,
                    modified: SystemTime::from(meta.last_modified),
                    is_dir: false,
                })
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(failed(key, e)),
        }
        match self.below(key).await? {
            Below::Nothing => Err(StorageError::NotFound(key.to_string())),
            Below::File(chunks) => Ok(Meta {
                size: chunks::total(&chunks),
                modified: chunks
                    .iter()
                    .map(|c| c.modified)
                    .max()
                    .unwrap_or(SystemTime::UNIX_EPOCH),
                is_dir: false,
            }),
            Below::Dir(modified) => Ok(Meta {
                size: 0,
                modified,
                is_dir: true,
            }),
        }
    }

    async fn list(&self, key: &str) -> Result<Vec<String>> {
        let prefix = format!("{}{key}/", self.root);
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let options = PaginatedListOptions {
                page_token: token,
                delimiter: Some("/".into()),
                ..Default::default()
            };
            let page = self
                .store
                .list_paginated(Some(&prefix), options)
                .await
                .map_err(|e| failed(key, e))?;
            let files = page.result.objects.into_iter().map(|m| m.location);
            for location in page.result.common_prefixes.into_iter().chain(files) {
                if let Some(name) = location.as_ref().strip_prefix(&prefix) {
                    let name = name.trim_end_matches('/');
                    if !name.is_empty() && chunks::chunk_offset(name).is_none() {
                        names.push(name.to_string());
                    }
                }
            }
            token = page.page_token;
            if token.is_none() {
                break;
            }
        }
        names.sort();
        names.dedup();
        if names.is_empty() {
            return Err(StorageError::NotFound(key.to_string()));
        }
        Ok(names)
    }

    async fn walk(&self, key: &str) -> Result<Vec<String>> {
        let mut files: Vec<String> = self
            .objects_below(key, "", usize::MAX)
            .await?
            .into_iter()
            .map(|(rel, _)| match rel.rsplit_once('/') {
                Some((file, last)) if chunks::chunk_offset(last).is_some() => file.to_string(),
                _ => rel,
            })
            .filter(|rel| chunks::chunk_offset(rel).is_none())
            .collect();
        files.sort();
        files.dedup();
        if files.is_empty() {
            return Err(StorageError::NotFound(key.to_string()));
        }
        Ok(files)
    }

    async fn scan(&self, key: &str, patterns: &[ScanPattern<'_>]) -> Result<Vec<ScannedFile>> {
        // One flat listing gives every object's size and time; chunked files are summed up, and
        // only the files asked for are read, a few at a time.
        let mut files: std::collections::BTreeMap<String, (u64, SystemTime, bool)> =
            Default::default();
        for (rel, meta) in self.objects_below(key, "", usize::MAX).await? {
            let (file, chunked) = match rel.rsplit_once('/') {
                Some((file, last)) if chunks::chunk_offset(last).is_some() => {
                    (file.to_string(), true)
                }
                _ => (rel, false),
            };
            if chunks::chunk_offset(&file).is_some() || !patterns.iter().any(|p| p.matches(&file)) {
                continue;
            }
            let modified = SystemTime::from(meta.last_modified);
            let entry = files
                .entry(file)
                .or_insert((0, SystemTime::UNIX_EPOCH, false));
            entry.0 += meta.size;
            entry.1 = entry.1.max(modified);
            entry.2 |= chunked;
        }
        let reads = files
            .into_iter()
            .map(|(rel, (size, modified, chunked))| async move {
                let read = patterns
                    .iter()
                    .any(|p| p.read == ScanRead::Content && p.matches(&rel));
                let content = if !chunked && read && size <= SCAN_READ_MAX {
                    let full = format!("{key}/{rel}");
                    match self.store.get(&self.path(&full)).await {
                        Ok(r) => Some(r.bytes().await.map(own).map_err(|e| failed(&full, e))?),
                        Err(object_store::Error::NotFound { .. }) => return Ok(None),
                        Err(e) => return Err(failed(&full, e)),
                    }
                } else {
                    None
                };
                Ok(Some(ScannedFile {
                    key: rel,
                    meta: Some(Meta {
                        size,
                        modified,
                        is_dir: false,
                    }),
                    content,
                }))
            });
        let found: Vec<Option<ScannedFile>> = stream::iter(reads)
            .buffered(SCAN_READS)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn walk_after(&self, key: &str, after: &str, limit: usize) -> Result<Vec<String>> {
        let objects = self.objects_below(key, after, limit).await?;
        Ok(objects.into_iter().map(|(rel, _)| rel).collect())
    }

    async fn find_dirs(&self, root: &str, query: &DirQuery<'_>) -> Result<Vec<String>> {
        // The catalog reads its index on S3; this complete walk serves the storage contract.
        match self.walk(root).await {
            Ok(files) => Ok(walk::dirs_from_files(&files, query)),
            Err(StorageError::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    async fn read(&self, key: &str, offset: u64, len: u64) -> Result<ByteStream> {
        if len == 0 {
            self.stat(key).await?;
            return Ok(stream::empty().boxed());
        }
        let options = GetOptions {
            range: Some((offset..offset.saturating_add(len)).into()),
            ..Default::default()
        };
        match self.store.get_opts(&self.path(key), options).await {
            Ok(r) => Ok(r.into_stream().map_err(io::Error::other).boxed()),
            Err(object_store::Error::NotFound { .. }) => {
                let chunks = self.chunks_of(key).await?;
                Ok(self.read_chunks(key, chunks, offset, len))
            }
            Err(e) => Err(failed(key, e)),
        }
    }

    async fn appender(&self, key: &str) -> Result<Box<dyn Appender>> {
        match self.store.head(&self.path(key)).await {
            Ok(_) => {
                return Err(io_failed(
                    key,
                    io::Error::new(
                        io::ErrorKind::Unsupported,
                        "cannot append to a file written whole on S3",
                    ),
                ))
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(failed(key, e)),
        }
        let (size, create) = match self.chunks_of(key).await {
            Ok(chunks) => (chunks::total(&chunks), false),
            Err(StorageError::NotFound(_)) => (0, true),
            Err(e) => return Err(e),
        };
        let location = self.path(&format!("{key}/{}", chunks::chunk_name(size)));
        Ok(Box::new(ChunkAppender::new(
            self.dyn_store(),
            location,
            self.part_size,
            self.attributes.clone(),
            create,
        )))
    }

    async fn commit(&self, from: &str, to: &str) -> Result<()> {
        let target_exists = match self.store.head(&self.path(to)).await {
            Ok(_) => true,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => return Err(failed(to, e)),
        };
        if !target_exists {
            match self.store.head(&self.path(from)).await {
                Ok(_) => self
                    .store
                    .copy(&self.path(from), &self.path(to))
                    .await
                    .map_err(|e| failed(to, e))?,
                Err(object_store::Error::NotFound { .. }) => {
                    let chunks = self.chunks_of(from).await?;
                    self.assemble(from, to, chunks).await?;
                }
                Err(e) => return Err(failed(from, e)),
            }
        }
        self.delete(from).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        // S3 answers a DELETE of an absent key with success, so existence is asked first.
        let file = match self.store.head(&self.path(key)).await {
            Ok(_) => {
                self.store
                    .delete(&self.path(key))
                    .await
                    .map_err(|e| failed(key, e))?;
                true
            }
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => return Err(failed(key, e)),
        };
        let below = self.delete_below(key).await?;
        if !file && below == 0 {
            return Err(StorageError::NotFound(key.to_string()));
        }
        Ok(())
    }

    async fn signed_url(&self, key: &str, expires: Duration) -> Result<Option<String>> {
        self.signer
            .signed_url(http::Method::GET, &self.path(key), expires)
            .await
            .map(|url| Some(url.to_string()))
            .map_err(|e| failed(key, e))
    }
}

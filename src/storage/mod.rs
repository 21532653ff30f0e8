//! The storage contract: a small, dumb key/value store of files and directories.
//!
//! The registry services above it decide what keys mean ([`paths`] is the only place keys are built).
//! Backends ([`filesystem`], [`memory`], [`s3`]) only move bytes. Every backend guarantees:
//! - `put` and `commit` are atomic and durable: readers see the old content or the new, never a part,
//!   and once the call returns the data survives a crash;
//! - `list` returns child names (never temp files), sorted byte-wise. A listed directory may hold no
//!   file any more: the filesystem keeps emptied directories, and S3 engines such as SeaweedFS keep
//!   listing a prefix after its last object is deleted. So a listed name is never proof that
//!   something exists; `stat` and `walk` are exact;
//! - reads and appends stream: no call holds a whole blob in memory.

pub mod filesystem;
pub mod listing_cache;
pub mod memory;
pub mod s3;
pub mod walk;

use std::io;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use futures_util::Stream;

pub use walk::DirQuery;

/// A stream of bytes read from storage or received from a client.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// What can go wrong in a backend.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Nothing is stored at the key.
    #[error("not found: {0}")]
    NotFound(String),
    /// The backend failed.
    #[error("storage I/O error at {path}: {source}")]
    Io {
        /// The key being accessed.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
}

impl StorageError {
    /// Wraps an I/O error, turning `NotFound` into [`StorageError::NotFound`].
    pub fn from_io(path: &str, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::NotFound {
            StorageError::NotFound(path.to_string())
        } else {
            StorageError::Io {
                path: path.to_string(),
                source,
            }
        }
    }
}

/// Result of a storage call.
pub type Result<T> = std::result::Result<T, StorageError>;

/// Size and age of a stored file or directory.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    /// Length in bytes (0 for directories).
    pub size: u64,
    /// Last modification time.
    pub modified: SystemTime,
    /// Whether the key is a directory.
    pub is_dir: bool,
}

/// Reads [`Storage::get_many`] keeps in flight where each is a request of its own.
pub const GET_MANY_WIDTH: usize = 16;

/// Batches of reads a maintenance job keeps in flight by default ([`Storage::read_width`]).
pub const DEFAULT_READ_WIDTH: usize = 8;

/// The largest file whose contents [`Storage::scan`] returns.
pub const SCAN_READ_MAX: u64 = 4096;

/// Which files a [`Storage::scan`] returns: keys relative to the scanned directory, with `*` for a
/// component that matches any one name (`tags/*/current/link`), and how much of each to read.
#[derive(Debug, Clone, Copy)]
pub struct ScanPattern<'a> {
    /// The key, components separated by `/`, `*` matching any one name.
    pub key: &'a str,
    /// What the scan returns of each file it matches.
    pub read: ScanRead,
}

/// How much a [`Storage::scan`] reads of the files a pattern matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanRead {
    /// Their keys, and their size and time only where the storage has them anyway (an object
    /// store's listing). A filesystem does not look up a literal last component inside a directory
    /// it listed: the key may name a file a delete removed while its directory stayed, so a caller
    /// checks a file it acts on.
    Key,
    /// Their keys, sizes and modification times.
    Meta,
    /// Their keys, sizes, times and contents (at most [`SCAN_READ_MAX`] bytes).
    Content,
}

impl ScanPattern<'_> {
    /// Whether `key` (relative to the scanned directory) matches: as many components, each equal
    /// or matched by `*`.
    pub fn matches(&self, key: &str) -> bool {
        let mut want = self.key.split('/');
        let mut have = key.split('/');
        loop {
            match (want.next(), have.next()) {
                (None, None) => return true,
                (Some(w), Some(h)) if w == "*" || w == h => {}
                _ => return false,
            }
        }
    }
}

/// A file found by [`Storage::scan`].
#[derive(Debug, Clone)]
pub struct ScannedFile {
    /// Its key, relative to the scanned directory.
    pub key: String,
    /// Its length and modification time: always with [`ScanRead::Meta`] and [`ScanRead::Content`],
    /// with [`ScanRead::Key`] where the storage had them anyway.
    pub meta: Option<Meta>,
    /// Its contents, for a file the scan was asked to read (at most [`SCAN_READ_MAX`] bytes).
    pub content: Option<Bytes>,
}

impl ScannedFile {
    /// A file named by its key alone ([`ScanRead::Key`] where nothing else was read).
    pub fn named(key: String) -> ScannedFile {
        ScannedFile {
            key,
            meta: None,
            content: None,
        }
    }
}

/// One state of a directory's list of children, as a backend can tell it cheaply: two equal versions
/// of the same directory mean the same children. See [`Storage::dir_version`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirVersion {
    /// What identifies the directory itself (an inode number), so a re-created directory differs.
    pub id: u64,
    /// When its list of children last changed, in nanoseconds since the epoch.
    pub changed_ns: i128,
}

/// An open file that bytes are appended to, for uploads.
#[async_trait]
pub trait Appender: Send {
    /// Appends `bytes`. A backend may return before the write completes (so the caller can receive the
    /// next bytes meanwhile); a failed write is reported by a later `append` or by `close`.
    async fn append(&mut self, bytes: Bytes) -> io::Result<()>;
    /// Appends `chunks` in order, as [`Appender::append`] of their concatenation; a backend may write
    /// them without joining them first.
    async fn append_all(&mut self, chunks: Vec<Bytes>) -> io::Result<()> {
        for chunk in chunks {
            self.append(chunk).await?;
        }
        Ok(())
    }
    /// Completes every write, so what was appended is visible to readers and `stat` (not necessarily
    /// durable: [`Storage::commit`] makes it so).
    async fn close(self: Box<Self>) -> io::Result<()>;
}

/// A storage backend.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Reads a small file whole (links, manifests, timestamps).
    async fn get(&self, path: &str) -> Result<Bytes>;
    /// Reads several small files whole, one result per path in the same order (a missing file is
    /// its `NotFound`). For maintenance jobs that read many: the default keeps [`GET_MANY_WIDTH`]
    /// reads in flight; the filesystem reads them all in one blocking task.
    async fn get_many(&self, paths: &[String]) -> Vec<Result<Bytes>> {
        let reads: Vec<_> = paths.iter().map(|p| self.get(p)).collect();
        stream::iter(reads).buffered(GET_MANY_WIDTH).collect().await
    }
    /// How many independent batches of reads ([`Storage::scan`], [`Storage::get_many`]) a maintenance
    /// job keeps in flight, such as a collection marking repositories. The default suits a backend
    /// whose batches fan out by themselves (S3: each is many requests at once); the filesystem reads a
    /// batch on one blocking thread, one disk read at a time, so on a cold page cache only many batches
    /// at once keep the disk's queue full.
    fn read_width(&self) -> usize {
        DEFAULT_READ_WIDTH
    }
    /// Whether reading a file makes reading it again soon cheaper (the filesystem's page cache), so
    /// that a job with time to wait may read ahead what it reads next. The default is no.
    fn read_ahead_helps(&self) -> bool {
        false
    }
    /// Writes a small file atomically and durably, creating parent directories.
    async fn put(&self, path: &str, content: Bytes) -> Result<()>;
    /// Writes a small file atomically, creating parent directories, without waiting for it to be
    /// durable: for markers only running processes read (a collection's sweeping marker), which a
    /// crash of the machine may lose or leave empty. Every process reads it at once, as after
    /// [`Storage::put`]. The default is `put`.
    async fn put_transient(&self, path: &str, content: Bytes) -> Result<()> {
        self.put(path, content).await
    }
    /// Size and age of a file or directory.
    async fn stat(&self, path: &str) -> Result<Meta>;
    /// Names of the children of a directory, sorted byte-wise (possibly naming emptied directories).
    async fn list(&self, path: &str) -> Result<Vec<String>>;
    /// Keys of every file below a directory, relative to it and sorted byte-wise; `NotFound` when it
    /// holds none. On object stores this is one flat listing, so it is exact and cheap for small trees.
    async fn walk(&self, path: &str) -> Result<Vec<String>>;
    /// Up to `limit` keys of the files below a directory that sort byte-wise after `after` (relative
    /// to the directory, sorted), for trees of files written by `put`; none when it holds none. Object
    /// stores start the listing there, so a page of a large tree costs a request, not the tree. Some
    /// engines (SeaweedFS) list level by level, ordering `a/b` before `a-b`: callers that page through
    /// keys in byte-wise order use keys without `/`.
    async fn walk_after(&self, path: &str, after: &str, limit: usize) -> Result<Vec<String>> {
        let mut files = match self.walk(path).await {
            Ok(files) => files,
            Err(StorageError::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        files.retain(|f| f.as_str() > after);
        files.truncate(limit);
        Ok(files)
    }
    /// The files below a directory whose keys (relative to it) match one of `patterns`, sorted by key,
    /// with what each pattern asks of them ([`ScanRead`]). An absent directory has none. For
    /// maintenance jobs that read a whole subtree: the filesystem enters only the directories a
    /// pattern names (a literal component costs no listing), all in one blocking task; object stores
    /// list the subtree once (their listings carry sizes and times); the default walks, then stats
    /// and reads one file at a time. A file removed while it is scanned may be missing.
    async fn scan(&self, path: &str, patterns: &[ScanPattern<'_>]) -> Result<Vec<ScannedFile>> {
        let keys = match self.walk(path).await {
            Ok(keys) => keys,
            Err(StorageError::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(pattern) = patterns.iter().find(|p| p.matches(&key)) else {
                continue;
            };
            if pattern.read == ScanRead::Key {
                found.push(ScannedFile::named(key));
                continue;
            }
            let full = format!("{path}/{key}");
            let meta = match self.stat(&full).await {
                Ok(meta) => meta,
                Err(StorageError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            let content = if pattern.read == ScanRead::Content && meta.size <= SCAN_READ_MAX {
                match self.get(&full).await {
                    Ok(bytes) => Some(bytes),
                    Err(StorageError::NotFound(_)) => continue,
                    Err(e) => return Err(e),
                }
            } else {
                None
            };
            found.push(ScannedFile {
                key,
                meta: Some(meta),
                content,
            });
        }
        Ok(found)
    }
    /// Streams `len` bytes of a file starting at `offset`.
    async fn read(&self, path: &str, offset: u64, len: u64) -> Result<ByteStream>;
    /// Opens a file for appending, creating it and its parents if needed.
    async fn appender(&self, path: &str) -> Result<Box<dyn Appender>>;
    /// Makes the file at `from` durable and moves it to `to` atomically. If `to` already exists (content-
    /// addressed data), `from` is removed and `to` kept.
    async fn commit(&self, from: &str, to: &str) -> Result<()>;
    /// Deletes a file or a whole directory tree. Deleting something absent is `NotFound`.
    async fn delete(&self, path: &str) -> Result<()>;
    /// Deletes each of `paths` in order, as [`Storage::delete`], passing over those absent; stops at
    /// the first failure, leaving the rest. For maintenance jobs whose deletes must keep their order
    /// (links before what they point at): the filesystem makes them all in one blocking task, and
    /// removes the directory of a deleted file when that leaves it empty (a link's, a blob's), so
    /// that later walks do not list it.
    async fn delete_present(&self, paths: &[String]) -> Result<()> {
        for path in paths {
            match self.delete(path).await {
                Ok(()) | Err(StorageError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
    /// One page of the directories under `root` that hold `query.marker` (see [`walk::find_dirs`]):
    /// paths relative to `root`, sorted byte-wise. An absent `root` has none.
    async fn find_dirs(&self, root: &str, query: &DirQuery<'_>) -> Result<Vec<String>>;
    /// The version of a directory's list of children, when the backend can vouch that any later change
    /// to that list gives another version; `None` when it cannot (the default, and a directory changed
    /// too recently for its timestamp to tell). Callers use it to cache listings.
    async fn dir_version(&self, _path: &str) -> Result<Option<DirVersion>> {
        Ok(None)
    }
    /// The file itself, open for reading, when the backend keeps files on a local filesystem (to send it
    /// to a socket without copying); `None` otherwise.
    async fn local_file(&self, _path: &str) -> Result<Option<std::fs::File>> {
        Ok(None)
    }
    /// Keys of what interrupted writes left behind (a crash between writing a file and renaming it into
    /// place) last modified before `before`, for the purger to delete. Backends whose writes leave
    /// nothing behind have none (the default).
    async fn leftovers(&self, _before: SystemTime) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    /// A URL a client can `GET` the file from directly for `expires`, when the backend has such URLs
    /// (presigned object-store URLs); `None` otherwise.
    async fn signed_url(&self, _path: &str, _expires: Duration) -> Result<Option<String>> {
        Ok(None)
    }
}

#[cfg(test)]
mod contract_tests;

//! The in-memory backend, for unit tests: a sorted map from key to bytes. Directories are implied by keys.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::stream;

use super::walk::{self, DirQuery, DirSource};
use super::{Appender, ByteStream, Meta, Result, Storage, StorageError};

/// Largest piece `read` yields at once, so consumers see a stream as they would from disk.
const READ_CHUNK: usize = 64 * 1024;

type Files = Arc<Mutex<BTreeMap<String, (Bytes, SystemTime)>>>;

/// Storage in process memory; nothing survives the process.
#[derive(Debug, Default, Clone)]
pub struct Memory {
    files: Files,
}

impl Memory {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (Bytes, SystemTime)>> {
        // A poisoned lock only means another test thread panicked; the map itself is always consistent.
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn dir_prefix(key: &str) -> String {
    format!("{}/", key.trim_end_matches('/'))
}

#[async_trait]
impl Storage for Memory {
    async fn get(&self, key: &str) -> Result<Bytes> {
        self.lock()
            .get(key)
            .map(|(b, _)| b.clone())
            .ok_or_else(|| StorageError::NotFound(key.to_string()))
    }

    async fn put(&self, key: &str, content: Bytes) -> Result<()> {
        self.lock()
            .insert(key.to_string(), (content, SystemTime::now()));
        Ok(())
    }

    async fn stat(&self, key: &str) -> Result<Meta> {
        let files = self.lock();
        if let Some((b, t)) = files.get(key) {
            return Ok(Meta {
                size: b.len() as u64,
                modified: *t,
                is_dir: false,
            });
        }
        let prefix = dir_prefix(key);
        files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, (_, t))| *t)
            .max()
            .map(|modified| Meta {
                size: 0,
                modified,
                is_dir: true,
            })
            .ok_or_else(|| StorageError::NotFound(key.to_string()))
    }

    async fn list(&self, key: &str) -> Result<Vec<String>> {
        let prefix = dir_prefix(key);
        let files = self.lock();
        let mut names: Vec<String> = files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| k[prefix.len()..].split('/').next().map(str::to_string))
            .collect();
        names.dedup();
        if names.is_empty() {
            return Err(StorageError::NotFound(key.to_string()));
        }
        Ok(names)
    }

    async fn walk(&self, key: &str) -> Result<Vec<String>> {
        let prefix = dir_prefix(key);
        let files: Vec<String> = self
            .lock()
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k[prefix.len()..].to_string())
            .collect();
        if files.is_empty() {
            return Err(StorageError::NotFound(key.to_string()));
        }
        Ok(files)
    }

    async fn read(&self, key: &str, offset: u64, len: u64) -> Result<ByteStream> {
        let data = self.get(key).await?;
        let start = (offset as usize).min(data.len());
        let end = start.saturating_add(len as usize).min(data.len());
        let slice = data.slice(start..end);
        let chunks: Vec<io::Result<Bytes>> = (0..slice.len())
            .step_by(READ_CHUNK)
            .map(|i| Ok(slice.slice(i..(i + READ_CHUNK).min(slice.len()))))
            .collect();
        Ok(Box::pin(stream::iter(chunks)))
    }

    async fn appender(&self, key: &str) -> Result<Box<dyn Appender>> {
        let existing = self.get(key).await.unwrap_or_default();
        let store = self.clone();
        store.put(key, existing.clone()).await?;
        Ok(Box::new(MemoryAppender {
            store,
            key: key.to_string(),
            buf: BytesMut::from(&existing[..]),
        }))
    }

    async fn commit(&self, from: &str, to: &str) -> Result<()> {
        let mut files = self.lock();
        let entry = files
            .remove(from)
            .ok_or_else(|| StorageError::NotFound(from.to_string()))?;
        files.entry(to.to_string()).or_insert(entry);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let prefix = dir_prefix(key);
        let mut files = self.lock();
        let before = files.len();
        files.retain(|k, _| k != key && !k.starts_with(&prefix));
        if files.len() == before {
            return Err(StorageError::NotFound(key.to_string()));
        }
        Ok(())
    }

    async fn find_dirs(&self, root: &str, query: &DirQuery<'_>) -> Result<Vec<String>> {
        let files = self.lock();
        walk::find_dirs(&Tree(&files), root, query).map_err(|e| StorageError::from_io(root, e))
    }
}

/// The directories implied by the keys, for [`walk::find_dirs`].
struct Tree<'a>(&'a BTreeMap<String, (Bytes, SystemTime)>);

impl DirSource for Tree<'_> {
    fn children(&self, dir: &str) -> io::Result<Option<std::sync::Arc<Vec<String>>>> {
        let prefix = dir_prefix(dir);
        let mut names: Vec<String> = self
            .0
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| k[prefix.len()..].split('/').next().map(str::to_string))
            .collect();
        names.dedup();
        Ok((!names.is_empty()).then(|| names.into()))
    }

    fn has_child(&self, dir: &str, name: &str) -> io::Result<bool> {
        let key = format!("{}{name}", dir_prefix(dir));
        let below = dir_prefix(&key);
        Ok(self.0.contains_key(&key)
            || self
                .0
                .range(below.clone()..)
                .next()
                .is_some_and(|(k, _)| k.starts_with(&below)))
    }
}

/// Appends to a buffer and publishes it to the map when closed.
struct MemoryAppender {
    store: Memory,
    key: String,
    buf: BytesMut,
}

#[async_trait]
impl Appender for MemoryAppender {
    async fn append(&mut self, bytes: Bytes) -> io::Result<()> {
        self.buf.extend_from_slice(&bytes);
        Ok(())
    }

    async fn close(self: Box<Self>) -> io::Result<()> {
        let MemoryAppender { store, key, buf } = *self;
        store.lock().insert(key, (buf.freeze(), SystemTime::now()));
        Ok(())
    }
}

//! Appendable files on S3, whose objects cannot be appended to: a file written by
//! [`Storage::appender`](crate::storage::Storage::appender) is a set of chunk objects
//! `<key>/.chunk-<offset>` (offset zero-padded to 20 digits), one per opening, each streamed as an S3
//! multipart upload. Every replica sees the same chunks, so any of them can continue or finish an upload.

use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{Attributes, ObjectMeta, ObjectStore};
use tokio::io::AsyncWriteExt;

use crate::storage::Appender;

/// Prefix of a chunk object's name inside its file's "directory"; no layout component starts with `.`.
const CHUNK_PREFIX: &str = ".chunk-";

/// The name of the chunk starting at `offset`.
pub(super) fn chunk_name(offset: u64) -> String {
    format!("{CHUNK_PREFIX}{offset:020}")
}

/// The offset of a chunk object's name, if it is one.
pub(super) fn chunk_offset(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(CHUNK_PREFIX)?;
    (digits.len() == 20).then(|| digits.parse().ok()).flatten()
}

/// One stored chunk.
#[derive(Debug, Clone)]
pub(super) struct Chunk {
    /// Where it starts in the file.
    pub offset: u64,
    /// Its length.
    pub size: u64,
    /// Its object.
    pub location: Path,
    /// When it was written.
    pub modified: SystemTime,
}

/// What the objects below `<key>/` make of `key`.
pub(super) enum Below {
    /// Nothing: no such file or directory.
    Nothing,
    /// A chunked file: its chunks in order, contiguous from 0.
    File(Vec<Chunk>),
    /// A directory; the time is of one of its objects.
    Dir(SystemTime),
}

/// Classifies the objects found under `<key>/` (relative names with their metadata).
pub(super) fn classify(key: &str, objects: Vec<(String, ObjectMeta)>) -> io::Result<Below> {
    let Some(first) = objects.first() else {
        return Ok(Below::Nothing);
    };
    if chunk_offset(&first.0).is_none() || objects.iter().any(|(n, _)| n.contains('/')) {
        let modified = SystemTime::from(first.1.last_modified);
        return Ok(Below::Dir(modified));
    }
    let mut chunks: Vec<Chunk> = objects
        .into_iter()
        .filter_map(|(name, meta)| {
            Some(Chunk {
                offset: chunk_offset(&name)?,
                size: meta.size,
                location: meta.location,
                modified: SystemTime::from(meta.last_modified),
            })
        })
        .collect();
    chunks.sort_by_key(|c| c.offset);
    let mut end = 0;
    for c in &chunks {
        if c.offset != end {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("chunks of {key} are not contiguous: one starts at {} after {end} bytes (two replicas appended at once?)", c.offset),
            ));
        }
        end += c.size;
    }
    Ok(Below::File(chunks))
}

/// The total length of contiguous chunks.
pub(super) fn total(chunks: &[Chunk]) -> u64 {
    chunks.last().map(|c| c.offset + c.size).unwrap_or(0)
}

/// Streams one chunk: buffered to one `PUT` when small, else a multipart upload of `part_size` parts.
pub(super) struct ChunkAppender {
    writer: Option<BufWriter>,
    written: u64,
    /// Whether an empty chunk must still be written on close (the file does not exist yet).
    create: bool,
}

impl ChunkAppender {
    /// A new chunk at `location`; `create` when the file has no chunk yet.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        location: Path,
        part_size: usize,
        attributes: Attributes,
        create: bool,
    ) -> Self {
        let writer = BufWriter::with_capacity(store, location, part_size)
            .with_max_concurrency(2)
            .with_attributes(attributes);
        ChunkAppender {
            writer: Some(writer),
            written: 0,
            create,
        }
    }
}

#[async_trait]
impl Appender for ChunkAppender {
    async fn append(&mut self, bytes: Bytes) -> io::Result<()> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| io::Error::other("chunk already closed"))?;
        self.written += bytes.len() as u64;
        writer.put(bytes).await.map_err(io::Error::other)
    }

    async fn close(mut self: Box<Self>) -> io::Result<()> {
        let Some(mut writer) = self.writer.take() else {
            return Ok(());
        };
        if self.written == 0 && !self.create {
            // Nothing was sent and the file exists: no request was made, so nothing is left behind.
            return Ok(());
        }
        writer.shutdown().await
    }
}

impl Drop for ChunkAppender {
    /// An appender dropped before `close` (a cancelled request) aborts its multipart upload, so no
    /// parts are left billed in the bucket.
    fn drop(&mut self) {
        if let (Some(mut writer), Ok(runtime)) =
            (self.writer.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(async move {
                let _ = writer.abort().await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunk names round-trip and sort in offset order; other names are not chunks.
    #[test]
    fn chunk_names() {
        assert_eq!(chunk_offset(&chunk_name(1234)), Some(1234));
        assert!(chunk_name(9) < chunk_name(10));
        assert_eq!(chunk_offset("link"), None);
        assert_eq!(chunk_offset(".chunk-12"), None);
    }
}

//! The filesystem backend: keys are paths under a root directory, laid out as distribution lays them out.
//!
//! Small files are written to `<path>.<uuid>.tmp`, fsynced, renamed over the target and the directory
//! fsynced, so a crash leaves the old or the new content. Blob data is fsynced before it is renamed into
//! place by [`Storage::commit`].

use std::io::{self, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::fs;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_util::io::ReaderStream;

use super::{Appender, ByteStream, Meta, Result, Storage, StorageError};

/// Read buffer size for streaming blobs.
const READ_CHUNK: usize = 256 * 1024;
/// Suffix of in-progress atomic writes; `list` hides them.
const TMP_SUFFIX: &str = ".tmp";

/// Storage in a local directory.
#[derive(Debug, Clone)]
pub struct Filesystem {
    root: PathBuf,
}

impl Filesystem {
    /// A backend rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Filesystem { root: root.into() }
    }

    /// Maps a key to a path. Keys come from [`super::paths`] and hold only validated components; this
    /// check is a second line of defence.
    fn full(&self, key: &str) -> Result<PathBuf> {
        let safe = key
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\\'));
        if !safe {
            return Err(StorageError::Io {
                path: key.to_string(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "unsafe storage key"),
            });
        }
        Ok(self.root.join(key))
    }
}

async fn create_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => fs::create_dir_all(dir).await,
        None => Ok(()),
    }
}

/// Makes a rename or create in `dir` durable.
async fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
        .await
        .map_err(io::Error::other)?
}

#[async_trait]
impl Storage for Filesystem {
    async fn get(&self, key: &str) -> Result<Bytes> {
        let path = self.full(key)?;
        fs::read(&path)
            .await
            .map(Bytes::from)
            .map_err(|e| StorageError::from_io(key, e))
    }

    async fn put(&self, key: &str, content: Bytes) -> Result<()> {
        let path = self.full(key)?;
        let io = async {
            create_parent(&path).await?;
            let tmp = path.with_file_name(format!(
                "{}.{}{TMP_SUFFIX}",
                path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
                uuid::Uuid::new_v4()
            ));
            let mut file = fs::File::create(&tmp).await?;
            file.write_all(&content).await?;
            file.sync_all().await?;
            drop(file);
            if let Err(e) = fs::rename(&tmp, &path).await {
                let _ = fs::remove_file(&tmp).await;
                return Err(e);
            }
            sync_dir(path.parent().unwrap_or(&self.root)).await
        };
        io.await.map_err(|e| StorageError::from_io(key, e))
    }

    async fn stat(&self, key: &str) -> Result<Meta> {
        let path = self.full(key)?;
        let m = fs::metadata(&path)
            .await
            .map_err(|e| StorageError::from_io(key, e))?;
        Ok(Meta {
            size: if m.is_dir() { 0 } else { m.len() },
            modified: m.modified().map_err(|e| StorageError::from_io(key, e))?,
            is_dir: m.is_dir(),
        })
    }

    async fn list(&self, key: &str) -> Result<Vec<String>> {
        let path = self.full(key)?;
        let mut dir = fs::read_dir(&path)
            .await
            .map_err(|e| StorageError::from_io(key, e))?;
        let mut names = Vec::new();
        while let Some(entry) = dir
            .next_entry()
            .await
            .map_err(|e| StorageError::from_io(key, e))?
        {
            if let Ok(name) = entry.file_name().into_string() {
                if !name.ends_with(TMP_SUFFIX) {
                    names.push(name);
                }
            }
        }
        names.sort();
        Ok(names)
    }

    async fn walk(&self, key: &str) -> Result<Vec<String>> {
        let mut files = Vec::new();
        let mut stack = vec![String::new()];
        while let Some(rel) = stack.pop() {
            let dir = if rel.is_empty() {
                key.to_string()
            } else {
                format!("{key}/{rel}")
            };
            let children = match self.list(&dir).await {
                Ok(c) => c,
                Err(StorageError::NotFound(_)) if !rel.is_empty() => continue,
                Err(e) => return Err(e),
            };
            for child in children {
                let child_rel = if rel.is_empty() {
                    child
                } else {
                    format!("{rel}/{child}")
                };
                let path = self.full(&format!("{key}/{child_rel}"))?;
                match fs::metadata(&path).await {
                    Ok(m) if m.is_dir() => stack.push(child_rel),
                    Ok(_) => files.push(child_rel),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StorageError::from_io(key, e)),
                }
            }
        }
        if files.is_empty() {
            return Err(StorageError::NotFound(key.to_string()));
        }
        files.sort();
        Ok(files)
    }

    async fn read(&self, key: &str, offset: u64, len: u64) -> Result<ByteStream> {
        let path = self.full(key)?;
        let mut file = fs::File::open(&path)
            .await
            .map_err(|e| StorageError::from_io(key, e))?;
        if offset > 0 {
            file.seek(SeekFrom::Start(offset))
                .await
                .map_err(|e| StorageError::from_io(key, e))?;
        }
        let stream = ReaderStream::with_capacity(file.take(len), READ_CHUNK);
        Ok(stream.boxed())
    }

    async fn appender(&self, key: &str) -> Result<Box<dyn Appender>> {
        let path = self.full(key)?;
        let io = async {
            create_parent(&path).await?;
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .await
        };
        let file = io.await.map_err(|e| StorageError::from_io(key, e))?;
        Ok(Box::new(FileAppender {
            file: Arc::new(file.into_std().await),
            in_flight: None,
        }))
    }

    async fn commit(&self, from: &str, to: &str) -> Result<()> {
        let src = self.full(from)?;
        let dst = self.full(to)?;
        fs::File::open(&src)
            .await
            .map_err(|e| StorageError::from_io(from, e))?
            .sync_all()
            .await
            .map_err(|e| StorageError::from_io(from, e))?;
        if fs::try_exists(&dst).await.unwrap_or(false) {
            return fs::remove_file(&src)
                .await
                .map_err(|e| StorageError::from_io(from, e));
        }
        let io = async {
            create_parent(&dst).await?;
            fs::rename(&src, &dst).await?;
            sync_dir(dst.parent().unwrap_or(&self.root)).await
        };
        io.await.map_err(|e| StorageError::from_io(to, e))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.full(key)?;
        let meta = fs::symlink_metadata(&path)
            .await
            .map_err(|e| StorageError::from_io(key, e))?;
        let res = if meta.is_dir() {
            fs::remove_dir_all(&path).await
        } else {
            fs::remove_file(&path).await
        };
        res.map_err(|e| StorageError::from_io(key, e))
    }
}

/// Appends on the blocking pool, one write in flight while the caller gathers the next bytes.
struct FileAppender {
    file: Arc<std::fs::File>,
    in_flight: Option<JoinHandle<io::Result<()>>>,
}

impl FileAppender {
    async fn wait(&mut self) -> io::Result<()> {
        match self.in_flight.take() {
            Some(write) => write.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Appender for FileAppender {
    async fn append(&mut self, bytes: Bytes) -> io::Result<()> {
        self.wait().await?;
        let file = self.file.clone();
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            (&*file).write_all(&bytes)
        }));
        Ok(())
    }

    async fn close(mut self: Box<Self>) -> io::Result<()> {
        self.wait().await
    }
}

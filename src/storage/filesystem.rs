//! The filesystem backend: keys are paths under a root directory, laid out as distribution lays them out.
//!
//! Small files are written to `<path>.<uuid>.tmp`, fsynced, renamed over the target and the directory
//! fsynced, so a crash leaves the old or the new content. Blob data is fsynced before it is renamed into
//! place by [`Storage::commit`].
//!
//! The catalog walk ([`Storage::find_dirs`]) reuses the listing of a directory whose version is settled
//! (see [`crate::storage::listing_cache`]); blob files can be handed out open ([`Storage::local_file`]) to be
//! sent to a socket without copying.

use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::fs;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;

use super::walk::{self, DirQuery, DirSource};
use super::{
    Appender, ByteStream, DirVersion, Meta, Result, ScanPattern, ScanRead, ScannedFile, Storage,
    StorageError, SCAN_READ_MAX,
};
use crate::storage::listing_cache::ListingCache;

/// Read size for streaming blobs: large enough that a chunk costs few system calls and task hand-offs,
/// small enough that a download holds little memory (two chunks: one being sent, one being read).
const READ_CHUNK: usize = 512 * 1024;
/// How old a directory's modification time must be before it vouches for the directory's children.
/// Timestamps are coarse (ext4 takes them from the clock tick; other filesystems round to 1 or 2 s), so a
/// change made in the same tick as a read could leave the time as it was; once the time is this far in
/// the past, any later change moves it.
const SETTLED: std::time::Duration = std::time::Duration::from_secs(2);
/// Suffix of in-progress atomic writes; `list` hides them.
const TMP_SUFFIX: &str = ".tmp";

/// Storage in a local directory.
#[derive(Clone)]
pub struct Filesystem {
    root: PathBuf,
    /// The directories the catalog walk reads, by path, while they keep their version.
    walk_listings: Arc<ListingCache>,
}

impl Filesystem {
    /// Writes a small file through a temporary file and a rename, creating parent directories;
    /// with `durable`, the file and its directory are synced before it returns.
    async fn write_small(&self, key: &str, content: Bytes, durable: bool) -> Result<()> {
        let path = self.full(key)?;
        let write = || async {
            create_parent(&path).await?;
            let tmp = path.with_file_name(format!(
                "{}.{}{TMP_SUFFIX}",
                path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
                uuid::Uuid::new_v4()
            ));
            let mut file = fs::File::create(&tmp).await?;
            file.write_all(&content).await?;
            if durable {
                file.sync_all().await?;
            }
            drop(file);
            if let Err(e) = fs::rename(&tmp, &path).await {
                let _ = fs::remove_file(&tmp).await;
                return Err(e);
            }
            match durable {
                true => sync_dir(path.parent().unwrap_or(&self.root)).await,
                false => Ok(()),
            }
        };
        again_if_dir_removed(write, || async { true })
            .await
            .map_err(|e| StorageError::from_io(key, e))
    }

    /// A backend rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Filesystem {
            root: root.into(),
            walk_listings: Arc::default(),
        }
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

/// How many times a write is tried when a concurrent cleanup removes its directory between its
/// creation and the write into it.
const DIR_REMOVED_ATTEMPTS: usize = 10;

/// Runs `write`, which creates its parent directory first, again while it fails with "not found"
/// and `retry` agrees: another task removed the directory meanwhile (a collection ending removes
/// its records' directory while a writer records into it; removing an emptied directory races
/// with a write into it). Nothing but that race makes a write of a new file "not found".
async fn again_if_dir_removed<T, W, WF, R, RF>(write: W, retry: R) -> io::Result<T>
where
    W: Fn() -> WF,
    WF: Future<Output = io::Result<T>>,
    R: Fn() -> RF,
    RF: Future<Output = bool>,
{
    let mut attempt = 1;
    loop {
        match write().await {
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    && attempt < DIR_REMOVED_ATTEMPTS
                    && retry().await =>
            {
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Whether `name` is one of [`Storage::put`]'s temporary files: `<name>.<uuid>.tmp`.
fn is_temporary(name: &str) -> bool {
    name.strip_suffix(TMP_SUFFIX)
        .and_then(|rest| rest.rsplit_once('.'))
        .is_some_and(|(base, id)| !base.is_empty() && uuid::Uuid::try_parse(id).is_ok())
}

/// Adds to `found` the keys (under `key`, the directory `dir`) of temporary files last modified before
/// `before`. Symbolic links are not followed.
fn find_leftovers(
    dir: &Path,
    key: &str,
    before: SystemTime,
    found: &mut Vec<String>,
) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let child = if key.is_empty() {
            name.clone()
        } else {
            format!("{key}/{name}")
        };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            match find_leftovers(&entry.path(), &child, before, found) {
                // Removed meanwhile (a repository deleted, a session purged).
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                other => other?,
            }
        } else if kind.is_file() && is_temporary(&name) {
            match entry.metadata().and_then(|m| m.modified()) {
                Ok(modified) if modified < before => found.push(child),
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    Ok(())
}

/// The buffer [`Storage::get_many`] starts each read with (manifests and links are smaller).
const GET_MANY_BUFFER: usize = 8192;

/// Batches of reads a maintenance job keeps in flight ([`Storage::read_width`]): each is one blocking
/// thread reading one file at a time, and a cold page cache makes every read a disk request (at
/// 10,000 repositories, marking 64 at once takes a cold collection's mark from 76 to 30 s; 128 adds
/// little and 11 MiB).
const READ_WIDTH: usize = 64;

/// Removes a file, or a whole tree where `unlink` finds a directory: most deletes (links, and a
/// collection's attempts at history entries that are not there) cost one system call, not a `stat`
/// first.
fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::IsADirectory => std::fs::remove_dir_all(path),
        other => other,
    }
}

/// Reads the rest of a small file into `content` (whose capacity should already fit it).
/// `File::read_to_end` first asks the file for its size and position (a `statx` and an `lseek`, a
/// third of the system calls of reading a link); reading through `take` asks nothing.
fn read_small(file: &mut std::fs::File, limit: u64, content: &mut Vec<u8>) -> io::Result<usize> {
    file.take(limit).read_to_end(content)
}

/// [`remove`], and then the directory of a removed file when that leaves it empty (one level: a
/// link, or a blob's data, is alone in its directory).
fn remove_and_prune(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                // Not empty, or already gone: the directory stays as it is.
                let _ = std::fs::remove_dir(dir);
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::IsADirectory => std::fs::remove_dir_all(path),
        other => other,
    }
}

/// Whether an error means the path is not there (a missing file, or a file where a directory was
/// expected): a scan skips it.
fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Adds to `found` the files below `dir` (whose key relative to the scanned directory is `rel`) that
/// match the rest of a pattern, `components` (see [`Storage::scan`]): a `*` lists the directory, a
/// literal name is joined without a system call. `listed` says that `dir` itself was found by a
/// listing: then a literal last component is not looked up when only keys are asked for
/// ([`ScanRead::Key`]). Temporary files are skipped, symbolic links not followed by a `*`; what is
/// removed meanwhile is skipped.
fn scan_pattern(
    dir: &Path,
    rel: &str,
    components: &[&str],
    read: ScanRead,
    listed: bool,
    found: &mut Vec<ScannedFile>,
) -> io::Result<()> {
    let Some((first, rest)) = components.split_first() else {
        return Ok(());
    };
    let key = |name: &str| match rel {
        "" => name.to_string(),
        _ => format!("{rel}/{name}"),
    };
    if *first != "*" {
        let path = dir.join(first);
        return match (rest.is_empty(), read) {
            (true, ScanRead::Key) if listed => {
                found.push(ScannedFile::named(key(first)));
                Ok(())
            }
            (true, _) => scan_file(&path, key(first), read, found),
            (false, _) => scan_pattern(&path, &key(first), rest, read, false, found),
        };
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_absent(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let kind = entry.file_type()?;
        if !rest.is_empty() {
            if kind.is_dir() {
                scan_pattern(&entry.path(), &key(&name), rest, read, true, found)?;
            }
        } else if kind.is_file() && !name.ends_with(TMP_SUFFIX) {
            match read {
                ScanRead::Key => found.push(ScannedFile::named(key(&name))),
                _ => scan_file(&entry.path(), key(&name), read, found)?,
            }
        }
    }
    Ok(())
}

/// Adds the file at `path` to `found` (when it is a file) with its size and time, and its contents
/// when `read` asks and it holds at most [`SCAN_READ_MAX`] bytes: a read opens it once and takes
/// its size and time from the open file.
fn scan_file(
    path: &Path,
    key: String,
    read: ScanRead,
    found: &mut Vec<ScannedFile>,
) -> io::Result<()> {
    let (meta, content) = if read == ScanRead::Content {
        let mut file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) if is_absent(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let mut content = Vec::new();
        if meta.is_file() && meta.len() <= SCAN_READ_MAX {
            content.reserve_exact(meta.len() as usize);
            read_small(&mut file, SCAN_READ_MAX, &mut content)?;
        }
        (meta, Some(Bytes::from(content)))
    } else {
        match std::fs::metadata(path) {
            Ok(meta) => (meta, None),
            Err(e) if is_absent(&e) => return Ok(()),
            Err(e) => return Err(e),
        }
    };
    if !meta.is_file() {
        return Ok(());
    }
    let content = content.filter(|_| meta.len() <= SCAN_READ_MAX);
    found.push(ScannedFile {
        key,
        meta: Some(Meta {
            size: meta.len(),
            modified: meta.modified()?,
            is_dir: false,
        }),
        content,
    });
    Ok(())
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

    async fn get_many(&self, keys: &[String]) -> Vec<Result<Bytes>> {
        let paths: Vec<(String, Result<PathBuf>)> =
            keys.iter().map(|k| (k.clone(), self.full(k))).collect();
        let read = tokio::task::spawn_blocking(move || {
            paths
                .into_iter()
                .map(|(key, path)| {
                    // No `stat` for a size hint: these are small files, read in one or two calls.
                    let mut content = Vec::with_capacity(GET_MANY_BUFFER);
                    std::fs::File::open(path?)
                        .and_then(|mut file| read_small(&mut file, u64::MAX, &mut content))
                        .map(|_| Bytes::from(content))
                        .map_err(|e| StorageError::from_io(&key, e))
                })
                .collect::<Vec<_>>()
        })
        .await;
        read.unwrap_or_else(|e| {
            keys.iter()
                .map(|k| Err(StorageError::from_io(k, io::Error::other(e.to_string()))))
                .collect()
        })
    }

    async fn put(&self, key: &str, content: Bytes) -> Result<()> {
        self.write_small(key, content, true).await
    }

    async fn put_transient(&self, key: &str, content: Bytes) -> Result<()> {
        self.write_small(key, content, false).await
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

    async fn dir_version(&self, key: &str) -> Result<Option<DirVersion>> {
        let path = self.full(key)?;
        let m = fs::metadata(&path)
            .await
            .map_err(|e| StorageError::from_io(key, e))?;
        Ok(settled_version(&m))
    }

    async fn list(&self, key: &str) -> Result<Vec<String>> {
        let path = self.full(key)?;
        // One blocking call for the whole directory: tokio's `read_dir` hands off every few entries,
        // which makes a list of thousands of tags cost milliseconds.
        let listed = tokio::task::spawn_blocking(move || -> io::Result<Vec<String>> {
            let mut names = Vec::new();
            for entry in std::fs::read_dir(path)? {
                if let Ok(name) = entry?.file_name().into_string() {
                    if !name.ends_with(TMP_SUFFIX) {
                        names.push(name);
                    }
                }
            }
            names.sort_unstable();
            Ok(names)
        })
        .await
        .map_err(io::Error::other)
        .and_then(|r| r);
        listed.map_err(|e| StorageError::from_io(key, e))
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

    fn read_width(&self) -> usize {
        READ_WIDTH
    }

    fn read_ahead_helps(&self) -> bool {
        true
    }

    async fn scan(&self, key: &str, patterns: &[ScanPattern<'_>]) -> Result<Vec<ScannedFile>> {
        let path = self.full(key)?;
        let patterns: Vec<(String, ScanRead)> = patterns
            .iter()
            .map(|p| (p.key.to_string(), p.read))
            .collect();
        // The whole subtree on one blocking thread: a repository's links cost their system calls,
        // not a task hand-off each.
        let scanned = tokio::task::spawn_blocking(move || -> io::Result<Vec<ScannedFile>> {
            let mut found = Vec::new();
            for (pattern, read) in &patterns {
                let components: Vec<&str> = pattern.split('/').collect();
                scan_pattern(&path, "", &components, *read, false, &mut found)?;
            }
            found.sort_unstable_by(|a, b| a.key.cmp(&b.key));
            found.dedup_by(|a, b| a.key == b.key);
            Ok(found)
        })
        .await
        .map_err(io::Error::other)
        .and_then(|r| r);
        scanned.map_err(|e| StorageError::from_io(key, e))
    }

    async fn read(&self, key: &str, offset: u64, len: u64) -> Result<ByteStream> {
        let path = self.full(key)?;
        let file = tokio::task::spawn_blocking(move || {
            let mut file = std::fs::File::open(path)?;
            file.seek(SeekFrom::Start(offset))?;
            Ok(file)
        })
        .await
        .map_err(io::Error::other)
        .and_then(|r| r)
        .map_err(|e| StorageError::from_io(key, e))?;
        Ok(Box::pin(FileStream {
            file: Arc::new(file),
            left: len,
            next: None,
        }))
    }

    async fn leftovers(&self, before: SystemTime) -> Result<Vec<String>> {
        let root = self.root.clone();
        let found = tokio::task::spawn_blocking(move || -> io::Result<Vec<String>> {
            let mut found = Vec::new();
            find_leftovers(&root, "", before, &mut found)?;
            found.sort_unstable();
            Ok(found)
        })
        .await
        .map_err(|e| StorageError::from_io("", io::Error::other(e)))?;
        match found {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            other => other.map_err(|e| StorageError::from_io("", e)),
        }
    }

    async fn local_file(&self, key: &str) -> Result<Option<std::fs::File>> {
        let path = self.full(key)?;
        let file = tokio::task::spawn_blocking(move || std::fs::File::open(path))
            .await
            .map_err(io::Error::other)
            .and_then(|r| r)
            .map_err(|e| StorageError::from_io(key, e))?;
        Ok(Some(file))
    }

    async fn appender(&self, key: &str) -> Result<Box<dyn Appender>> {
        let path = self.full(key)?;
        let open = || async {
            create_parent(&path).await?;
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .await
        };
        let file = again_if_dir_removed(open, || async { true })
            .await
            .map_err(|e| StorageError::from_io(key, e))?;
        Ok(Box::new(FileAppender {
            file: Arc::new(file.into_std().await),
            in_flight: None,
            unflushed: 0,
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
        let rename = || async {
            create_parent(&dst).await?;
            fs::rename(&src, &dst).await?;
            sync_dir(dst.parent().unwrap_or(&self.root)).await
        };
        // "Not found" is the source's own when it is gone: only a removed directory is retried.
        let source_left = || async { fs::try_exists(&src).await.unwrap_or(false) };
        again_if_dir_removed(rename, source_left)
            .await
            .map_err(|e| StorageError::from_io(to, e))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.full(key)?;
        tokio::task::spawn_blocking(move || remove(&path))
            .await
            .map_err(io::Error::other)
            .and_then(|r| r)
            .map_err(|e| StorageError::from_io(key, e))
    }

    async fn delete_present(&self, keys: &[String]) -> Result<()> {
        let paths = keys
            .iter()
            .map(|k| Ok((k.clone(), self.full(k)?)))
            .collect::<Result<Vec<_>>>()?;
        tokio::task::spawn_blocking(move || {
            for (key, path) in paths {
                match remove_and_prune(&path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        return Err(StorageError::from_io(&key, e))
                    }
                    _ => {}
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| StorageError::from_io("", io::Error::other(e)))?
    }

    async fn find_dirs(&self, root: &str, query: &DirQuery<'_>) -> Result<Vec<String>> {
        self.full(root)?;
        let tree = Tree {
            root: self.root.clone(),
            listings: self.walk_listings.clone(),
        };
        let (root_key, marker, skip) = (
            root.to_string(),
            query.marker.to_string(),
            query.skip_prefix.to_string(),
        );
        let (after, limit) = (query.after.map(str::to_string), query.limit);
        // The whole walk on one blocking thread: a page costs a few system calls per directory
        // instead of a task hand-off per directory.
        tokio::task::spawn_blocking(move || {
            let query = DirQuery {
                marker: &marker,
                skip_prefix: &skip,
                after: after.as_deref(),
                limit,
            };
            walk::find_dirs(&tree, &root_key, &query)
        })
        .await
        .map_err(io::Error::other)
        .and_then(|r| r)
        .map_err(|e| StorageError::from_io(root, e))
    }
}

/// The version of a directory from its metadata: inode and modification time, once that time is at
/// least [`SETTLED`] old; `None` for anything else.
fn settled_version(m: &std::fs::Metadata) -> Option<DirVersion> {
    use std::os::unix::fs::MetadataExt;
    let changed_ns = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    let settled = now_ns - changed_ns >= SETTLED.as_nanos() as i128;
    (m.is_dir() && settled).then_some(DirVersion {
        id: m.ino(),
        changed_ns,
    })
}

/// The tree under the root directory, read with blocking calls, for [`walk::find_dirs`]. A directory
/// whose version is settled is listed once and then served from `listings` while it keeps that
/// version: a page of the catalog re-reads none of the large directories it passes through.
struct Tree {
    root: PathBuf,
    listings: Arc<ListingCache>,
}

impl DirSource for Tree {
    fn children(&self, dir: &str) -> io::Result<Option<Arc<Vec<String>>>> {
        let version = match std::fs::metadata(self.root.join(dir)) {
            Ok(m) if m.is_dir() => settled_version(&m),
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if let Some(names) = version.and_then(|v| self.listings.get(dir, v)) {
            return Ok(Some(names));
        }
        let Some(names) = self.read_children(dir)? else {
            return Ok(None);
        };
        let names = Arc::new(names);
        if let Some(v) = version {
            self.listings.put(dir, v, names.clone());
        }
        Ok(Some(names))
    }

    fn has_child(&self, dir: &str, name: &str) -> io::Result<bool> {
        match std::fs::symlink_metadata(self.root.join(dir).join(name)) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound || !self.root.join(dir).is_dir() => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

impl Tree {
    /// The names of the child directories of `dir`, read from the disk.
    fn read_children(&self, dir: &str) -> io::Result<Option<Vec<String>>> {
        let path = self.root.join(dir);
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound || !path.is_dir() => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry?;
            // The file type comes with the directory entry on common filesystems: no extra call.
            if entry.file_type()?.is_dir() {
                if let Ok(name) = entry.file_name().into_string() {
                    names.push(name);
                }
            }
        }
        Ok(Some(names))
    }
}

/// Streams a byte range of a file: reads on the blocking pool straight into the buffers
/// handed to the consumer (no intermediate copy), the next read already running while the consumer
/// sends the previous chunk.
struct FileStream {
    file: Arc<std::fs::File>,
    /// Bytes not yet asked for.
    left: u64,
    next: Option<JoinHandle<io::Result<Bytes>>>,
}

impl FileStream {
    fn start_read(&mut self) {
        if self.left == 0 {
            return;
        }
        let len = self.left.min(READ_CHUNK as u64) as usize;
        let file = self.file.clone();
        self.left -= len as u64;
        self.next = Some(tokio::task::spawn_blocking(move || {
            // Reads into the vector's spare capacity (nothing is zeroed first), from the file's
            // cursor: reads of one stream run one at a time, in order.
            let mut buf = Vec::with_capacity(len);
            (&*file).take(len as u64).read_to_end(&mut buf)?;
            if buf.len() < len {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            Ok(Bytes::from(buf))
        }));
    }
}

impl futures_util::Stream for FileStream {
    type Item = io::Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.next.is_none() {
            self.start_read();
        }
        let Some(read) = self.next.as_mut() else {
            return Poll::Ready(None);
        };
        let result = match std::pin::Pin::new(read).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(joined) => joined.map_err(io::Error::other).and_then(|r| r),
        };
        self.next = None;
        match result {
            Ok(chunk) => {
                self.start_read();
                Poll::Ready(Some(Ok(chunk)))
            }
            Err(e) => {
                self.left = 0;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}

/// Appends on the blocking pool, one write in flight while the caller gathers the next bytes.
struct FileAppender {
    file: Arc<std::fs::File>,
    in_flight: Option<JoinHandle<io::Result<()>>>,
    /// Bytes written since writeback was last started.
    unflushed: u64,
}

/// After this many bytes, the appender asks the kernel to start writing them to disk (without waiting),
/// so the fsync that makes an upload durable finds little left to do.
const WRITEBACK_EVERY: u64 = 8 * 1024 * 1024;

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
        self.append_all(vec![bytes]).await
    }

    async fn append_all(&mut self, chunks: Vec<Bytes>) -> io::Result<()> {
        self.wait().await?;
        let file = self.file.clone();
        self.unflushed += chunks.iter().map(|c| c.len() as u64).sum::<u64>();
        let start_writeback = self.unflushed >= WRITEBACK_EVERY;
        if start_writeback {
            self.unflushed = 0;
        }
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            write_all_vectored(&file, chunks)?;
            if start_writeback {
                start_writeback_of(&file);
            }
            Ok(())
        }));
        Ok(())
    }

    async fn close(mut self: Box<Self>) -> io::Result<()> {
        self.wait().await
    }
}

/// Writes every chunk, in order, with as few system calls as the kernel allows.
fn write_all_vectored(mut file: &std::fs::File, mut chunks: Vec<Bytes>) -> io::Result<()> {
    use bytes::Buf;
    /// Linux's IOV_MAX.
    const MAX_SLICES: usize = 1024;
    chunks.retain(|c| !c.is_empty());
    let mut first = 0;
    while first < chunks.len() {
        let slices: Vec<io::IoSlice<'_>> = chunks[first..]
            .iter()
            .take(MAX_SLICES)
            .map(|c| io::IoSlice::new(c))
            .collect();
        let mut n = match file.write_vectored(&slices) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        drop(slices);
        while n > 0 {
            let chunk = &mut chunks[first];
            if n >= chunk.len() {
                n -= chunk.len();
                first += 1;
            } else {
                chunk.advance(n);
                n = 0;
            }
        }
    }
    Ok(())
}

/// Starts writeback of the file's dirty pages without waiting for it (Linux `sync_file_range`). Only a
/// head start for the final fsync, never a substitute, so a failure is ignored.
#[cfg(target_os = "linux")]
fn start_writeback_of(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid, open file descriptor; the call only reads its arguments.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback_of(_file: &std::fs::File) {}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    fn backdate(dir: &Path, by: Duration) {
        std::fs::File::open(dir)
            .and_then(|d| d.set_modified(SystemTime::now() - by))
            .expect("set the directory's mtime");
    }

    fn backdate_file(path: &Path, by: Duration) {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(SystemTime::now() - by))
            .expect("set the file's mtime");
    }

    /// A write into a directory that a concurrent cleanup removes (as a collection's end removes
    /// the directory of its touched records while a writer records into it) succeeds: the directory
    /// is created again, so the writer never sees "not found" for a key it is creating.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_survive_their_directory_being_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let fs = Arc::new(Filesystem::new(tmp.path()));
        for round in 0..300 {
            let key = format!("gc/touched/{round}/record");
            let remover = {
                let fs = fs.clone();
                tokio::spawn(async move {
                    // Fewer removals than a write's attempts (DIR_REMOVED_ATTEMPTS), so a write
                    // may lose every race but its last.
                    for _ in 0..4 {
                        let _ = fs.delete(&format!("gc/touched/{round}")).await;
                        tokio::task::yield_now().await;
                    }
                })
            };
            for i in 0..3 {
                fs.put(&format!("{key}{i}"), Bytes::from_static(b"touch"))
                    .await
                    .unwrap_or_else(|e| panic!("put in round {round}: {e}"));
                let mut appender = fs
                    .appender(&format!("{key}{i}.part"))
                    .await
                    .unwrap_or_else(|e| panic!("appender in round {round}: {e}"));
                let appended = appender.append(Bytes::from_static(b"data")).await;
                appended.unwrap_or_else(|e| panic!("append in round {round}: {e}"));
                let closed = appender.close().await;
                closed.unwrap_or_else(|e| panic!("close in round {round}: {e}"));
            }
            remover.await.unwrap();
        }
    }

    /// A maintenance delete of a file removes the directory it leaves empty (a link's, a blob's),
    /// one level only, and leaves a directory that still holds something; a directory key still
    /// goes whole.
    #[tokio::test]
    async fn deleting_present_files_prunes_their_emptied_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let fs = Filesystem::new(tmp.path());
        for key in [
            "r/a/link",
            "r/b/link",
            "r/b/other",
            "blob/x/data",
            "blob/x/junk",
        ] {
            fs.put(key, Bytes::from_static(b"x")).await.unwrap();
        }
        let keys = ["r/a/link", "r/b/link", "blob/x/data", "blob/x"].map(String::from);
        fs.delete_present(&keys).await.unwrap();
        assert!(!tmp.path().join("r/a").exists());
        assert!(tmp.path().join("r").is_dir());
        assert!(tmp.path().join("r/b/other").exists());
        assert!(!tmp.path().join("blob/x").exists());
        assert!(tmp.path().join("blob").is_dir());
    }

    /// Temporary files of interrupted writes older than the bound are found anywhere under the root,
    /// also where their target never appeared; recent ones, and files that only look alike, are not.
    #[tokio::test]
    async fn leftovers_are_old_temporary_files_only() {
        let tmp = tempfile::tempdir().unwrap();
        let fs = Filesystem::new(tmp.path());
        let root = tmp.path();
        let uuid = uuid::Uuid::new_v4();
        let blob = "docker/registry/v2/blobs/sha256/ab/abcd";
        std::fs::create_dir_all(root.join(blob)).unwrap();
        let names = [
            format!("{blob}/data.{uuid}.tmp"),
            format!("link.{uuid}.tmp"),
            format!("{blob}/recent.{uuid}.tmp"),
            format!("{blob}/data.tmp"),
            format!("{blob}/notes.not-a-uuid.tmp"),
            format!("{blob}/data"),
        ];
        for name in &names {
            std::fs::write(root.join(name), b"x").unwrap();
            if !name.contains("recent") {
                backdate_file(&root.join(name), Duration::from_secs(7200));
            }
        }
        let before = SystemTime::now() - Duration::from_secs(3600);
        assert_eq!(
            fs.leftovers(before).await.unwrap(),
            vec![names[0].clone(), names[1].clone()]
        );
        let empty = Filesystem::new(root.join("absent"));
        assert!(empty.leftovers(before).await.unwrap().is_empty());
    }

    /// A directory vouches for its children only once its mtime has settled, and any change to its
    /// children gives another version.
    #[tokio::test]
    async fn dir_version_follows_changes_once_settled() {
        let tmp = tempfile::tempdir().unwrap();
        let fs = Filesystem::new(tmp.path());
        fs.put("d/a", Bytes::from_static(b"1")).await.unwrap();
        assert_eq!(fs.dir_version("d").await.unwrap(), None, "just changed");
        backdate(&tmp.path().join("d"), Duration::from_secs(60));
        let first = fs.dir_version("d").await.unwrap().expect("settled");
        assert_eq!(fs.dir_version("d").await.unwrap(), Some(first));
        fs.put("d/b", Bytes::from_static(b"2")).await.unwrap();
        assert_eq!(fs.dir_version("d").await.unwrap(), None, "changed again");
        backdate(&tmp.path().join("d"), Duration::from_secs(30));
        let second = fs.dir_version("d").await.unwrap().expect("settled");
        assert_ne!(first, second);
        assert!(matches!(
            fs.dir_version("missing").await,
            Err(StorageError::NotFound(_))
        ));
        assert_eq!(fs.dir_version("d/a").await.unwrap(), None, "a file");
    }

    /// A scan that asks only for keys does not look up a literal last component inside a directory
    /// it listed: a link directory a delete left without its link is still named (with no size or
    /// time), while a scan for sizes and times skips it; a `*` last component is listed, so only
    /// files that are there are named.
    #[tokio::test]
    async fn scan_for_keys_skips_the_lookup_of_listed_links() {
        let tmp = tempfile::tempdir().unwrap();
        let fs = Filesystem::new(tmp.path());
        fs.put("r/sha256/aa/link", Bytes::from_static(b"x"))
            .await
            .unwrap();
        std::fs::create_dir_all(tmp.path().join("r/sha256/bb")).unwrap();
        let fs = &fs;
        let scan = |key, read| async move {
            let found = fs.scan("r", &[ScanPattern { key, read }]).await.unwrap();
            found
                .into_iter()
                .map(|f| (f.key, f.meta.is_some()))
                .collect::<Vec<_>>()
        };
        let named = |k: &str, meta| (k.to_string(), meta);
        assert_eq!(
            scan("*/*/link", ScanRead::Key).await,
            vec![
                named("sha256/aa/link", false),
                named("sha256/bb/link", false)
            ]
        );
        assert_eq!(
            scan("*/*/link", ScanRead::Meta).await,
            vec![named("sha256/aa/link", true)]
        );
        assert_eq!(
            scan("sha256/*/*", ScanRead::Key).await,
            vec![named("sha256/aa/link", false)]
        );
        assert_eq!(
            scan("sha256/bb/link", ScanRead::Key).await,
            vec![],
            "a literal path is looked up"
        );
    }
}

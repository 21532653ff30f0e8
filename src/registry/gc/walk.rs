//! Walks over the whole layout for maintenance jobs: every repository, the digests under a link
//! directory, every blob with its size and age.

use std::time::SystemTime;

use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::marks::Marks;
use super::pace::Pacer;
use crate::registry::digest::Digest;
use crate::registry::error::{RegistryError, Result};
use crate::registry::names::RepoName;
use crate::registry::paths;
use crate::storage::{Storage, StorageError};

/// Storage reads a walk keeps in flight at once (stats of links and blobs, repositories scanned by a
/// collection): on S3 each is a round trip, on a filesystem a blocking-pool task.
pub const CONCURRENCY: usize = 16;

/// A blob in the global blob store.
#[derive(Debug, Clone)]
pub struct StoredBlob {
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// When its data was last written.
    pub modified: SystemTime,
}

/// The children of a directory; an absent directory has none.
pub async fn list_or_empty(storage: &dyn Storage, key: &str) -> Result<Vec<String>> {
    match storage.list(key).await {
        Ok(names) => Ok(names),
        Err(StorageError::NotFound(_)) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Whether any file lies below a directory, at any depth. Exact where a listing is not: emptied
/// directories (and prefixes some S3 engines keep listing after deletes) hold no file.
pub async fn has_files(storage: &dyn Storage, key: &str) -> Result<bool> {
    match storage.walk(key).await {
        Ok(files) => Ok(!files.is_empty()),
        Err(StorageError::NotFound(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// When a file was last written, or `None` when it is absent.
pub async fn modified(storage: &dyn Storage, key: &str) -> Result<Option<SystemTime>> {
    match storage.stat(key).await {
        Ok(meta) => Ok(Some(meta.modified)),
        Err(StorageError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every repository, sorted: each directory under `repositories/` holding one of the content
/// directories, whether or not it ever held a manifest.
pub async fn all_repositories(storage: &dyn Storage) -> Result<Vec<RepoName>> {
    let mut found = Vec::new();
    let mut stack = vec![(paths::repositories_root(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let children = list_or_empty(storage, &dir).await?;
        if children
            .iter()
            .any(|c| paths::REPO_CONTENT_DIRS.contains(&c.as_str()))
        {
            if let Ok(name) = prefix.parse() {
                found.push(name);
            }
        }
        for child in children.iter().filter(|c| !c.starts_with('_')) {
            let name = if prefix.is_empty() {
                child.clone()
            } else {
                format!("{prefix}/{child}")
            };
            stack.push((paths::child(&dir, child), name));
        }
    }
    found.sort();
    Ok(found)
}

/// The digests named by `<dir>/<alg>/<hex>/` entries (link directories), skipping what does not parse.
pub async fn linked_digests(storage: &dyn Storage, dir: &str) -> Result<Vec<Digest>> {
    let mut found = Vec::new();
    for alg in list_or_empty(storage, dir).await? {
        for hex in list_or_empty(storage, &paths::child(dir, &alg)).await? {
            if let Ok(d) = format!("{alg}:{hex}").parse() {
                found.push(d);
            }
        }
    }
    Ok(found)
}

/// The digests under a link directory whose link file exists (deleting a link leaves its directory),
/// with when each link was written; `link` gives a digest's link file.
pub async fn live_links(
    storage: &dyn Storage,
    dir: &str,
    link: impl Fn(&Digest) -> String,
) -> Result<Vec<(Digest, SystemTime)>> {
    let mut pending = Vec::new();
    for d in linked_digests(storage, dir).await? {
        let key = link(&d);
        pending.push(async move {
            Ok::<_, RegistryError>(modified(storage, &key).await?.map(|t| (d, t)))
        });
    }
    let found: Vec<Option<(Digest, SystemTime)>> = stream::iter(pending)
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

/// When each of `links` (a repository and a blob it links) was written, leaving out those whose
/// link file is absent (its directory left by a delete).
pub(super) async fn link_times<'a>(
    storage: &dyn Storage,
    links: &[(&'a RepoName, &'a Digest)],
    pacer: &Pacer,
) -> Result<Vec<(&'a RepoName, &'a Digest, SystemTime)>> {
    // By index (as marking does), each made as it starts: a closure over borrowed names is not
    // `Send` for every lifetime.
    let pending = stream::iter(0..links.len()).map(|i| async move {
        let (name, d) = links[i];
        pacer.rest().await;
        let written = modified(storage, &paths::layer_link(name, d)).await?;
        Ok::<_, RegistryError>(written.map(|t| (name, d, t)))
    });
    let found: Vec<Option<_>> = pending
        .buffered(pacer.width(CONCURRENCY))
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

/// Every blob that has its data file and is not in `marks`: marked blobs are not even read (their
/// size and age do not matter to a collection), and never held in memory beyond their name.
pub(super) async fn unmarked_blobs(
    storage: &dyn Storage,
    marks: &Marks,
    pacer: &Pacer,
) -> Result<Vec<StoredBlob>> {
    let root = paths::blobs_root();
    let mut digests = Vec::new();
    for alg in list_or_empty(storage, &root).await? {
        let alg_dir = paths::child(&root, &alg);
        for fan in list_or_empty(storage, &alg_dir).await? {
            pacer.rest().await;
            for hex in list_or_empty(storage, &paths::child(&alg_dir, &fan)).await? {
                if let Ok(digest) = format!("{alg}:{hex}").parse::<Digest>() {
                    if !marks.contains(&digest) {
                        digests.push(digest);
                    }
                }
            }
        }
    }
    // Each stat is made as it starts (not one per unmarked blob at once).
    let pending = digests.into_iter().map(|digest| async move {
        pacer.rest().await;
        match storage.stat(&paths::blob_data(&digest)).await {
            Ok(meta) => Ok(Some(StoredBlob {
                digest,
                size: meta.size,
                modified: meta.modified,
            })),
            Err(StorageError::NotFound(_)) => Ok(None),
            Err(e) => Err(RegistryError::from(e)),
        }
    });
    let found: Vec<Option<StoredBlob>> = stream::iter(pending)
        .buffered(pacer.width(CONCURRENCY))
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

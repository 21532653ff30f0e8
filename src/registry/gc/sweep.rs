//! The sweep phase's deletions. Links go before the data they point at, so a sweep stopped half-way
//! leaves unreferenced data for the next run, never a link to nothing.

use std::collections::HashMap;
use std::time::SystemTime;

use super::mark::Doomed;
use super::walk;
use crate::registry::digest::Digest;
use crate::registry::error::Result;
use crate::registry::names::{RepoName, Tag};
use crate::registry::paths::{self, ManifestsFile};
use crate::registry::Registry;
use crate::storage::{ScanPattern, ScanRead};

impl Registry {
    /// The tags whose history names each manifest of a repository, from one scan of its tags'
    /// histories (every tag directory, with or without a current link), read afresh. Only the
    /// names are read: a history entry a delete left without its link costs a delete of nothing.
    pub(super) async fn tag_histories(&self, name: &RepoName) -> Result<HashMap<Digest, Vec<Tag>>> {
        let pattern = ScanPattern {
            key: paths::TAG_HISTORY_LINKS,
            read: ScanRead::Key,
        };
        let files = self
            .storage
            .scan(&paths::manifests_dir(name), &[pattern])
            .await?;
        let mut histories: HashMap<Digest, Vec<Tag>> = HashMap::new();
        for file in files {
            if let ManifestsFile::TagHistory(tag, d) = paths::manifests_file(&file.key) {
                histories.entry(d).or_default().push(tag);
            }
        }
        Ok(histories)
    }

    /// Removes an untagged manifest from a repository: its referrer link (its subject as marking
    /// read it), its entries in the tags' `histories`, then its revision link.
    pub(super) async fn delete_revision(
        &self,
        name: &RepoName,
        histories: &HashMap<Digest, Vec<Tag>>,
        doomed: &Doomed,
    ) -> Result<()> {
        let digest = &doomed.digest;
        let tags = histories.get(digest).map(Vec::as_slice).unwrap_or_default();
        let mut links = Vec::with_capacity(tags.len() + 2);
        if let Some(subject) = &doomed.subject {
            links.push(paths::referrer_link(name, subject, digest));
        }
        for tag in tags {
            links.push(paths::tag_index_link(name, tag, digest));
        }
        links.push(paths::revision_link(name, digest));
        Ok(self.storage.delete_present(&links).await?)
    }

    /// Deletes a blob's links from `repos`, then the blob: its data, then whatever else its
    /// directory holds (on a filesystem, deleting the data removes the directory it leaves empty, so
    /// the directory's own delete finds nothing).
    pub(super) async fn delete_blob_everywhere(
        &self,
        digest: &Digest,
        repos: &[&RepoName],
    ) -> Result<()> {
        let mut doomed: Vec<String> = repos.iter().map(|r| paths::layer_link(r, digest)).collect();
        doomed.push(paths::blob_data(digest));
        doomed.push(paths::blob_dir(digest));
        Ok(self.storage.delete_present(&doomed).await?)
    }

    /// Whether a repository holds no tag, manifest or upload session (links to blobs do not count:
    /// without a manifest nothing can be pulled from it).
    pub(super) async fn repo_is_empty(&self, name: &RepoName) -> Result<bool> {
        let storage = self.storage.as_ref();
        Ok(self.tags_on_storage(name).await?.is_empty()
            && walk::live_links(storage, &paths::revisions_dir(name), |d| {
                paths::revision_link(name, d)
            })
            .await?
            .is_empty()
            && !walk::has_files(storage, &paths::uploads_dir(name)).await?)
    }

    /// Whether a repository links a blob by a link written after `cutoff`: a push in progress links
    /// its blobs before it stores the manifest that names them.
    pub(super) async fn linked_since(&self, name: &RepoName, cutoff: SystemTime) -> Result<bool> {
        let links = walk::live_links(self.storage.as_ref(), &paths::layers_dir(name), |d| {
            paths::layer_link(name, d)
        })
        .await?;
        Ok(links.iter().any(|(_, t)| *t > cutoff))
    }

    /// Removes a repository's content directories, then its directory and parents left empty (nested
    /// repositories under it stay).
    pub(super) async fn remove_repo(&self, name: &RepoName) -> Result<()> {
        for dir in paths::repo_content_dirs(name) {
            self.delete_if_present(&dir).await?;
        }
        self.catalog.removed(name).await?;
        for dir in paths::repo_dir_and_parents(name) {
            if !walk::list_or_empty(self.storage.as_ref(), &dir)
                .await?
                .is_empty()
            {
                break;
            }
            self.delete_if_present(&dir).await?;
        }
        Ok(())
    }
}

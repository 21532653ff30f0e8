//! The sweep phase's deletions. Links go before the data they point at, so a sweep stopped half-way
//! leaves unreferenced data for the next run, never a link to nothing.

use super::mark::Doomed;
use super::walk;
use crate::registry::digest::Digest;
use crate::registry::error::Result;
use crate::registry::names::{RepoName, Tag};
use crate::registry::paths;
use crate::registry::Registry;

impl Registry {
    /// The tags of a repository whose history may name a revision: every tag directory, with or
    /// without a current link, listed afresh.
    pub(super) async fn history_tags(&self, name: &RepoName) -> Result<Vec<Tag>> {
        let names = walk::list_or_empty(self.storage.as_ref(), &paths::tags_dir(name)).await?;
        Ok(names.iter().filter_map(|t| t.parse().ok()).collect())
    }

    /// Removes an untagged manifest from a repository: its referrer link (its subject as marking
    /// read it), its entries in the history of each of `tags`, then its revision link.
    pub(super) async fn delete_revision(
        &self,
        name: &RepoName,
        tags: &[Tag],
        doomed: &Doomed,
    ) -> Result<()> {
        let digest = &doomed.digest;
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

    /// Deletes a blob's links from `repos`, then the blob.
    pub(super) async fn delete_blob_everywhere(
        &self,
        digest: &Digest,
        repos: &[&RepoName],
    ) -> Result<()> {
        let mut doomed: Vec<String> = repos.iter().map(|r| paths::layer_link(r, digest)).collect();
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

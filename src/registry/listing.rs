//! Discovery: tag lists, the repository catalog and referrers, with `n`/`last` pagination. How
//! repositories and tags are listed is the [`super::catalog`] chosen when the registry was built.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::digest::Digest;
use super::error::{RegistryError, Result};
use super::manifest_format;
use super::mirror::tags::TagSource;
use super::names::{RepoName, Tag};
use super::Registry;
use crate::registry::paths;
use crate::storage::StorageError;

/// A repository as Wharf's catalog extension lists it.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogEntry {
    /// The repository.
    pub repository: RepoName,
    /// Whether it is a pull-through cache of an upstream (`proxy.*`).
    pub mirrored: bool,
}

/// One page of a sorted listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The entries of this page, sorted.
    pub entries: Vec<String>,
    /// Whether entries follow the last one of this page.
    pub more: bool,
}

/// Takes the page of at most `n` entries after `last` from a sorted list.
pub fn paginate(sorted: &[String], n: Option<usize>, last: Option<&str>) -> Page {
    let start = match last {
        Some(last) => sorted.partition_point(|e| e.as_str() <= last),
        None => 0,
    };
    let rest = &sorted[start..];
    let end = n.map_or(rest.len(), |n| n.min(rest.len()));
    Page {
        entries: rest[..end].to_vec(),
        more: end < rest.len(),
    }
}

/// A referrer as listed in the referrers index (an OCI descriptor).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferrerDescriptor {
    /// The referrer manifest's media type.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Its artifact type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Its annotations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<HashMap<String, String>>,
}

impl Registry {
    /// A page of a repository's tags; `NameUnknown` when the repository has never held a manifest.
    /// A page of `n` tags is one listing where the catalog keeps a tag index; an empty one is read
    /// again the long way (it may be a repository that does not exist). Only a repository without
    /// tags is checked for `_manifests`: on S3 that check is a flat listing of up to 1,000 keys below
    /// it, which costs SeaweedFS as much as the tag list itself.
    pub async fn list_tags(
        &self,
        name: &RepoName,
        n: Option<usize>,
        last: Option<&str>,
    ) -> Result<Page> {
        let name = match self.tag_source(name).await? {
            TagSource::Upstream(tags) => return Ok(paginate(&tags, n, last)),
            TagSource::Stored(name) => name,
        };
        if let Some(n) = n {
            match self.catalog.tag_page(&name, n, last).await? {
                Some(page) if !page.entries.is_empty() => return Ok(page),
                _ => {}
            }
        }
        let tags = self.cached_tags(&name).await?;
        if tags.is_empty() && !self.exists(&paths::manifests_dir(&name)).await? {
            return Err(RegistryError::NameUnknown);
        }
        Ok(paginate(&tags, n, last))
    }

    /// Every tag of a repository, sorted, from the tag cache while the tags directory is unchanged.
    async fn cached_tags(&self, name: &RepoName) -> Result<Arc<Vec<String>>> {
        let key = name.to_string();
        let version = match self.storage.dir_version(&paths::tags_dir(name)).await {
            Ok(v) => v,
            Err(StorageError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(tags) = version.and_then(|v| self.tag_cache.get(&key, v)) {
            return Ok(tags);
        }
        let tags: Arc<Vec<String>> = Arc::new(
            self.all_tags(name)
                .await?
                .iter()
                .map(|t| t.to_string())
                .collect(),
        );
        if let Some(v) = version {
            self.tag_cache.put(&key, v, tags.clone());
        }
        Ok(tags)
    }

    /// Every tag of a repository, sorted.
    pub(super) async fn all_tags(&self, name: &RepoName) -> Result<Vec<Tag>> {
        self.catalog.tags(name).await
    }

    /// Every tag of a repository, sorted, read from its tags directory even where the catalog keeps a
    /// tag index (for deletes and garbage collection, which must not miss a tag another writer
    /// pushed).
    pub(super) async fn tags_on_storage(&self, name: &RepoName) -> Result<Vec<Tag>> {
        self.catalog.tags_on_storage(name).await
    }

    /// A page of repository names, from the catalog implementation chosen when the registry was built
    /// ([`super::catalog`]). `n` defaults to 100 and may not exceed `catalog.maxentries`.
    pub async fn catalog(&self, n: Option<usize>, last: Option<&str>) -> Result<Page> {
        let max = self.settings.catalog_max_entries;
        if n.is_some_and(|n| n > max) {
            return Err(RegistryError::PaginationNumberInvalid { max });
        }
        let n = n.unwrap_or(100.min(max));
        self.catalog.page(n, last).await
    }

    /// Every repository in the catalog, all pages.
    pub async fn every_repository(&self) -> Result<Vec<RepoName>> {
        let mut names = Vec::new();
        let mut last: Option<String> = None;
        loop {
            let page = self
                .catalog(Some(self.settings.catalog_max_entries), last.as_deref())
                .await?;
            names.extend(page.entries.iter().filter_map(|n| n.parse().ok()));
            if !page.more || page.entries.is_empty() {
                return Ok(names);
            }
            last = page.entries.last().cloned();
        }
    }

    /// Every repository, each marked when it is a pull-through cache.
    pub async fn marked_catalog(&self) -> Result<Vec<CatalogEntry>> {
        Ok(self
            .every_repository()
            .await?
            .into_iter()
            .map(|repository| CatalogEntry {
                mirrored: self.mirrors(Some(&repository)),
                repository,
            })
            .collect())
    }

    /// At start-up, before the first request: what the catalog implementation needs (on object
    /// storage, an empty bucket's index is marked complete).
    pub async fn start_catalog_index(&self) -> Result<()> {
        self.catalog.start().await
    }

    /// Manifests of the repository whose `subject` is `subject`, optionally only those of one artifact
    /// type, sorted by digest.
    pub async fn referrers(
        &self,
        name: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<ReferrerDescriptor>> {
        let dir = paths::referrers_dir(name, subject);
        let mut found = Vec::new();
        let algorithms = match self.storage.list(&dir).await {
            Ok(a) => a,
            Err(StorageError::NotFound(_)) => return Ok(found),
            Err(e) => return Err(e.into()),
        };
        for alg in algorithms {
            let hexes = match self.storage.list(&format!("{dir}/{alg}")).await {
                Ok(h) => h,
                Err(StorageError::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            for hex in hexes {
                let Ok(digest) = format!("{alg}:{hex}").parse::<Digest>() else {
                    continue;
                };
                let manifest = match self
                    .get_manifest(name, &super::names::Reference::Digest(digest))
                    .await
                {
                    Ok(m) => m,
                    Err(RegistryError::ManifestUnknown(_)) => continue,
                    Err(e) => return Err(e),
                };
                let Ok(parsed) = manifest_format::parse(None, &manifest.bytes) else {
                    continue;
                };
                if artifact_type.is_some_and(|want| parsed.artifact_type.as_deref() != Some(want)) {
                    continue;
                }
                found.push(ReferrerDescriptor {
                    media_type: manifest.media_type,
                    digest: manifest.digest,
                    size: manifest.bytes.len() as u64,
                    artifact_type: parsed.artifact_type,
                    annotations: parsed.annotations,
                });
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// Pagination takes `n` entries strictly after `last` and says whether more follow.
    #[test]
    fn pagination_table() {
        let all = list(&["a", "b", "c", "d"]);
        type Case = (
            Option<usize>,
            Option<&'static str>,
            &'static [&'static str],
            bool,
        );
        let cases: &[Case] = &[
            (None, None, &["a", "b", "c", "d"], false),
            (Some(2), None, &["a", "b"], true),
            (Some(2), Some("b"), &["c", "d"], false),
            (Some(4), None, &["a", "b", "c", "d"], false),
            (Some(0), None, &[], true),
            (None, Some("bb"), &["c", "d"], false),
            (Some(1), Some("z"), &[], false),
        ];
        for (n, last, want, more) in cases {
            let page = paginate(&all, *n, *last);
            assert_eq!(page.entries, list(want), "n={n:?} last={last:?}");
            assert_eq!(page.more, *more, "n={n:?} last={last:?}");
        }
    }
}

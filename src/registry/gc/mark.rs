//! The mark phase: what one repository keeps alive.
//!
//! Roots are every manifest revision, or with `delete_untagged` only the manifests tags point at plus
//! revisions younger than the grace period (a push in progress stores index children and referrers
//! before whatever tags them). From the roots the collector follows index children and referrers (the
//! manifests whose `subject` is a kept manifest), found by parsing every revision, so referrers pushed
//! before Wharf indexed them are found too. A kept manifest marks its own blob, its config and layers.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::walk;
use crate::registry::digest::Digest;
use crate::registry::error::{RegistryError, Result};
use crate::registry::manifest_format::{self, Reference};
use crate::registry::names::{RepoName, Tag};
use crate::registry::paths;
use crate::registry::Registry;
use crate::storage::StorageError;

/// What the collector read of one repository.
#[derive(Debug)]
pub struct RepoScan {
    /// The repository.
    pub name: RepoName,
    /// Manifest revisions and when their links were written.
    pub revisions: Vec<(Digest, SystemTime)>,
    /// Tags and the digest each points at now (none when its link is missing).
    pub tags: Vec<(Tag, Option<Digest>)>,
    /// Linked blobs and when their links were written.
    pub layer_links: Vec<(Digest, SystemTime)>,
    /// Whether an upload session is open.
    pub has_uploads: bool,
}

/// Edges out of one manifest.
#[derive(Default)]
struct Edges {
    blobs: Vec<Digest>,
    children: Vec<Digest>,
    subject: Option<Digest>,
}

impl Registry {
    /// Reads a repository's revisions, tags, layer links and upload sessions.
    pub(super) async fn scan_repo(&self, name: &RepoName) -> Result<RepoScan> {
        let storage = self.storage.as_ref();
        let revisions = walk::live_links(storage, &paths::revisions_dir(name), |d| {
            paths::revision_link(name, d)
        })
        .await?;
        let layer_links = walk::live_links(storage, &paths::layers_dir(name), |d| {
            paths::layer_link(name, d)
        })
        .await?;
        let mut pending = Vec::new();
        for tag in self.all_tags(name).await? {
            pending.push(async move {
                let current = self.read_link(&paths::tag_current_link(name, &tag)).await?;
                Ok::<_, RegistryError>((tag, current))
            });
        }
        let tags: Vec<(Tag, Option<Digest>)> = stream::iter(pending)
            .buffered(walk::CONCURRENCY)
            .try_collect()
            .await?;
        let has_uploads = walk::has_files(storage, &paths::uploads_dir(name)).await?;
        Ok(RepoScan {
            name: name.clone(),
            revisions,
            tags,
            layer_links,
            has_uploads,
        })
    }

    /// Adds to `marks` every digest the repository keeps, and returns the revisions it does not keep
    /// (always none without `delete_untagged`).
    pub(super) async fn mark_repo(
        &self,
        scan: &RepoScan,
        delete_untagged: bool,
        cutoff: SystemTime,
        marks: &mut HashSet<Digest>,
    ) -> Result<Vec<Digest>> {
        let mut edges: HashMap<Digest, Edges> = HashMap::new();
        let mut referrers: HashMap<Digest, Vec<Digest>> = HashMap::new();
        let mut pending = Vec::with_capacity(scan.revisions.len());
        for (d, _) in &scan.revisions {
            pending.push(async move {
                Ok::<_, RegistryError>((d.clone(), self.manifest_edges(d).await?))
            });
        }
        let fetched: Vec<(Digest, Edges)> = stream::iter(pending)
            .buffered(walk::CONCURRENCY)
            .try_collect()
            .await?;
        for (d, e) in fetched {
            if let Some(subject) = &e.subject {
                referrers
                    .entry(subject.clone())
                    .or_default()
                    .push(d.clone());
            }
            edges.insert(d, e);
        }
        let mut queue: Vec<Digest> = if delete_untagged {
            let tagged = scan.tags.iter().filter_map(|(_, d)| d.clone());
            let young = scan
                .revisions
                .iter()
                .filter(|(_, t)| *t > cutoff)
                .map(|(d, _)| d.clone());
            tagged.chain(young).collect()
        } else {
            scan.revisions.iter().map(|(d, _)| d.clone()).collect()
        };
        let mut kept: HashSet<Digest> = HashSet::new();
        while let Some(d) = queue.pop() {
            if !kept.insert(d.clone()) {
                continue;
            }
            if !edges.contains_key(&d) {
                let e = self.manifest_edges(&d).await?;
                edges.insert(d.clone(), e);
            }
            let e = &edges[&d];
            marks.insert(d.clone());
            marks.extend(e.blobs.iter().cloned());
            queue.extend(e.children.iter().cloned());
            if let Some(r) = referrers.get(&d) {
                queue.extend(r.iter().cloned());
            }
        }
        Ok(scan
            .revisions
            .iter()
            .filter(|(d, _)| !kept.contains(d))
            .map(|(d, _)| d.clone())
            .collect())
    }

    /// What a stored manifest references; nothing when it is missing or not a manifest.
    async fn manifest_edges(&self, digest: &Digest) -> Result<Edges> {
        let bytes = match self.storage.get(&paths::blob_data(digest)).await {
            Ok(b) => b,
            Err(StorageError::NotFound(_)) => return Ok(Edges::default()),
            Err(e) => return Err(e.into()),
        };
        let Ok(parsed) = manifest_format::parse(None, &bytes) else {
            return Ok(Edges::default());
        };
        let mut edges = Edges {
            subject: parsed.subject,
            ..Edges::default()
        };
        for r in parsed.references {
            match r {
                Reference::Blob(d) => edges.blobs.push(d),
                Reference::Manifest(d) => edges.children.push(d),
            }
        }
        Ok(edges)
    }
}

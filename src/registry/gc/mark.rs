//! The mark phase: what one repository keeps alive.
//!
//! Roots are the manifests tags point at, plus the untagged revisions the collection keeps: every
//! one without `delete_untagged`; with it, those younger than the grace period (a push in progress
//! stores index children and referrers before whatever tags them); with retention, also those in the
//! trash and those the policy's untagged rule spares. From the roots the collector follows index children and referrers (the
//! manifests whose `subject` is a kept manifest), found by parsing every revision, so referrers pushed
//! before Wharf indexed them are found too. A kept manifest marks its own blob, its config and layers.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::marks::Marks;
use super::pace::{Pace, Pacer};
use super::{walk, GcOptions};
use crate::registry::catalog::TagSet;
use crate::registry::digest::Digest;
use crate::registry::error::{RegistryError, Result};
use crate::registry::manifest_format::{self, Reference};
use crate::registry::names::{RepoName, Tag};
use crate::registry::paths::{self, ManifestsFile};
use crate::registry::retention::trash::TrashEntry;
use crate::registry::retention::RepoRetention;
use crate::registry::Registry;
use crate::storage::{ScanPattern, ScanRead, StorageError};

/// What the collector read of one repository.
#[derive(Debug)]
pub struct RepoScan {
    /// The repository.
    pub name: RepoName,
    /// Manifest revisions, with when their links were written where the scan had it (an object
    /// store's listing): a filesystem scan names them without looking their links up, since a
    /// revision a tag keeps needs no time. Marking reads the time of any other (one a delete left
    /// as a directory without its link is then no revision).
    pub revisions: Vec<(Digest, Option<SystemTime>)>,
    /// Tags and the digest each points at now (none when its link is missing).
    pub tags: Vec<(Tag, Option<Digest>)>,
    /// The tags with a current link, when there are any.
    pub current_tags: Option<TagSet>,
    /// Linked blobs: the link directories under `_layers`, named and not entered (a link's time
    /// matters only for a blob nothing marks, so the sweep reads it only there).
    pub layer_links: Vec<Digest>,
    /// Whether an upload session is open.
    pub has_uploads: bool,
}

/// Manifests a repository's marking reads at once ([`crate::storage::Storage::get_many`]: one
/// blocking task on the filesystem, [`crate::storage::GET_MANY_WIDTH`] requests in flight on S3).
const MANIFEST_BATCH: usize = 32;

/// What every repository's marking shares in one collection.
pub(super) struct Run<'a> {
    /// The collection's options.
    pub options: &'a GcOptions,
    /// Its pacing.
    pub pacer: &'a Pacer,
    /// Content written before this is older than the grace period.
    pub cutoff: SystemTime,
    /// When the collection started marking (for trash expiry and retention's untagged rule).
    pub now: SystemTime,
}

/// What decides, after marking, whether a repository is left empty.
pub(super) struct Left {
    /// Whether any tag was found.
    pub tagged: bool,
    /// Manifest revisions that stay (where a tag keeps one, its link is not looked up: that count
    /// matters only to a repository without tags).
    pub revisions: usize,
}

/// A revision a collection does not keep, with the manifest its `subject` names as marking read
/// it, so the sweep removes its referrer link without reading the manifest again.
#[derive(Debug)]
pub(super) struct Doomed {
    /// The revision.
    pub digest: Digest,
    /// The manifest it refers to, if it is a referrer.
    pub subject: Option<Digest>,
}

/// One repository as a collection read and marked it: the scan (without its revisions and tags), the
/// revisions it does not keep, its marks, what decides whether it is left empty, and the blobs of
/// its doomed revisions when retention weighed it.
pub(super) type Scanned = (RepoScan, Vec<Doomed>, Marks, Left, Option<HashSet<Digest>>);

/// The digest a link file holds; `None` when it holds none.
fn parse_link(bytes: &[u8]) -> Option<Digest> {
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

/// Edges out of one manifest.
#[derive(Default)]
struct Edges {
    blobs: Vec<Digest>,
    children: Vec<Digest>,
    subject: Option<Digest>,
}

impl Registry {
    /// Reads a repository's revisions, tags, layer links and upload sessions: one scan of its
    /// `_manifests` directory (reading only the tags' current links, not entering their histories,
    /// and naming the revisions without opening their links) and a listing of the link directories
    /// under `_layers`, whose links are not opened either. A tag with a history but no current link
    /// is not seen (it has no target to keep; the empty-repository check lists tags again before
    /// removing anything).
    pub(super) async fn scan_repo(&self, name: &RepoName) -> Result<RepoScan> {
        let storage = self.storage.as_ref();
        let manifests = storage
            .scan(
                &paths::manifests_dir(name),
                &[
                    ScanPattern {
                        key: paths::TAG_CURRENT_LINKS,
                        read: ScanRead::Content,
                    },
                    ScanPattern {
                        key: paths::REVISION_LINKS,
                        read: ScanRead::Key,
                    },
                ],
            )
            .await?;
        let mut revisions = Vec::new();
        let mut tags: BTreeMap<Tag, Option<Digest>> = BTreeMap::new();
        let mut current = Vec::new();
        for file in manifests {
            match paths::manifests_file(&file.key) {
                ManifestsFile::Revision(d) => revisions.push((d, file.meta.map(|m| m.modified))),
                ManifestsFile::TagCurrent(tag) => {
                    current.push(tag.clone());
                    tags.insert(tag, file.content.as_deref().and_then(parse_link));
                }
                ManifestsFile::TagHistory(tag, _) | ManifestsFile::TagOther(tag) => {
                    tags.entry(tag).or_insert(None);
                }
                ManifestsFile::Other => {}
            }
        }
        let layer_links = walk::linked_digests(storage, &paths::layers_dir(name)).await?;
        let has_uploads = walk::has_files(storage, &paths::uploads_dir(name)).await?;
        let current_tags = match current.is_empty() {
            true => None,
            false => Some(TagSet::of(current.iter().map(Tag::as_str))),
        };
        Ok(RepoScan {
            name: name.clone(),
            revisions,
            tags: tags.into_iter().collect(),
            current_tags,
            layer_links,
            has_uploads,
        })
    }

    /// Reads each repository's links as marking's scan does, in the order marking reads them, and
    /// forgets them: what a collection does with its settle period on a storage whose reads warm a
    /// cache ([`crate::storage::Storage::read_ahead_helps`]), so that marking starts on a warm page
    /// cache instead of a cold disk (at 10,000 repositories most of a cold mark's 1.7 million disk
    /// reads are the links' directories). Manifests are left to marking: their reads are the content
    /// it decides with. The read-ahead decides nothing, leaves its errors for marking to meet, and is
    /// cut off wherever it is when the period ends.
    pub(super) async fn read_ahead(&self, pace: Pace) {
        let storage = self.storage.as_ref();
        if !storage.read_ahead_helps() {
            return;
        }
        let Ok(repositories) = walk::all_repositories(storage).await else {
            return;
        };
        let pacer = &Pacer::new(pace);
        let repositories = &repositories;
        // By index, as marking does: a closure over borrowed names is not `Send` for every lifetime.
        stream::iter(0..repositories.len())
            .map(|i| async move {
                pacer.rest().await;
                let _ = self.scan_repo(&repositories[i]).await;
            })
            .buffer_unordered(pacer.width(storage.read_width()))
            .for_each(|()| async {})
            .await;
    }

    /// Reads and marks one repository for a collection: its marks, the revisions it does not keep,
    /// what decides whether it is left empty, and (when retention weighed it) the blobs of those
    /// revisions. Only what the sweep reads is kept of the scan (its name, layer links, upload
    /// sessions and the fingerprint of its tags): the revisions and tags of 200,000 manifests are
    /// most of a collection's memory otherwise (the sweep scans a repository's tag histories again
    /// where a revision goes).
    pub(super) async fn scan_and_mark(
        &self,
        name: &RepoName,
        trash: &[TrashEntry],
        retained: Option<&RepoRetention>,
        run: &Run<'_>,
    ) -> Result<Scanned> {
        let (options, pacer, cutoff, now) = (run.options, run.pacer, run.cutoff, run.now);
        pacer.rest().await;
        let mut scan = self.scan_repo(name).await?;
        let in_trash: HashSet<&Digest> = trash
            .iter()
            .filter(|e| !e.expired(now))
            .map(|e| &e.digest)
            .collect();
        let mut expired: HashSet<&Digest> = trash
            .iter()
            .filter(|e| e.expired(now))
            .map(|e| &e.digest)
            .collect();
        // A preview deletes no tag: it marks as if it had, and counts what its deletions free once
        // their trash period ends, by when they are past the grace period too.
        let mut previewed: HashSet<&Digest> = HashSet::new();
        if let (true, Some(r)) = (options.dry_run, retained) {
            scan.tags
                .retain(|(t, _)| r.tags.iter().all(|d| d.tag != *t));
            previewed.extend(r.tags.iter().map(|t| &t.digest));
            expired.extend(&previewed);
        }
        let policy = options
            .retention
            .as_ref()
            .and_then(|p| p.for_repository(name));
        let keep_untagged = |d: &Digest, written: SystemTime| {
            if (written > cutoff && !previewed.contains(d)) || in_trash.contains(d) {
                return true;
            }
            match policy {
                Some(p) => match p.untagged {
                    Some(limit) => now.duration_since(written).unwrap_or_default() <= limit,
                    None => !expired.contains(d),
                },
                None => !options.delete_untagged && !expired.contains(d),
            }
        };
        let mut marks = Marks::default();
        let (doomed, staying) = self
            .mark_repo(&scan, &keep_untagged, &in_trash, pacer, &mut marks)
            .await?;
        let used = match retained {
            Some(_) => {
                let digests: Vec<Digest> = doomed.iter().map(|d| d.digest.clone()).collect();
                Some(self.blobs_used(&digests).await?)
            }
            None => None,
        };
        let left = Left {
            tagged: !scan.tags.is_empty(),
            revisions: staying,
        };
        scan.revisions = Vec::new();
        scan.tags = Vec::new();
        Ok((scan, doomed, marks, left, used))
    }

    /// Adds to `marks` every digest the repository keeps, and returns the revisions it does not keep
    /// and how many revisions stay. Tags are roots, and so are manifests `in_trash`, revision or not
    /// (a delete by digest into the trash removes the revision); an untagged revision is a root when
    /// `keep_untagged` says so, given its digest and when its link was written. That time is read
    /// only for the revisions the tags do not keep (directly or as index children): those the tags
    /// keep, most of a repository's, stay whatever their time.
    pub(super) async fn mark_repo(
        &self,
        scan: &RepoScan,
        keep_untagged: &(dyn Fn(&Digest, SystemTime) -> bool + Sync),
        in_trash: &HashSet<&Digest>,
        pacer: &Pacer,
        marks: &mut Marks,
    ) -> Result<(Vec<Doomed>, usize)> {
        let mut edges: HashMap<Digest, Edges> = HashMap::new();
        for batch in scan.revisions.chunks(MANIFEST_BATCH) {
            pacer.rest().await;
            let keys: Vec<String> = batch.iter().map(|(d, _)| paths::blob_data(d)).collect();
            let read = self.storage.get_many(&keys).await;
            for ((d, _), bytes) in batch.iter().zip(read) {
                edges.insert(d.clone(), edges_of(bytes)?);
            }
        }
        let tagged: Vec<Digest> = scan.tags.iter().filter_map(|(_, d)| d.clone()).collect();
        let by_tags = self.follow(tagged.clone(), &mut edges, None, pacer).await?;
        let revisions = self.revision_times(scan, &by_tags, pacer).await?;
        let mut referrers: HashMap<Digest, Vec<Digest>> = HashMap::new();
        for (d, _) in &revisions {
            if let Some(subject) = edges.get(d).and_then(|e| e.subject.clone()) {
                referrers.entry(subject).or_default().push(d.clone());
            }
        }
        let untagged = revisions
            .iter()
            .filter(|(d, t)| t.is_some_and(|t| keep_untagged(d, t)))
            .map(|(d, _)| d.clone());
        let trashed = in_trash.iter().map(|d| (*d).clone());
        let roots = tagged.into_iter().chain(untagged).chain(trashed).collect();
        let kept = self
            .follow(roots, &mut edges, Some(&referrers), pacer)
            .await?;
        for d in &kept {
            marks.insert(d);
            for b in &edges[d].blobs {
                marks.insert(b);
            }
        }
        let doomed: Vec<Doomed> = revisions
            .iter()
            .filter(|(d, _)| !kept.contains(d))
            .map(|(d, _)| Doomed {
                digest: d.clone(),
                subject: edges.get(d).and_then(|e| e.subject.clone()),
            })
            .collect();
        let staying = revisions.len() - doomed.len();
        Ok((doomed, staying))
    }

    /// The manifests reachable from `roots` through index children, and through referrers too when
    /// `referrers` (each subject's referrers) is given. Reads the edges of a manifest `edges` lacks
    /// (one no revision names) into it.
    async fn follow(
        &self,
        mut queue: Vec<Digest>,
        edges: &mut HashMap<Digest, Edges>,
        referrers: Option<&HashMap<Digest, Vec<Digest>>>,
        pacer: &Pacer,
    ) -> Result<HashSet<Digest>> {
        let mut reached: HashSet<Digest> = HashSet::new();
        while let Some(d) = queue.pop() {
            if !reached.insert(d.clone()) {
                continue;
            }
            if !edges.contains_key(&d) {
                pacer.rest().await;
                let e = self.manifest_edges(&d).await?;
                edges.insert(d.clone(), e);
            }
            queue.extend(edges[&d].children.iter().cloned());
            if let Some(r) = referrers.and_then(|r| r.get(&d)) {
                queue.extend(r.iter().cloned());
            }
        }
        Ok(reached)
    }

    /// A repository's revisions with when their links were written: as the scan gave it, else read
    /// now for each revision `by_tags` does not hold, leaving out one whose link is gone. A revision
    /// the tags keep may stay without its time.
    async fn revision_times(
        &self,
        scan: &RepoScan,
        by_tags: &HashSet<Digest>,
        pacer: &Pacer,
    ) -> Result<Vec<(Digest, Option<SystemTime>)>> {
        let storage = self.storage.as_ref();
        let revisions = &scan.revisions;
        // By index, as marking does: a closure over borrowed names is not `Send` for every lifetime.
        let pending = stream::iter(0..revisions.len()).map(|i| async move {
            let (d, written) = &revisions[i];
            if written.is_some() || by_tags.contains(d) {
                return Ok(Some((d.clone(), *written)));
            }
            pacer.rest().await;
            let link = paths::revision_link(&scan.name, d);
            let written = walk::modified(storage, &link).await?;
            Ok::<_, RegistryError>(written.map(|t| (d.clone(), Some(t))))
        });
        let found: Vec<Option<_>> = pending
            .buffered(pacer.width(walk::CONCURRENCY))
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// The blobs `manifests` use: each manifest itself, its config and layers (as far as they can
    /// be read).
    pub(in crate::registry) async fn blobs_used(
        &self,
        manifests: &[Digest],
    ) -> Result<HashSet<Digest>> {
        let mut blobs = HashSet::new();
        for d in manifests {
            blobs.insert(d.clone());
            blobs.extend(self.manifest_edges(d).await?.blobs);
        }
        Ok(blobs)
    }

    /// What a stored manifest references; nothing when it is missing or not a manifest.
    async fn manifest_edges(&self, digest: &Digest) -> Result<Edges> {
        edges_of(self.storage.get(&paths::blob_data(digest)).await)
    }
}

/// What a manifest read from storage references; nothing when it is missing or not a manifest.
fn edges_of(read: std::result::Result<Bytes, StorageError>) -> Result<Edges> {
    let bytes = match read {
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

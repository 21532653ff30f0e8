//! Deleting the untagged revisions marking dooms, as marking finds them.
//!
//! Whether a repository keeps a revision depends on that repository alone (its tags, its trash, the
//! revisions' times): marks shared between repositories decide only which blobs the sweep deletes,
//! and a revision's delete removes links, never a blob. So a repository's doomed revisions can go
//! as soon as it is marked, while the others are still read. A full-speed collection does that: where
//! requests are round trips (object storage) the deletes' requests are in flight beside the mark's;
//! on a cold local disk both share its reads per second, so the deletes move into the mark rather
//! than vanish. A paced collection (inside a serving registry) waits for the end of marking, so that
//! it never has both in flight beside the requests.
//!
//! The deletes go in sections, as every other delete of a collection ([`super::Section`]): a
//! revision a write touched since the collection started stays.

use std::collections::VecDeque;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use tokio::sync::mpsc::UnboundedReceiver;

use super::mark::Doomed;
use super::pace::Pacer;
use super::{barrier, protocol, walk, Section};
use crate::registry::digest::Digest;
use crate::registry::error::{RegistryError, Result};
use crate::registry::names::RepoName;
use crate::registry::Registry;

/// A repository's doomed revisions, as marking sends them.
pub(super) type Feed = UnboundedReceiver<(RepoName, Vec<Doomed>)>;

/// How the untagged deletes of one collection run.
pub(super) struct Deletes<'a, 'b> {
    /// The collection, for its in-process barrier.
    pub collection: &'a barrier::Collection<'b>,
    /// Its announcement in storage; `None` in a dry run, which deletes nothing.
    pub announced: Option<&'a protocol::Announced>,
    /// Its pacing.
    pub pacer: &'a Pacer,
    /// Revisions per section.
    pub batch: usize,
    /// Whether to delete while marking runs; else the whole feed is taken first.
    pub beside_marking: bool,
}

impl Registry {
    /// Deletes the revisions `feed` sends until marking closes it, a section of `batch` at a time,
    /// and returns those deleted (in a dry run: those that would be), by repository.
    pub(super) async fn delete_untagged(
        &self,
        mut feed: Feed,
        deletes: &Deletes<'_, '_>,
    ) -> Result<Vec<(RepoName, Digest)>> {
        let mut deleted = Vec::new();
        let mut queue: VecDeque<(RepoName, Doomed)> = VecDeque::new();
        let mut open = true;
        loop {
            while open && (!deletes.beside_marking || queue.len() < deletes.batch) {
                match feed.recv().await {
                    Some((name, doomed)) => {
                        queue.extend(doomed.into_iter().map(|d| (name.clone(), d)));
                    }
                    None => open = false,
                }
            }
            if queue.is_empty() {
                return Ok(deleted);
            }
            let take = queue.len().min(deletes.batch);
            let section: Vec<(RepoName, Doomed)> = queue.drain(..take).collect();
            self.delete_untagged_section(&section, deletes, &mut deleted)
                .await?;
        }
    }

    /// Deletes one section's revisions (in order, a few repositories at a time, each scanning its
    /// tags' histories once), skipping those a write touched since the collection started; adds
    /// those deleted to `deleted`.
    async fn delete_untagged_section(
        &self,
        batch: &[(RepoName, Doomed)],
        deletes: &Deletes<'_, '_>,
        deleted: &mut Vec<(RepoName, Digest)>,
    ) -> Result<()> {
        let pacer = deletes.pacer;
        let guard = Section::begin(deletes.collection, deletes.announced).await?;
        let mut section_deleted = Vec::with_capacity(batch.len());
        let mut pending = Vec::new();
        for repo in batch.chunk_by(|a, b| a.0 == b.0) {
            let name = &repo[0].0;
            let mut revisions = Vec::with_capacity(repo.len());
            for (_, d) in repo {
                if let Some(g) = &guard {
                    if g.touched_digest(&d.digest) {
                        continue;
                    }
                    revisions.push(d);
                }
                section_deleted.push((name.clone(), d.digest.clone()));
            }
            if let (Some(g), false) = (&guard, revisions.is_empty()) {
                pending.push(async move {
                    let histories = self.tag_histories(name).await?;
                    for d in revisions {
                        pacer.rest().await;
                        g.may_delete()?;
                        self.delete_revision(name, &histories, d).await?;
                    }
                    Ok::<(), RegistryError>(())
                });
            }
        }
        stream::iter(pending)
            .buffer_unordered(pacer.width(walk::CONCURRENCY))
            .try_collect::<Vec<()>>()
            .await?;
        deleted.extend(section_deleted);
        if let Some(g) = guard {
            g.end().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use tokio::sync::mpsc::unbounded_channel;

    use super::*;
    use crate::registry::gc::pace::Pace;
    use crate::registry::{paths, Settings};
    use crate::storage::memory::Memory;
    use crate::storage::Storage;

    /// Three repositories with one revision each, linked in `storage`.
    async fn revisions(storage: &Memory) -> Vec<(RepoName, Digest)> {
        let mut linked = Vec::new();
        for (i, hex) in ["aa", "bb", "cc"].iter().enumerate() {
            let name: RepoName = format!("team/app-{i}").parse().unwrap();
            let digest: Digest = format!("sha256:{}", hex.repeat(32)).parse().unwrap();
            let link = Bytes::from(digest.to_string());
            storage
                .put(&paths::revision_link(&name, &digest), link)
                .await
                .unwrap();
            linked.push((name, digest));
        }
        linked
    }

    /// Whether a revision's link is still stored.
    async fn linked(storage: &Memory, (name, digest): &(RepoName, Digest)) -> bool {
        storage
            .get(&paths::revision_link(name, digest))
            .await
            .is_ok()
    }

    /// Sends one repository's revision as doomed.
    fn doom(
        feed: &tokio::sync::mpsc::UnboundedSender<(RepoName, Vec<Doomed>)>,
        r: &(RepoName, Digest),
    ) {
        let doomed = Doomed {
            digest: r.1.clone(),
            subject: None,
        };
        feed.send((r.0.clone(), vec![doomed])).unwrap();
    }

    /// At full speed a section's worth of doomed revisions is deleted while marking still sends
    /// (the feed open); a paced collection deletes nothing before marking closes the feed. Either
    /// way every revision sent goes, and is reported.
    #[tokio::test]
    async fn full_speed_deletes_beside_marking_and_a_paced_collection_after_it() {
        for beside_marking in [true, false] {
            let storage = Memory::new();
            let registry = Registry::new(Arc::new(storage.clone()), Settings::for_tests());
            let doomed = revisions(&storage).await;
            let collection = registry.gc.begin().await.unwrap();
            let announced = registry.coordinator.announce(async {}).await.unwrap();
            let pacer = Pacer::new(Pace::FULL);
            let deletes = Deletes {
                collection: &collection,
                announced: Some(&announced),
                pacer: &pacer,
                batch: 2,
                beside_marking,
            };
            let (feed, received) = unbounded_channel();
            doom(&feed, &doomed[0]);
            doom(&feed, &doomed[1]);
            let deleting = registry.delete_untagged(received, &deletes);
            tokio::pin!(deleting);
            let first_two_gone = async {
                while linked(&storage, &doomed[0]).await || linked(&storage, &doomed[1]).await {
                    tokio::task::yield_now().await;
                }
            };
            let wait = Duration::from_secs(if beside_marking { 30 } else { 1 });
            tokio::select! {
                ended = &mut deleting => panic!("the deletes ended with the feed open: {ended:?}"),
                gone = tokio::time::timeout(wait, first_two_gone) => {
                    assert_eq!(gone.is_ok(), beside_marking, "beside marking: {beside_marking}");
                }
            }
            doom(&feed, &doomed[2]);
            drop(feed);
            let deleted = deleting.await.unwrap();
            assert_eq!(deleted, doomed);
            for r in &doomed {
                assert!(!linked(&storage, r).await, "{} still linked", r.0);
            }
        }
    }
}

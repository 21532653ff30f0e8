//! The retention step of a collection (with `GcOptions::retention`), between scanning and marking:
//! each repository a policy governs has its tags weighed by push and pull time, and the doomed ones
//! are deleted in a section (so no write lands meanwhile), each into the trash, unless a write
//! touched the repository since the collection started. Marking then keeps what the remaining tags,
//! the trash and the policy's untagged rule keep, and the collection frees the rest.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::mark::RepoScan;
use super::pace::Pacer;
use super::{walk, Section};
use crate::registry::error::{RegistryError, Result};
use crate::registry::names::RepoName;
use crate::registry::paths;
use crate::registry::retention::policy::{Policy, TagFacts};
use crate::registry::retention::trash::TrashEntry;
use crate::registry::retention::{DeletedTag, RepoRetention};
use crate::registry::Registry;

/// When a run deletes tags into the trash, and until when they can be restored.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stamp {
    /// The run's time.
    pub deleted: SystemTime,
    /// The end of the trash period.
    pub expires: SystemTime,
}

impl Stamp {
    /// Deleted at `now`, restorable for `trash_period`.
    pub fn new(now: SystemTime, trash_period: Duration) -> Stamp {
        Stamp {
            deleted: now,
            expires: now + trash_period,
        }
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

impl Registry {
    /// The tags `policy` dooms in a scanned repository, with their facts and reasons.
    pub(super) async fn doomed_tags(
        &self,
        scan: &RepoScan,
        policy: &Policy,
        pacer: &Pacer,
        now: SystemTime,
    ) -> Result<Vec<(TagFacts, String)>> {
        // Push and pull times are read a few tags at a time (on S3 each is a round trip).
        let pending = scan.tags.iter().filter_map(|(tag, digest)| {
            let digest = digest.as_ref()?;
            Some(async move {
                pacer.rest().await;
                let Some(pushed) = self.tag_pushed(&scan.name, tag).await? else {
                    return Ok(None);
                };
                let pulled = self.last_pulled(&scan.name, digest).await?;
                Ok::<_, RegistryError>(Some(TagFacts {
                    tag: tag.clone(),
                    digest: digest.clone(),
                    pushed,
                    pulled,
                }))
            })
        });
        let facts: Vec<TagFacts> = stream::iter(pending.collect::<Vec<_>>())
            .buffered(pacer.width(walk::CONCURRENCY))
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .flatten()
            .collect();
        Ok(policy.doomed(&facts, now))
    }

    /// Deletes the doomed tags of a repository (in `section`; `None` in a dry run, which deletes
    /// nothing) into the trash, and takes them out of `scan.tags` so marking no longer keeps their
    /// manifests through them. A tag whose link changed since it was weighed is left alone; every tag
    /// is left alone when a write touched the repository since the collection started.
    pub(super) async fn delete_doomed(
        &self,
        scan: &mut RepoScan,
        policy: &Policy,
        doomed: Vec<(TagFacts, String)>,
        section: Option<&Section<'_>>,
        pacer: &Pacer,
        stamp: Stamp,
    ) -> Result<(RepoRetention, Vec<TrashEntry>)> {
        let mut outcome = RepoRetention {
            repository: scan.name.clone(),
            policy: policy.index,
            tags: Vec::new(),
            skipped_busy: false,
            manifests: Vec::new(),
            bytes_freed: 0,
        };
        let mut trashed = Vec::new();
        if section.is_some_and(|g| g.touched_repo(&scan.name)) {
            outcome.skipped_busy = true;
            return Ok((outcome, trashed));
        }
        // Each tag is checked, trashed and deleted on its own (a few at a time: each trash entry is
        // a durable write); the outcome keeps the policy's order.
        let repository = &scan.name;
        let pending = doomed.into_iter().map(|(facts, reason)| async move {
            let entry = match section {
                Some(g) => {
                    pacer.rest().await;
                    g.may_delete()?;
                    let trashed = self
                        .trash_doomed(repository, &facts, &reason, policy, stamp)
                        .await?;
                    let Some(entry) = trashed else {
                        return Ok(None);
                    };
                    Some(entry)
                }
                None => None,
            };
            Ok::<_, RegistryError>(Some((facts, reason, entry)))
        });
        let done: Vec<_> = stream::iter(pending.collect::<Vec<_>>())
            .buffered(pacer.width(walk::CONCURRENCY))
            .try_collect()
            .await?;
        let mut gone = HashSet::new();
        for (facts, reason, entry) in done.into_iter().flatten() {
            trashed.extend(entry);
            gone.insert(facts.tag.clone());
            outcome.tags.push(DeletedTag {
                tag: facts.tag,
                digest: facts.digest,
                pushed: rfc3339(facts.pushed),
                pulled: facts.pulled.map(rfc3339),
                reason,
            });
        }
        scan.tags.retain(|(t, _)| !gone.contains(t));
        Ok((outcome, trashed))
    }

    /// Moves one doomed tag into the trash and deletes it, unless its link or push time changed
    /// since it was weighed (then `None`: it stays).
    async fn trash_doomed(
        &self,
        repository: &RepoName,
        facts: &TagFacts,
        reason: &str,
        policy: &Policy,
        stamp: Stamp,
    ) -> Result<Option<TrashEntry>> {
        let current = self
            .read_link(&paths::tag_current_link(repository, &facts.tag))
            .await?;
        let pushed = self.tag_pushed(repository, &facts.tag).await?;
        if current.as_ref() != Some(&facts.digest) || pushed != Some(facts.pushed) {
            return Ok(None);
        }
        let entry = TrashEntry {
            repository: repository.clone(),
            tag: facts.tag.clone(),
            digest: facts.digest.clone(),
            deleted: rfc3339(stamp.deleted),
            expires: rfc3339(stamp.expires),
            reason: format!("retention.policies[{}]: {reason}", policy.index),
        };
        self.trash(&entry).await?;
        self.catalog.delete_tag(repository, &facts.tag).await?;
        Ok(Some(entry))
    }
}

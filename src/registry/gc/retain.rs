//! The retention step of a collection (with `GcOptions::retention`), between scanning and marking:
//! each repository a policy governs has its tags weighed by push and pull time, and the doomed ones
//! are deleted in a section (so no write lands meanwhile), each into the trash, unless a write
//! touched the repository since the collection started. Marking then keeps what the remaining tags,
//! the trash and the policy's untagged rule keep, and the collection frees the rest.

use std::time::{Duration, SystemTime};

use super::mark::RepoScan;
use super::Section;
use crate::registry::error::Result;
use crate::registry::paths;
use crate::registry::retention::policy::{Policy, TagFacts};
use crate::registry::retention::trash::TrashEntry;
use crate::registry::retention::{DeletedTag, RepoRetention};
use crate::registry::Registry;

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

impl Registry {
    /// The tags `policy` dooms in a scanned repository, with their facts and reasons.
    pub(super) async fn doomed_tags(
        &self,
        scan: &RepoScan,
        policy: &Policy,
        now: SystemTime,
    ) -> Result<Vec<(TagFacts, String)>> {
        let mut facts = Vec::new();
        for (tag, digest) in &scan.tags {
            let Some(digest) = digest else { continue };
            let Some(pushed) = self.tag_pushed(&scan.name, tag).await? else {
                continue;
            };
            let pulled = self.last_pulled(&scan.name, digest).await?;
            facts.push(TagFacts {
                tag: tag.clone(),
                digest: digest.clone(),
                pushed,
                pulled,
            });
        }
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
        trash_period: Duration,
        now: SystemTime,
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
        for (facts, reason) in doomed {
            if let Some(g) = section {
                g.may_delete()?;
                let current = self
                    .read_link(&paths::tag_current_link(&scan.name, &facts.tag))
                    .await?;
                let pushed = self.tag_pushed(&scan.name, &facts.tag).await?;
                if current.as_ref() != Some(&facts.digest) || pushed != Some(facts.pushed) {
                    continue;
                }
                let entry = TrashEntry {
                    repository: scan.name.clone(),
                    tag: facts.tag.clone(),
                    digest: facts.digest.clone(),
                    deleted: rfc3339(now),
                    expires: rfc3339(now + trash_period),
                    reason: format!("retention.policies[{}]: {reason}", policy.index),
                };
                self.trash(&entry).await?;
                self.delete_if_present(&paths::tag_dir(&scan.name, &facts.tag))
                    .await?;
                trashed.push(entry);
            }
            scan.tags.retain(|(t, _)| *t != facts.tag);
            outcome.tags.push(DeletedTag {
                tag: facts.tag,
                digest: facts.digest,
                pushed: rfc3339(facts.pushed),
                pulled: facts.pulled.map(rfc3339),
                reason,
            });
        }
        Ok((outcome, trashed))
    }
}

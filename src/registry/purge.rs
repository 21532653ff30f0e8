//! Upload purging: removing upload sessions started longer ago than an age, as distribution's purger
//! does. A session whose `startedat` is missing or unreadable is kept (it counts as started in the
//! future), and directories whose names are not upload ids are left alone.

use std::time::{Duration, SystemTime};

use super::error::Result;
use super::gc::walk;
use super::names::RepoName;
use super::uploads::UploadId;
use super::Registry;
use crate::storage::paths;

/// What a purge removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default)]
pub struct PurgeReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// The sessions removed.
    pub purged: Vec<(RepoName, UploadId)>,
}

impl Registry {
    /// Removes every upload session of every repository started more than `age` ago.
    pub async fn purge_uploads(&self, age: Duration, dry_run: bool) -> Result<PurgeReport> {
        let cutoff = SystemTime::now()
            .checked_sub(age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let storage = self.storage.as_ref();
        let mut report = PurgeReport {
            dry_run,
            ..PurgeReport::default()
        };
        for name in walk::all_repositories(storage).await? {
            for entry in walk::list_or_empty(storage, &paths::uploads_dir(&name)).await? {
                let Ok(id) = entry.parse::<UploadId>() else {
                    continue;
                };
                let started = match self
                    .storage
                    .get(&paths::upload_started_at(&name, &id))
                    .await
                {
                    Ok(text) => std::str::from_utf8(&text)
                        .ok()
                        .and_then(|t| humantime::parse_rfc3339_weak(t.trim()).ok()),
                    Err(_) => None,
                };
                if started.is_none_or(|s| s >= cutoff) {
                    continue;
                }
                if !dry_run {
                    self.discard_upload(&name, id).await?;
                }
                report.purged.push((name.clone(), id));
            }
        }
        Ok(report)
    }
}

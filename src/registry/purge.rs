//! Upload purging: removing upload sessions started longer ago than an age, as distribution's purger
//! does. A session whose `startedat` is missing or unreadable is kept (it counts as started in the
//! future), and directories whose names are not upload ids are left alone.
//!
//! The purge also removes what writes interrupted by a crash left behind (the filesystem backend's
//! `<name>.<uuid>.tmp` files) once they are [`LEFTOVER_AGE`] old: a write's temporary file lives for the
//! time of one small write, so one that old belongs to no write in progress, in this process or another.

use std::time::{Duration, SystemTime};

use super::error::Result;
use super::gc::walk;
use super::names::RepoName;
use super::names::UploadId;
use super::Registry;
use crate::registry::paths;
use crate::storage::StorageError;

/// How old a temporary file of an interrupted write must be before the purge removes it.
pub const LEFTOVER_AGE: Duration = Duration::from_secs(3600);

/// What a purge removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default)]
pub struct PurgeReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// The sessions removed.
    pub purged: Vec<(RepoName, UploadId)>,
    /// The temporary files of interrupted writes removed, as storage keys.
    pub leftovers: Vec<String>,
}

impl Registry {
    /// Removes every upload session of every repository started more than `age` ago, and the
    /// temporary files of interrupted writes older than [`LEFTOVER_AGE`].
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
        let before = SystemTime::now()
            .checked_sub(LEFTOVER_AGE)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        for key in storage.leftovers(before).await? {
            if !dry_run {
                match storage.delete(&key).await {
                    Ok(()) | Err(StorageError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            report.leftovers.push(key);
        }
        Ok(report)
    }
}

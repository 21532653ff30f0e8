//! `storage.maintenance:`: the upload purger and read-only mode, with distribution's defaults (purging
//! on, uploads older than a week removed once a day).

use serde::{Deserialize, Serialize};

use super::duration::GoDuration;

/// `storage.maintenance:` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MaintenanceConfig {
    /// Removal of abandoned upload sessions.
    pub uploadpurging: UploadPurgingConfig,
    /// Refusing every write.
    pub readonly: ReadOnlyConfig,
}

/// `storage.maintenance.uploadpurging:` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadPurgingConfig {
    /// Run the purger in the server.
    pub enabled: bool,
    /// Upload sessions started longer ago than this are removed.
    pub age: GoDuration,
    /// Time between two runs; the first run comes after a random delay of up to an hour.
    pub interval: GoDuration,
    /// Only log what would be removed.
    pub dryrun: bool,
}

impl Default for UploadPurgingConfig {
    fn default() -> Self {
        UploadPurgingConfig {
            enabled: true,
            age: GoDuration::hours(168),
            interval: GoDuration::hours(24),
            dryrun: false,
        }
    }
}

/// `storage.maintenance.readonly:` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReadOnlyConfig {
    /// Answer every write (`POST`, `PATCH`, `PUT`, `DELETE` under `/v2/`) with 405 `UNSUPPORTED`.
    pub enabled: bool,
}

//! `storage:` settings: the driver and the switches every driver shares.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::gc::GcConfig;
use super::maintenance::MaintenanceConfig;

/// `storage:` settings: exactly one driver plus the shared switches.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    /// The filesystem driver.
    pub filesystem: Option<FilesystemConfig>,
    /// The in-memory driver (content is lost when the process stops; for tests).
    pub inmemory: Option<BTreeMap<String, serde_yaml::Value>>,
    /// Deletion of blobs and manifests.
    pub delete: DeleteConfig,
    /// Upload purging and read-only mode.
    pub maintenance: MaintenanceConfig,
    /// Garbage collection while serving.
    pub gc: GcConfig,
}

/// `storage.filesystem:` settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FilesystemConfig {
    /// Directory holding `docker/registry/v2`. Unset: `/var/lib/registry` when writable, else a per-user
    /// data directory.
    pub rootdirectory: Option<PathBuf>,
}

/// `storage.delete:` settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DeleteConfig {
    /// Allow `DELETE` of blobs, manifests and tags.
    pub enabled: bool,
}

/// The storage driver chosen, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driver {
    /// Files under a root directory.
    Filesystem(PathBuf),
    /// Process memory.
    InMemory,
}

impl StorageConfig {
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.filesystem.is_some() && self.inmemory.is_some() {
            return Err((
                "storage",
                "more than one storage driver is configured (filesystem and inmemory); keep one, or select one with REGISTRY_STORAGE=filesystem".into(),
            ));
        }
        Ok(())
    }

    /// The storage driver, with the filesystem root resolved (which may create the default directory).
    pub fn driver(&self) -> Result<Driver, (&'static str, String)> {
        self.validate()?;
        match (&self.filesystem, &self.inmemory) {
            (None, Some(_)) => Ok(Driver::InMemory),
            (
                Some(FilesystemConfig {
                    rootdirectory: Some(root),
                }),
                None,
            ) => Ok(Driver::Filesystem(root.clone())),
            _ => Ok(Driver::Filesystem(super::default_root())),
        }
    }
}

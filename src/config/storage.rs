//! `storage:` settings: the driver and the switches every driver shares.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::gc::GcConfig;
use super::maintenance::MaintenanceConfig;
use super::s3::S3Config;

/// `storage:` settings: exactly one driver plus the shared switches.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    /// The filesystem driver.
    pub filesystem: Option<FilesystemConfig>,
    /// The in-memory driver (content is lost when the process stops; for tests).
    pub inmemory: Option<BTreeMap<String, serde_yaml::Value>>,
    /// The S3 driver (AWS S3 or an S3-compatible engine).
    pub s3: Option<S3Config>,
    /// Deletion of blobs and manifests.
    pub delete: DeleteConfig,
    /// Redirects of blob downloads to the object store.
    pub redirect: RedirectConfig,
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

/// `storage.redirect:` settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RedirectConfig {
    /// Stream blob downloads through the registry instead of answering 307 to a presigned URL of
    /// the object store (object-storage drivers only; the filesystem driver always streams).
    pub disable: bool,
}

/// The storage driver chosen, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driver {
    /// Files under a root directory.
    Filesystem(PathBuf),
    /// Process memory.
    InMemory,
    /// An S3 bucket.
    S3(Box<S3Config>),
}

impl StorageConfig {
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        let configured: Vec<&str> = [
            ("filesystem", self.filesystem.is_some()),
            ("inmemory", self.inmemory.is_some()),
            ("s3", self.s3.is_some()),
        ]
        .iter()
        .filter_map(|(name, set)| set.then_some(*name))
        .collect();
        if configured.len() > 1 {
            return Err((
                "storage",
                format!(
                    "more than one storage driver is configured ({}); keep one, or select one with REGISTRY_STORAGE=<driver>",
                    configured.join(" and ")
                ),
            ));
        }
        self.gc.validate()?;
        match &self.s3 {
            Some(s3) => s3.validate(),
            None => Ok(()),
        }
    }

    /// The storage driver, with the filesystem root resolved (which may create the default directory).
    pub fn driver(&self) -> Result<Driver, (&'static str, String)> {
        self.validate()?;
        if let Some(s3) = &self.s3 {
            return Ok(Driver::S3(Box::new(s3.clone())));
        }
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

//! The storage health check the server runs periodically.

use super::error::Result;
use super::Registry;
use crate::storage::{paths, StorageError};

impl Registry {
    /// Checks that the storage answers: the layout's root can be stat-ed (a fresh, empty root counts
    /// as healthy, as in distribution).
    pub async fn check_storage(&self) -> Result<()> {
        match self.storage.stat(&paths::layout_root()).await {
            Ok(_) | Err(StorageError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

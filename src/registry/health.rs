//! The storage checks the server runs at start and periodically: that the storage answers, and that it
//! can be written.

use bytes::Bytes;

use super::error::{RegistryError, Result};
use super::Registry;
use crate::registry::paths;
use crate::storage::StorageError;

/// What the write probe stores, so that reading it back proves the round trip.
const PROBE_CONTENT: &[u8] = b"wharf write probe\n";

impl Registry {
    /// Checks that the storage answers: the layout's root can be stat-ed (a fresh, empty root counts
    /// as healthy, as in distribution).
    pub async fn check_storage(&self) -> Result<()> {
        match self.storage.stat(&paths::layout_root()).await {
            Ok(_) | Err(StorageError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks that the storage can be written as a push writes it: a file is stored the way blobs and
    /// links are (on a filesystem: a temporary file, fsync, rename), read back, and deleted.
    pub async fn check_writable(&self) -> Result<()> {
        let key = paths::write_probe(&uuid::Uuid::new_v4());
        self.storage
            .put(&key, Bytes::from_static(PROBE_CONTENT))
            .await?;
        let read = self.storage.get(&key).await;
        let deleted = self.storage.delete(&key).await;
        if read? != PROBE_CONTENT {
            return Err(RegistryError::Storage(StorageError::Io {
                path: key,
                source: std::io::Error::other("the file written could not be read back intact"),
            }));
        }
        deleted.map_err(RegistryError::from)
    }
}

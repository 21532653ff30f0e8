//! Errors of the registry services: what went wrong in registry terms, never an HTTP status.

use super::digest::Digest;
use crate::storage::StorageError;

/// A registry operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The blob is not in the repository.
    #[error("blob unknown to registry: {0}")]
    BlobUnknown(Digest),
    /// No upload session with that id in the repository.
    #[error("blob upload unknown to registry")]
    BlobUploadUnknown,
    /// The upload cannot proceed as sent.
    #[error("blob upload invalid: {0}")]
    BlobUploadInvalid(String),
    /// The content does not match the digest given.
    #[error("provided digest did not match uploaded content: {0}")]
    DigestInvalid(String),
    /// A chunk does not start where the upload ends.
    #[error("requested range not satisfiable: upload is at offset {current}")]
    RangeInvalid {
        /// Bytes the upload holds now.
        current: u64,
    },
    /// A declared length does not match the content.
    #[error("provided length did not match content length: {0}")]
    SizeInvalid(String),
    /// No manifest for the tag or digest.
    #[error("manifest unknown: {0}")]
    ManifestUnknown(String),
    /// The manifest cannot be parsed or fails validation.
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    /// The manifest references a blob or manifest the repository does not have.
    #[error("manifest references {0}, which is unknown to the repository")]
    ManifestBlobUnknown(Digest),
    /// The repository does not exist.
    #[error("repository name not known to registry")]
    NameUnknown,
    /// The operation is switched off by configuration.
    #[error("the operation is unsupported: {0}")]
    Unsupported(&'static str),
    /// A page size above the configured maximum.
    #[error("invalid number of results requested: at most {max}")]
    PaginationNumberInvalid {
        /// The largest page size allowed.
        max: usize,
    },
    /// The operation could not be completed safely now and may be retried (a garbage collection
    /// raced it, or lost its lease).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The push is refused by policy (a quota), with the reason.
    #[error("denied: {0}")]
    Denied(String),
    /// Something Wharf stored cannot be read back (a damaged record of its own).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// The backend failed.
    #[error(transparent)]
    Storage(StorageError),
}

impl From<StorageError> for RegistryError {
    fn from(e: StorageError) -> Self {
        RegistryError::Storage(e)
    }
}

/// Result of a registry operation.
pub type Result<T> = std::result::Result<T, RegistryError>;

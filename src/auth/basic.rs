//! Password checks against the htpasswd file: the credential cache first, then bcrypt on the
//! blocking thread pool. Unknown users are checked against a dummy hash of the same cost, so the
//! answer takes as long for them as for a wrong password.

use std::path::Path;

use super::cache::CredentialCache;
use super::provision::{self, Initial};
use super::users_file::UsersFile;
use super::{htpasswd, AuthError};

/// A bcrypt hash (cost 10, like generated entries) of a password nobody knows.
const DUMMY_HASH: &str = "$2y$10$KS9I8.MKCYXhhHtsGsdl2.zcZ0/Vyb3MVbt5MiB5unyau1qkogSRm";

/// Verifies user names and passwords.
pub struct BasicAuth {
    file: UsersFile,
    cache: CredentialCache,
}

impl BasicAuth {
    /// Opens the htpasswd file at `path`, creating it with `initial` when it is missing.
    pub fn open(path: &Path, initial: &Initial) -> Result<BasicAuth, AuthError> {
        provision::ensure(path, initial)?;
        Ok(BasicAuth {
            file: UsersFile::open(path)?,
            cache: CredentialCache::new().map_err(|e| AuthError::Random(e.to_string()))?,
        })
    }

    /// Whether `password` is `user`'s.
    pub async fn verify(&self, user: &str, password: &str) -> bool {
        let users = self.file.current().await;
        if self.cache.contains(users.generation, user, password) {
            return true;
        }
        let hash = users.hashes.get(user).cloned();
        let candidate = password.to_string();
        let matched = tokio::task::spawn_blocking(move || match hash {
            Some(hash) => htpasswd::verify(&candidate, &hash),
            None => {
                htpasswd::verify(&candidate, DUMMY_HASH);
                false
            }
        })
        .await
        .unwrap_or(false);
        if matched {
            self.cache.insert(users.generation, user, password);
        }
        matched
    }
}

//! Authentication and authorization, independent of HTTP: the HTTP layer (`api::auth`) hands over
//! the credentials a request presented and what the request needs ([`Access`]); this module answers
//! with a [`Principal`] or a [`Failure`], and whether the principal may proceed.
//!
//! - [`htpasswd`]: the file format (also used by the `wharf htpasswd` tool, [`tool`]).
//! - [`users_file`]: the hot-reloaded file; [`provision`]: creating it when missing.
//! - [`basic`]: password checks, with the [`cache`] of verified credentials.
//! - [`throttle`]: failed logins per client address.
//! - [`access`]: the access policy (anonymous read, `auth.access` rules, token grants).
//!
//! Secrets (passwords, `Authorization` values) are never logged; the one exception is the
//! generated password of a newly provisioned htpasswd file, logged once, as distribution does.

pub mod access;
pub mod basic;
pub mod cache;
pub mod htpasswd;
pub mod provision;
pub mod throttle;
pub mod tool;
pub mod users_file;

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use access::{Access, Grant, Policy, Principal};

use crate::config::AuthConfig;
use basic::BasicAuth;
use provision::Initial;
use throttle::Throttle;

/// Why authentication could not be set up, or a file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The htpasswd file exists but cannot be read.
    #[error("cannot read the htpasswd file {0}: {1}; check auth.htpasswd.path (REGISTRY_AUTH_HTPASSWD_PATH) and the file's permissions")]
    Read(PathBuf, io::Error),
    /// A file or its directory cannot be created or written.
    #[error("cannot write {0}: {1}; make its directory writable or choose another path")]
    Create(PathBuf, io::Error),
    /// The `WHARF_*` initial credentials are inconsistent.
    #[error("{0}")]
    InitialCredentials(String),
    /// A user name that htpasswd files cannot hold.
    #[error("user name {0:?} is empty or contains ':' or control characters; choose another")]
    BadUser(String),
    /// A bcrypt cost out of range.
    #[error("bcrypt cost {0} is outside 4..=17; use the default (10) or e.g. -C 12")]
    BadCost(u32),
    /// bcrypt uses only the first 72 bytes of a password.
    #[error("the password is longer than 72 bytes, which bcrypt cannot use; choose a shorter one")]
    PasswordTooLong,
    /// bcrypt failed.
    #[error("bcrypt failed: {0}")]
    Hash(String),
    /// The operating system gave no random bytes.
    #[error("no random bytes from the operating system: {0}")]
    Random(String),
    /// Token authentication is configured but not available.
    #[error("token authentication (auth.token) is not supported yet; use auth.htpasswd")]
    TokenUnsupported,
}

impl AuthError {
    fn read(path: &std::path::Path, e: io::Error) -> AuthError {
        AuthError::Read(path.to_path_buf(), e)
    }

    /// The configuration setting the error is about.
    pub fn setting(&self) -> &'static str {
        match self {
            AuthError::TokenUnsupported => "auth.token",
            AuthError::InitialCredentials(_) => "WHARF_USERNAME/WHARF_PASSWORD/WHARF_HTPASSWD",
            _ => "auth.htpasswd.path",
        }
    }
}

/// The credentials a request presented. Its `Debug` never shows secrets.
#[derive(Clone, PartialEq, Eq)]
pub enum Presented {
    /// No `Authorization` header.
    Nothing,
    /// `Authorization: Basic`.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// An `Authorization` header of another scheme, or a malformed one.
    Unusable,
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Presented::Nothing => write!(f, "Nothing"),
            Presented::Basic { user, .. } => write!(f, "Basic {{ user: {user:?}, .. }}"),
            Presented::Unusable => write!(f, "Unusable"),
        }
    }
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Credentials are required and none were presented.
    Missing,
    /// The credentials are wrong (or of a scheme this registry does not take).
    Invalid,
    /// Too many failed logins from this client; retry after the duration.
    Throttled(Duration),
}

/// The configured authentication and access policy.
pub struct Authenticator {
    realm: String,
    users: BasicAuth,
    policy: Policy,
    throttle: Throttle,
}

impl Authenticator {
    /// Sets up what `config` asks for (`None` when authentication is off), creating a missing
    /// htpasswd file with the `WHARF_*` initial credentials of this process.
    pub fn from_config(config: &AuthConfig) -> Result<Option<Authenticator>, AuthError> {
        if config.token.is_some() {
            return Err(AuthError::TokenUnsupported);
        }
        let Some(htpasswd) = &config.htpasswd else {
            return Ok(None);
        };
        // Validated at load: the path is set.
        let path = htpasswd.path.clone().unwrap_or_default();
        Ok(Some(Authenticator {
            realm: htpasswd.realm.clone(),
            users: BasicAuth::open(&path, &Initial::from_env()?)?,
            policy: Policy {
                anonymous_read: htpasswd.anonymousread,
                rules: config.access.clone(),
            },
            throttle: Throttle::default(),
        }))
    }

    /// Who presented `presented` from `client`.
    pub async fn authenticate(
        &self,
        client: IpAddr,
        presented: Presented,
    ) -> Result<Principal, Failure> {
        match presented {
            Presented::Nothing => Ok(Principal::Anonymous),
            Presented::Unusable => Err(Failure::Invalid),
            Presented::Basic { user, password } => {
                self.throttle.check(client).map_err(Failure::Throttled)?;
                if self.users.verify(&user, &password).await {
                    Ok(Principal::User(user))
                } else {
                    self.throttle.failure(client);
                    tracing::info!(client = %client, user = %user, "failed login");
                    Err(Failure::Invalid)
                }
            }
        }
    }

    /// Whether `principal` may do `access`.
    pub fn allows(&self, principal: &Principal, access: Access<'_>) -> bool {
        self.policy.allows(principal, access)
    }

    /// The `WWW-Authenticate` value asking for credentials.
    pub fn challenge(&self) -> String {
        format!("Basic realm=\"{}\"", self.realm)
    }
}

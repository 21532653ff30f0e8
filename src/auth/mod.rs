//! Authentication and authorization, independent of HTTP: the HTTP layer (`api::auth`) hands over
//! the credentials a request presented and what the request needs ([`Access`]); this module answers
//! with a [`Principal`] or a [`Failure`], and whether the principal may proceed.
//!
//! - [`htpasswd`]: the file format (also used by the `wharf htpasswd` tool, [`tool`]).
//! - [`users_file`]: the hot-reloaded file; [`provision`]: creating it when missing.
//! - [`basic`]: password checks, with the [`cache`] of verified credentials.
//! - [`throttle`]: failed logins per client address.
//! - [`token`]: bearer tokens from a token server (Docker token specification).
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
pub mod token;
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
use token::TokenAuth;

/// Why authentication could not be set up, or a file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The htpasswd file exists but cannot be read.
    #[error("cannot read the htpasswd file {0}: {1}; check auth.htpasswd.path (REGISTRY_AUTH_HTPASSWD_PATH) and the file's permissions")]
    Read(PathBuf, io::Error),
    /// A file or its directory cannot be created or written.
    #[error("cannot write {0}: {1}; make its directory writable or choose another path")]
    Create(PathBuf, io::Error),
    /// The htpasswd file is missing and so is its directory.
    #[error("the directory {0} of auth.htpasswd.path (REGISTRY_AUTH_HTPASSWD_PATH) does not exist: fix the path, or create the directory (mount the volume that holds the htpasswd file there)")]
    MissingDirectory(PathBuf),
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
    /// The token signing certificates cannot be used.
    #[error("cannot use the token certificates {0} (auth.token.rootcertbundle): {1}; give a PEM file of the token server's certificates")]
    TokenKeys(PathBuf, String),
}

impl AuthError {
    fn read(path: &std::path::Path, e: io::Error) -> AuthError {
        AuthError::Read(path.to_path_buf(), e)
    }

    /// The configuration setting the error is about.
    pub fn setting(&self) -> &'static str {
        match self {
            AuthError::TokenKeys(..) => "auth.token.rootcertbundle",
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
    /// `Authorization: Bearer`.
    Bearer(String),
    /// An `Authorization` header of another scheme, or a malformed one.
    Unusable,
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Presented::Nothing => write!(f, "Nothing"),
            Presented::Basic { user, .. } => write!(f, "Basic {{ user: {user:?}, .. }}"),
            Presented::Bearer(_) => write!(f, "Bearer(..)"),
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

/// How clients prove who they are.
enum Scheme {
    /// Basic authentication against the htpasswd file.
    Basic {
        /// The challenge's realm.
        realm: String,
        /// The users.
        users: BasicAuth,
    },
    /// Bearer tokens from a token server.
    Token(TokenAuth),
}

/// The configured authentication and access policy.
pub struct Authenticator {
    scheme: Scheme,
    policy: Policy,
    throttle: Throttle,
}

impl Authenticator {
    /// Sets up what `config` asks for (`None` when authentication is off), creating a missing
    /// htpasswd file with the `WHARF_*` initial credentials of this process.
    pub fn from_config(config: &AuthConfig) -> Result<Option<Authenticator>, AuthError> {
        if let Some(token) = &config.token {
            return Ok(Some(Authenticator {
                scheme: Scheme::Token(TokenAuth::open(token)?),
                policy: Policy::default(),
                throttle: Throttle::default(),
            }));
        }
        let Some(htpasswd) = &config.htpasswd else {
            return Ok(None);
        };
        // Validated at load: the path is set.
        let path = htpasswd.path.clone().unwrap_or_default();
        Ok(Some(Authenticator {
            scheme: Scheme::Basic {
                realm: htpasswd.realm.clone(),
                users: BasicAuth::open(&path, &Initial::from_env()?)?,
            },
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
        match (&self.scheme, presented) {
            (_, Presented::Nothing) => Ok(Principal::Anonymous),
            (Scheme::Token(tokens), Presented::Bearer(token)) => {
                tokens.verify(&token).ok_or(Failure::Invalid)
            }
            (Scheme::Basic { users, .. }, Presented::Basic { user, password }) => {
                self.throttle.check(client).map_err(Failure::Throttled)?;
                if users.verify(&user, &password).await {
                    Ok(Principal::User(user))
                } else {
                    self.throttle.failure(client);
                    tracing::info!(client = %client, user = %user, "failed login");
                    Err(Failure::Invalid)
                }
            }
            _ => Err(Failure::Invalid),
        }
    }

    /// Whether `principal` may do `access`.
    pub fn allows(&self, principal: &Principal, access: Access<'_>) -> bool {
        self.policy.allows(principal, access)
    }

    /// Whether a refused authenticated principal should get a new challenge (401) rather than a
    /// denial (403): token clients fetch a token with the scope the challenge names.
    pub fn rechallenges_denied(&self) -> bool {
        matches!(self.scheme, Scheme::Token(_))
    }

    /// The `WWW-Authenticate` value asking for credentials that allow `access`; `insufficient`
    /// when the credentials presented were valid but not enough; `base` is the request's
    /// `<scheme>://<host>` (for token `autoredirect`).
    pub fn challenge(&self, access: Access<'_>, insufficient: bool, base: &str) -> String {
        match &self.scheme {
            Scheme::Basic { realm, .. } => format!("Basic realm=\"{realm}\""),
            Scheme::Token(tokens) => {
                tokens.challenge(access.scope().as_deref(), insufficient, base)
            }
        }
    }
}

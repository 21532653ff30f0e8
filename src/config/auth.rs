//! `auth:` settings, in distribution's shape (`auth.htpasswd.{realm,path}`,
//! `auth.token.{realm,service,issuer,rootcertbundle,autoredirect}`) plus Wharf's extensions:
//! `auth.htpasswd.anonymousread` and `auth.access` rules. Extension keys contain no `_`, so each one
//! is reachable as a `REGISTRY_AUTH_...` variable (`REGISTRY_AUTH_HTPASSWD_ANONYMOUSREAD=true`,
//! `REGISTRY_AUTH_ACCESS='[{users: [ci], repositories: ["apps/*"], actions: [pull, push]}]'`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The realm sent in challenges when none is configured.
pub const DEFAULT_REALM: &str = "Registry Realm";

/// `auth:` settings: at most one provider (`htpasswd` or `token`) plus access rules.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Basic authentication against an Apache htpasswd file (bcrypt entries only).
    pub htpasswd: Option<HtpasswdConfig>,
    /// Bearer tokens issued by an external token server (Docker token specification).
    pub token: Option<TokenConfig>,
    /// Wharf extension: what each htpasswd user may do. Empty: every authenticated user may do
    /// everything, as in registry:2. Otherwise a user may do only what some rule grants.
    pub access: Vec<AccessRule>,
}

/// `auth.htpasswd:` settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HtpasswdConfig {
    /// Realm named in the `WWW-Authenticate: Basic realm="..."` challenge.
    pub realm: String,
    /// The htpasswd file. Created with one user when missing (see docs/authentication.md).
    pub path: Option<PathBuf>,
    /// Wharf extension: anyone may pull and list the catalog without credentials; pushing and
    /// deleting still need a user.
    pub anonymousread: bool,
}

impl Default for HtpasswdConfig {
    fn default() -> Self {
        HtpasswdConfig {
            realm: DEFAULT_REALM.into(),
            path: None,
            anonymousread: false,
        }
    }
}

/// `auth.token:` settings (Docker token authentication with JWT bearer tokens).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenConfig {
    /// URL of the token server, sent as `realm` in the `Bearer` challenge.
    pub realm: String,
    /// Name of this registry as the token server knows it; tokens must carry it in `aud`.
    pub service: String,
    /// Who issues the tokens; tokens must carry it in `iss`.
    pub issuer: String,
    /// PEM file of the certificates whose keys sign tokens (the issuer's, or CAs of the `x5c`
    /// chain tokens carry).
    pub rootcertbundle: Option<PathBuf>,
    /// Build the realm from the request (`<scheme>://<host>/auth/token/`) instead of `realm`.
    pub autoredirect: bool,
}

/// One access rule: `users` may do `actions` on repositories matching `repositories`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRule {
    /// User names from the htpasswd file; `"*"` is every authenticated user.
    pub users: Vec<String>,
    /// Repository name patterns; `*` matches any run of characters, `/` included (`team/*`).
    #[serde(default = "every_repository")]
    pub repositories: Vec<String>,
    /// What the users may do.
    pub actions: Vec<AccessAction>,
}

fn every_repository() -> Vec<String> {
    vec!["*".into()]
}

/// Something a request does, for access rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessAction {
    /// Read manifests, blobs, tags and referrers.
    Pull,
    /// Upload blobs and manifests (implies `pull`: clients check what exists before pushing).
    Push,
    /// Delete manifests, tags and blobs.
    Delete,
    /// List repositories with `/v2/_catalog` (the rule's `repositories` are not consulted).
    Catalog,
    /// All of the above.
    #[serde(rename = "*")]
    All,
}

impl AuthConfig {
    /// Checks the settings that can be checked without touching the filesystem.
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.htpasswd.is_some() && self.token.is_some() {
            return Err(invalid(
                "auth",
                "both htpasswd and token are configured; keep one (unset REGISTRY_AUTH_TOKEN or REGISTRY_AUTH_HTPASSWD)",
            ));
        }
        if let Some(h) = &self.htpasswd {
            check_realm("auth.htpasswd.realm", &h.realm)?;
            if h.path.as_ref().is_none_or(|p| p.as_os_str().is_empty()) {
                return Err(invalid(
                    "auth.htpasswd.path",
                    "is required with htpasswd authentication (REGISTRY_AUTH_HTPASSWD_PATH=/auth/htpasswd, for example)",
                ));
            }
        }
        if let Some(t) = &self.token {
            check_realm("auth.token.realm", &t.realm)?;
            for (key, value) in [
                ("auth.token.realm", &t.realm),
                ("auth.token.service", &t.service),
                ("auth.token.issuer", &t.issuer),
            ] {
                if value.is_empty() && !(key == "auth.token.realm" && t.autoredirect) {
                    return Err(invalid(key, "is required with token authentication"));
                }
            }
            if t.rootcertbundle.is_none() {
                return Err(invalid(
                    "auth.token.rootcertbundle",
                    "is required with token authentication: a PEM file of the token signer's certificates",
                ));
            }
            if !self.access.is_empty() {
                return Err(invalid(
                    "auth.access",
                    "applies to htpasswd users only; with token auth the token server decides access (remove REGISTRY_AUTH_ACCESS)",
                ));
            }
        }
        if !self.access.is_empty() && self.htpasswd.is_none() {
            return Err(invalid(
                "auth.access",
                "needs htpasswd authentication (set REGISTRY_AUTH_HTPASSWD_PATH)",
            ));
        }
        for (i, rule) in self.access.iter().enumerate() {
            if rule.users.is_empty() || rule.repositories.is_empty() || rule.actions.is_empty() {
                return Err((
                    "auth.access",
                    format!(
                        "rule {i} needs non-empty users, repositories and actions, e.g. {{users: [alice], repositories: [\"team/*\"], actions: [pull]}}"
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn check_realm(key: &'static str, realm: &str) -> Result<(), (&'static str, String)> {
    if realm
        .chars()
        .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        return Err(invalid(
            key,
            "must not contain quotes, backslashes or control characters",
        ));
    }
    Ok(())
}

fn invalid(key: &'static str, message: &str) -> (&'static str, String) {
    (key, message.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigError, RegistryEnv};

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load(None, RegistryEnv::from_vars(vars))
    }

    /// The env forms of every auth key land in the typed config, access rules given as one YAML value.
    #[test]
    fn env_forms_reach_auth_config() {
        let c = load(&[
            ("REGISTRY_AUTH", "htpasswd"),
            ("REGISTRY_AUTH_HTPASSWD_PATH", "/auth/htpasswd"),
            ("REGISTRY_AUTH_HTPASSWD_REALM", "Wharf"),
            ("REGISTRY_AUTH_HTPASSWD_ANONYMOUSREAD", "true"),
            (
                "REGISTRY_AUTH_ACCESS",
                r#"[{users: [ci], repositories: ["apps/*"], actions: [pull, push]}, {users: ["*"], actions: ["*"]}]"#,
            ),
        ])
        .unwrap();
        let h = c.auth.htpasswd.unwrap();
        assert_eq!(h.path.unwrap(), PathBuf::from("/auth/htpasswd"));
        assert_eq!(h.realm, "Wharf");
        assert!(h.anonymousread);
        assert_eq!(
            c.auth.access,
            vec![
                AccessRule {
                    users: vec!["ci".into()],
                    repositories: vec!["apps/*".into()],
                    actions: vec![AccessAction::Pull, AccessAction::Push],
                },
                AccessRule {
                    users: vec!["*".into()],
                    repositories: vec!["*".into()],
                    actions: vec![AccessAction::All],
                },
            ]
        );
    }

    /// A bare `REGISTRY_AUTH=htpasswd` selects htpasswd with the default realm; no auth by default.
    #[test]
    fn defaults() {
        assert!(load(&[]).unwrap().auth.htpasswd.is_none());
        let c = load(&[
            ("REGISTRY_AUTH", "htpasswd"),
            ("REGISTRY_AUTH_HTPASSWD_PATH", "/a"),
        ])
        .unwrap();
        assert_eq!(c.auth.htpasswd.unwrap().realm, DEFAULT_REALM);
    }

    /// Each auth misconfiguration stops loading with a message naming the setting.
    #[test]
    fn errors_name_the_setting() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("REGISTRY_AUTH", "htpasswd")], "auth.htpasswd.path"),
            (
                &[
                    ("REGISTRY_AUTH_HTPASSWD_PATH", "/a"),
                    ("REGISTRY_AUTH_HTPASSWD_REALM", "a\"b"),
                ],
                "auth.htpasswd.realm",
            ),
            (
                &[("REGISTRY_AUTH_ACCESS", "[{users: [a], actions: [pull]}]")],
                "auth.access",
            ),
            (
                &[
                    ("REGISTRY_AUTH_HTPASSWD_PATH", "/a"),
                    ("REGISTRY_AUTH_ACCESS", "[{users: [], actions: [pull]}]"),
                ],
                "auth.access",
            ),
            (
                &[
                    ("REGISTRY_AUTH_HTPASSWD_PATH", "/a"),
                    ("REGISTRY_AUTH_TOKEN_REALM", "https://t/token"),
                ],
                "auth",
            ),
            (
                &[("REGISTRY_AUTH_TOKEN_REALM", "https://t/token")],
                "auth.token.service",
            ),
        ];
        for (vars, key) in cases {
            let e = load(vars).unwrap_err().to_string();
            assert!(e.contains(&format!("setting {key} (")), "{vars:?} gave {e}");
        }
    }
}

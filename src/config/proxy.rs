//! `proxy:` settings: a pull-through cache of one upstream registry, in registry:2's shape
//! (`proxy.{remoteurl,username,password,ttl}`), plus Wharf's `proxy.passwordfile`. With `remoteurl`
//! set, every repository is a mirror of the upstream's: pulls fetch what is missing and keep it, pushes
//! and deletes answer 405 `UNSUPPORTED` as in registry:2.
//!
//! Wharf extension: `proxy.upstreams`, several upstreams each under a name prefix (`docker.io/...`,
//! `ghcr.io/...`) beside ordinary repositories, and `proxy.default`, the upstream that names under no
//! prefix fall back to when they are not local repositories (docker's `registry-mirrors`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::duration::GoDuration;

/// `proxy:` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProxyConfig {
    /// Base URL of the upstream registry (`https://registry-1.docker.io`); setting it makes this
    /// registry a pull-through cache of it.
    pub remoteurl: Option<String>,
    /// User name for the upstream (Basic, or exchanged for tokens at its token service).
    pub username: Option<String>,
    /// Password for the upstream.
    pub password: Option<String>,
    /// Wharf extension: a file holding the upstream password (surrounding whitespace ignored),
    /// read once at start; instead of `password`.
    pub passwordfile: Option<PathBuf>,
    /// How long a tag fetched from the upstream is served without asking the upstream again; `0`
    /// asks on every pull (registry:2's tag behaviour). Content fetched by digest never expires.
    pub ttl: GoDuration,
    /// Wharf extension, instead of `remoteurl`: upstreams by name prefix.
    pub upstreams: Vec<UpstreamConfig>,
    /// Wharf extension: the prefix of the upstream that pulls of names under no prefix go to when no
    /// local repository has them (docker's `registry-mirrors` asks for `library/alpine`).
    pub default: Option<String>,
}

/// One entry of `proxy.upstreams`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpstreamConfig {
    /// Repository names starting with this component path (`docker.io`) are this upstream's, with
    /// the prefix removed (`docker.io/library/alpine` is `library/alpine` there). Under `docker.io`,
    /// a one-component name gets Docker Hub's `library/` (`docker.io/alpine`).
    pub prefix: String,
    /// Base URL of the upstream registry.
    pub remoteurl: String,
    /// User name at the upstream.
    pub username: Option<String>,
    /// Password at the upstream.
    pub password: Option<String>,
    /// A file holding the password, instead of `password`.
    pub passwordfile: Option<PathBuf>,
    /// This upstream's tag TTL; unset: `proxy.ttl`.
    pub ttl: Option<GoDuration>,
}

/// One upstream, as the server builds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedUpstream {
    /// The name prefix; `None` for `remoteurl`, which takes every name.
    pub prefix: Option<String>,
    /// Base URL.
    pub url: String,
    /// User name and password, if any.
    pub credentials: Option<(String, String)>,
    /// Tag TTL.
    pub ttl: std::time::Duration,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            remoteurl: None,
            username: None,
            password: None,
            passwordfile: None,
            ttl: GoDuration::hours(168),
            upstreams: Vec::new(),
            default: None,
        }
    }
}

impl ProxyConfig {
    /// Whether `remoteurl` is set (the whole registry mirrors one upstream).
    fn single(&self) -> bool {
        self.remoteurl.as_deref().is_some_and(|u| !u.is_empty())
    }

    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.single() && !self.upstreams.is_empty() {
            return Err((
                "proxy.upstreams",
                "set either proxy.remoteurl (the whole registry mirrors one upstream) or proxy.upstreams, not both".into(),
            ));
        }
        if let Some(url) = self.remoteurl.as_deref().filter(|_| self.single()) {
            check_url("proxy.remoteurl", url)?;
            check_credentials(
                &self.username,
                &self.password,
                &self.passwordfile,
                ("proxy.username", "proxy.passwordfile"),
            )?;
        }
        let mut prefixes: Vec<&str> = Vec::new();
        for upstream in &self.upstreams {
            let prefix = upstream.prefix.as_str();
            if !valid_prefix(prefix) {
                return Err((
                    "proxy.upstreams",
                    format!(
                        "prefix {prefix:?} must be a repository name such as docker.io or ghcr.io"
                    ),
                ));
            }
            if let Some(other) = prefixes.iter().find(|p| nested(p, prefix)) {
                return Err((
                    "proxy.upstreams",
                    format!("prefixes {other:?} and {prefix:?} overlap; each name must have one upstream"),
                ));
            }
            prefixes.push(prefix);
            check_url("proxy.upstreams", &upstream.remoteurl)?;
            check_credentials(
                &upstream.username,
                &upstream.password,
                &upstream.passwordfile,
                ("proxy.upstreams", "proxy.upstreams"),
            )?;
        }
        if let Some(default) = &self.default {
            if !prefixes.contains(&default.as_str()) {
                return Err((
                    "proxy.default",
                    format!("{default:?} is not the prefix of one of proxy.upstreams"),
                ));
            }
        }
        Ok(())
    }

    /// The upstreams to mirror, with their passwords read; empty when none is configured.
    pub fn resolve(&self) -> Result<Vec<ResolvedUpstream>, (&'static str, String)> {
        if let Some(url) = self.remoteurl.as_deref().filter(|_| self.single()) {
            let password = read_password(&self.password, &self.passwordfile, "proxy.passwordfile")?;
            return Ok(vec![ResolvedUpstream {
                prefix: None,
                url: url.to_string(),
                credentials: self.username.clone().zip(password),
                ttl: self.ttl.get(),
            }]);
        }
        self.upstreams
            .iter()
            .map(|u| {
                let password = read_password(&u.password, &u.passwordfile, "proxy.upstreams")?;
                Ok(ResolvedUpstream {
                    prefix: Some(u.prefix.clone()),
                    url: u.remoteurl.clone(),
                    credentials: u.username.clone().zip(password),
                    ttl: u.ttl.unwrap_or(self.ttl).get(),
                })
            })
            .collect()
    }
}

/// Whether `prefix` has the shape of a repository name: `/`-separated components of lower-case
/// letters and digits, joined inside by `.`, `_` or `-` (the registry checks the exact grammar).
fn valid_prefix(prefix: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !prefix.is_empty()
        && prefix.split('/').all(|c| {
            c.starts_with(alnum)
                && c.ends_with(alnum)
                && c.chars().all(|x| alnum(x) || matches!(x, '.' | '_' | '-'))
        })
}

/// Whether one prefix is the other or contains it as whole components.
fn nested(a: &str, b: &str) -> bool {
    let under = |x: &str, y: &str| x == y || x.starts_with(&format!("{y}/"));
    under(a, b) || under(b, a)
}

fn check_url(key: &'static str, url: &str) -> Result<(), (&'static str, String)> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(_) => Err((
            key,
            format!("{url:?} must be an http:// or https:// URL with a host"),
        )),
        Err(e) => Err((key, format!("{url:?} is not a URL: {e}"))),
    }
}

fn check_credentials(
    username: &Option<String>,
    password: &Option<String>,
    passwordfile: &Option<PathBuf>,
    (user_key, file_key): (&'static str, &'static str),
) -> Result<(), (&'static str, String)> {
    if password.is_some() && passwordfile.is_some() {
        return Err((
            file_key,
            "set either password or passwordfile, not both".into(),
        ));
    }
    if username.is_some() != (password.is_some() || passwordfile.is_some()) {
        return Err((
            user_key,
            "the upstream's user name and password (or passwordfile) go together: set both or neither"
                .into(),
        ));
    }
    Ok(())
}

/// `password`, or the content of `passwordfile` (surrounding whitespace removed).
fn read_password(
    password: &Option<String>,
    passwordfile: &Option<PathBuf>,
    key: &'static str,
) -> Result<Option<String>, (&'static str, String)> {
    if let Some(p) = password {
        return Ok(Some(p.clone()));
    }
    match passwordfile {
        None => Ok(None),
        Some(path) => std::fs::read_to_string(path)
            .map(|s| Some(s.trim().to_string()))
            .map_err(|e| (key, format!("cannot read {}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The URL must be http(s) with a host; user and password come together; one password source.
    #[test]
    fn validation() {
        let ok = ProxyConfig {
            remoteurl: Some("https://registry-1.docker.io".into()),
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
        assert!(ProxyConfig::default().validate().is_ok());
        let bad = ProxyConfig {
            remoteurl: Some("registry-1.docker.io".into()),
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "proxy.remoteurl");
        let half = ProxyConfig {
            username: Some("u".into()),
            ..ok.clone()
        };
        assert_eq!(half.validate().unwrap_err().0, "proxy.username");
        let both = ProxyConfig {
            username: Some("u".into()),
            password: Some("p".into()),
            passwordfile: Some("/p".into()),
            ..ok
        };
        assert_eq!(both.validate().unwrap_err().0, "proxy.passwordfile");
    }

    /// Upstreams need valid, non-overlapping prefixes; the default names one of them; they exclude
    /// `remoteurl`; each takes `proxy.ttl` unless it has its own.
    #[test]
    fn upstreams() {
        let hub = UpstreamConfig {
            prefix: "docker.io".into(),
            remoteurl: "https://registry-1.docker.io".into(),
            ..Default::default()
        };
        let ghcr = UpstreamConfig {
            prefix: "ghcr.io".into(),
            remoteurl: "https://ghcr.io".into(),
            ttl: Some(GoDuration::secs(60)),
            ..Default::default()
        };
        let ok = ProxyConfig {
            upstreams: vec![hub.clone(), ghcr.clone()],
            default: Some("docker.io".into()),
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
        let resolved = ok.resolve().unwrap();
        assert_eq!(resolved[0].ttl.as_secs(), 168 * 3600);
        assert_eq!(resolved[1].ttl.as_secs(), 60);
        assert_eq!(resolved[1].prefix.as_deref(), Some("ghcr.io"));
        let cases = [
            (
                vec![
                    hub.clone(),
                    UpstreamConfig {
                        prefix: "docker.io/library".into(),
                        ..hub.clone()
                    },
                ],
                None,
                "proxy.upstreams",
            ),
            (
                vec![UpstreamConfig {
                    prefix: "Docker.io".into(),
                    ..hub.clone()
                }],
                None,
                "proxy.upstreams",
            ),
            (
                vec![UpstreamConfig {
                    remoteurl: "ftp://x".into(),
                    ..hub.clone()
                }],
                None,
                "proxy.upstreams",
            ),
            (vec![hub.clone()], Some("quay.io"), "proxy.default"),
        ];
        for (upstreams, default, key) in cases {
            let config = ProxyConfig {
                upstreams,
                default: default.map(String::from),
                ..Default::default()
            };
            assert_eq!(config.validate().unwrap_err().0, key);
        }
        let both = ProxyConfig {
            remoteurl: Some("https://registry-1.docker.io".into()),
            ..ok
        };
        assert_eq!(both.validate().unwrap_err().0, "proxy.upstreams");
    }
}

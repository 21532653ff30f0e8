//! Every configuration key Wharf recognises, and what it does with each: implemented, accepted because
//! Wharf does not need it, or accepted with a warning because it is not implemented yet. Keys that do
//! not exist at all are an error naming the closest valid key.
//!
//! Patterns: `a.b` is one key; `a.*` is any one key under `a` (a map such as `http.headers`); `a.**` is
//! anything under `a`.

use super::sources::Layers;
use super::ConfigError;

/// How Wharf treats a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// The key works as documented.
    Implemented,
    /// Accepted silently: Wharf needs no such setting (the docs say why).
    Unneeded,
    /// Accepted, with a warning that it has no effect yet.
    NotYet,
    /// Not implemented yet, and ignoring it would be unsafe (serving without the TLS, authentication
    /// or storage asked for): start-up stops with an error.
    Refused,
}

use Support::{Implemented, NotYet, Refused, Unneeded};

/// The known keys.
pub const KEYS: &[(&str, Support)] = &[
    ("version", Implemented),
    ("log.level", Implemented),
    ("log.formatter", Implemented),
    ("log.fields.*", Implemented),
    ("loglevel", Implemented),
    ("log.accesslog.disabled", NotYet),
    ("log.hooks", NotYet),
    ("log.reportcaller", NotYet),
    ("http.addr", Implemented),
    ("http.net", Implemented),
    ("http.prefix", Implemented),
    ("http.host", Implemented),
    ("http.secret", Unneeded),
    ("http.relativeurls", Implemented),
    ("http.headers.*", Implemented),
    ("http.draintimeout", Implemented),
    ("http.timeouts.header", Implemented),
    ("http.timeouts.idle", Implemented),
    ("http.maxconnections", Implemented),
    ("http.trustedproxies", Implemented),
    ("http.tls.certificate", Implemented),
    ("http.tls.key", Implemented),
    ("http.tls.clientcas", Implemented),
    ("http.tls.clientauth", Implemented),
    ("http.tls.minimumtls", Implemented),
    ("http.tls.ciphersuites", NotYet),
    ("http.tls.letsencrypt.cachefile", Implemented),
    ("http.tls.letsencrypt.email", Implemented),
    ("http.tls.letsencrypt.hosts", Implemented),
    ("http.tls.letsencrypt.directoryurl", Implemented),
    ("http.http2.disabled", Implemented),
    ("http.h2c.enabled", NotYet),
    ("http.debug.addr", Implemented),
    ("http.debug.prometheus.enabled", Implemented),
    ("http.debug.prometheus.path", Implemented),
    ("http.debug.prometheus.usageinterval", Implemented),
    ("storage.filesystem.rootdirectory", Implemented),
    ("storage.filesystem.maxthreads", Unneeded),
    ("storage.inmemory", Implemented),
    ("storage.delete.enabled", Implemented),
    ("storage.redirect.disable", Implemented),
    ("storage.cache.**", Unneeded),
    ("storage.tag.concurrencylimit", Unneeded),
    ("storage.maintenance.uploadpurging.enabled", Implemented),
    ("storage.maintenance.uploadpurging.age", Implemented),
    ("storage.maintenance.uploadpurging.interval", Implemented),
    ("storage.maintenance.uploadpurging.dryrun", Implemented),
    ("storage.maintenance.readonly.enabled", Implemented),
    ("storage.gc.interval", Implemented),
    ("storage.gc.graceperiod", Implemented),
    ("storage.gc.deleteuntagged", Implemented),
    ("storage.gc.dryrun", Implemented),
    ("storage.gc.settleperiod", Implemented),
    ("storage.gc.cpupercent", Implemented),
    ("storage.s3.accesskey", Implemented),
    ("storage.s3.secretkey", Implemented),
    ("storage.s3.region", Implemented),
    ("storage.s3.regionendpoint", Implemented),
    ("storage.s3.bucket", Implemented),
    ("storage.s3.rootdirectory", Implemented),
    ("storage.s3.secure", Implemented),
    ("storage.s3.skipverify", Implemented),
    ("storage.s3.v4auth", Implemented),
    ("storage.s3.chunksize", Implemented),
    ("storage.s3.forcepathstyle", Implemented),
    ("storage.s3.storageclass", Implemented),
    ("storage.s3.encrypt", Implemented),
    ("storage.s3.keyid", Implemented),
    ("storage.s3.sessiontoken", Implemented),
    ("storage.s3.accelerate", Implemented),
    ("storage.s3.multipartcopychunksize", Unneeded),
    ("storage.s3.multipartcopymaxconcurrency", Unneeded),
    ("storage.s3.multipartcopythresholdsize", Unneeded),
    ("storage.s3.useragent", Implemented),
    ("storage.s3.usedualstack", Implemented),
    ("storage.s3.usefipsendpoint", Implemented),
    ("storage.s3.objectacl", Implemented),
    ("storage.s3.loglevel", Unneeded),
    ("storage.s3.redirectendpoint", Implemented),
    ("storage.azure.**", Refused),
    ("storage.gcs.**", Refused),
    ("storage.swift.**", Refused),
    ("storage.oss.**", Refused),
    ("auth.htpasswd.path", Implemented),
    ("auth.htpasswd.realm", Implemented),
    ("auth.htpasswd.anonymousread", Implemented),
    ("auth.access", Implemented),
    ("auth.token.realm", Implemented),
    ("auth.token.service", Implemented),
    ("auth.token.issuer", Implemented),
    ("auth.token.rootcertbundle", Implemented),
    ("auth.token.autoredirect", Implemented),
    ("auth.token.autoredirectpath", NotYet),
    ("auth.token.jwks", NotYet),
    ("auth.token.signingalgorithms", NotYet),
    ("auth.silly.**", Refused),
    ("catalog.maxentries", Implemented),
    ("tags.maxtags", NotYet),
    ("validation.**", NotYet),
    ("health.storagedriver.enabled", Implemented),
    ("health.storagedriver.interval", Implemented),
    ("health.storagedriver.threshold", Implemented),
    ("health.file", NotYet),
    ("health.http", NotYet),
    ("health.tcp", NotYet),
    ("ui.enabled", Implemented),
    ("ui.path", Implemented),
    ("ui.title", Implemented),
    ("ui.deleteimages", Implemented),
    ("ui.pullurl", Implemented),
    ("ui.theme", Implemented),
    ("notifications.endpoints", Implemented),
    ("retention.schedule", Implemented),
    ("retention.dryrun", Implemented),
    ("retention.trashperiod", Implemented),
    ("retention.policies", Implemented),
    ("quotas", Implemented),
    ("notifications.events.**", NotYet),
    ("middleware.**", NotYet),
    ("reporting.**", NotYet),
    ("redis.**", NotYet),
    ("proxy.remoteurl", Implemented),
    ("proxy.username", Implemented),
    ("proxy.password", Implemented),
    ("proxy.passwordfile", Implemented),
    ("proxy.ttl", Implemented),
    ("proxy.upstreams", Implemented),
    ("proxy.default", Implemented),
    ("proxy.exec.**", NotYet),
    ("proxy.cachewritetimeout", Unneeded),
    ("compatibility.**", NotYet),
    ("policy.**", NotYet),
];

/// The support of the key matching `path`, if any. More specific patterns win. A known section given
/// empty (`REGISTRY_AUTH=htpasswd` selects `auth.htpasswd` with no parameters) is valid as such.
pub fn lookup(path: &str) -> Option<Support> {
    let matched = KEYS
        .iter()
        .filter(|(pattern, _)| matches(pattern, path))
        .max_by_key(|(pattern, _)| pattern.len())
        .map(|(_, s)| *s);
    matched.or_else(|| {
        KEYS.iter()
            .any(|(pattern, _)| pattern.starts_with(&format!("{path}.")))
            .then_some(Implemented)
    })
}

fn matches(pattern: &str, path: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix(".**") {
        return path == prefix || path.starts_with(&format!("{prefix}."));
    }
    if let Some(prefix) = pattern.strip_suffix(".*") {
        // The map itself (empty or absent entries) or exactly one key below it.
        return path == prefix
            || path
                .strip_prefix(&format!("{prefix}."))
                .is_some_and(|rest| !rest.contains('.'));
    }
    pattern == path
}

/// Whether the first component of `path` is a known top-level section.
fn is_section(path: &str) -> bool {
    let first = path.split('.').next().unwrap_or(path);
    KEYS.iter().any(|(p, _)| p.split('.').next() == Some(first))
}

/// The known key closest in spelling to `path`.
fn closest(path: &str) -> &'static str {
    KEYS.iter()
        .map(|(p, _)| p.trim_end_matches(".**").trim_end_matches(".*"))
        .min_by_key(|p| strsim::levenshtein(p, path))
        .unwrap_or("version")
}

/// Checks every key present in the file and environment. Unknown keys are an error; keys not
/// implemented yet are returned as warnings to log.
pub fn check(layers: &Layers) -> Result<Vec<String>, ConfigError> {
    let mut warnings = Vec::new();
    for leaf in layers.leaves() {
        let origin = layers
            .origin(&leaf)
            .map(|o| o.to_string())
            .unwrap_or_else(|| "defaults".into());
        let env_origin = matches!(layers.origin(&leaf), Some(super::sources::Origin::Env(_)));
        match lookup(&leaf) {
            // Variables such as Kubernetes' REGISTRY_SERVICE_HOST (for a Service named `registry`) or
            // joxit's REGISTRY_TITLE share the prefix without being settings: ignored, as registry:2 does.
            None if env_origin && !is_section(&leaf) => warnings.push(format!(
                "ignoring {origin}: not a registry setting"
            )),
            None => {
                return Err(ConfigError::Invalid {
                    key: leaf.clone(),
                    origin,
                    message: format!(
                        "no such setting; did you mean `{}`? (see docs/configuration.md)",
                        closest(&leaf)
                    ),
                })
            }
            Some(NotYet) => warnings.push(format!(
                "setting {leaf} (from {origin}) is accepted for compatibility with registry:2 but Wharf does not implement it yet; it has no effect"
            )),
            Some(Refused) => {
                return Err(ConfigError::Invalid {
                    key: leaf.clone(),
                    origin,
                    message: "Wharf does not implement this setting yet, and serving without it would be unsafe; remove it, or keep registry:2 for this deployment".into(),
                })
            }
            Some(Implemented | Unneeded) => {}
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, FilesystemConfig};

    fn leaves(prefix: &str, v: &serde_yaml::Value, out: &mut Vec<String>) {
        match v {
            serde_yaml::Value::Mapping(m) if !m.is_empty() => {
                for (k, v) in m {
                    let k = k.as_str().expect("string keys");
                    let path = if prefix.is_empty() {
                        k.to_string()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(&path, v, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }

    /// Every field of the typed configuration is a known key, and every implemented key
    /// that is not a map pattern is a field of the typed configuration.
    #[test]
    fn table_matches_struct() {
        let mut example = Config::default();
        example.storage.filesystem = Some(FilesystemConfig::default());
        example.storage.inmemory = Some(Default::default());
        example.storage.s3 = Some(Default::default());
        example.auth.htpasswd = Some(Default::default());
        example.auth.token = Some(Default::default());
        example.http.tls.letsencrypt = Some(Default::default());
        let mut fields = Vec::new();
        leaves("", &serde_yaml::to_value(&example).unwrap(), &mut fields);
        for field in &fields {
            assert!(
                lookup(field).is_some(),
                "config field {field} is missing from KEYS or not marked implemented"
            );
        }
        for (pattern, support) in KEYS {
            if *support != Implemented {
                continue;
            }
            let field = pattern.trim_end_matches(".**").trim_end_matches(".*");
            assert!(
                fields.iter().any(|f| f == field),
                "KEYS has {pattern} but Config has no field {field}"
            );
        }
    }

    /// Keys resolve to the most specific pattern; typos suggest the nearest real key.
    #[test]
    fn lookup_table() {
        let cases = [
            ("http.addr", Some(Implemented)),
            ("http.headers.x-frame-options", Some(Implemented)),
            ("http.headers.a.b", None),
            ("storage.cache.blobdescriptor", Some(Unneeded)),
            ("storage.s3.bucket", Some(Implemented)),
            ("storage.s3.accelerate", Some(Implemented)),
            ("storage.s3.multipartcopychunksize", Some(Unneeded)),
            ("storage.azure.accountname", Some(Refused)),
            ("health.storagedriver.enabled", Some(Implemented)),
            ("health.file", Some(NotYet)),
            ("storage.inmemory", Some(Implemented)),
            ("http.adr", None),
            ("auth.htpasswd", Some(Implemented)),
            ("storage.filesystem", Some(Implemented)),
            ("nonsense", None),
        ];
        for (path, want) in cases {
            assert_eq!(lookup(path), want, "{path}");
        }
        assert_eq!(closest("http.adr"), "http.addr");
        assert_eq!(closest("storage.delete.enable"), "storage.delete.enabled");
        assert_eq!(closest("catalog.maxentry"), "catalog.maxentries");
    }
}

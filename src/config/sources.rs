//! The raw configuration tree before typing: the `config.yml` document with `REGISTRY_*` variables
//! applied on top by distribution's algorithm, plus where every value came from.
//!
//! Environment semantics (distribution's `configuration/parser.go`, with its crashes fixed):
//! - variables are applied in lexical order of their names, so a parent comes before its children;
//! - the name after `REGISTRY_` splits on `_` into a key path, matched case-insensitively and stored
//!   lower-case (`REGISTRY_HTTP_HEADERS_X-Frame-Options` → `http.headers.x-frame-options`);
//! - the value is parsed as YAML (`true`, `5000`, `[a, b]`, `{k: v}`), and replaces what was there;
//! - a numeric segment indexes a list (`REGISTRY_NOTIFICATIONS_ENDPOINTS_0_URL`), appending at its end;
//! - `REGISTRY_STORAGE=<driver>` / `REGISTRY_AUTH=<provider>` select a type with no parameters,
//!   replacing the other drivers or providers but keeping shared settings such as `storage.delete`;
//! - Go field names that differ from YAML keys are accepted (`HEALTH_FILECHECKERS` → `health.file`).
//!
//! Why this merge is not a figment `Provider`. figment still does the typing: the merged tree is
//! handed to it as one layer over the defaults (`Config::load_with_sources`). But none of the rules
//! above is a merge figment can express: its `Env` provider nests by splitting on a separator and
//! merges key by key, so it cannot replace a whole subtree (a YAML value, a driver chosen by
//! `REGISTRY_STORAGE` that must drop the other drivers but keep `storage.delete`), index into a list
//! by a numeric segment, match case-insensitively against the file's keys, keep a header name's
//! dashes, or take Go's field aliases; and registry:2 applies variables in lexical order, which
//! decides what a parent variable replaces. A provider would have to hold this same algorithm. The
//! origin of each value is recorded here as it is applied (file or variable), which is what
//! `wharf config` prints and what errors found after loading name (`Config::invalid`); figment's
//! metadata would only know "one layer".

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use figment::value::{Dict, Value};

use super::ConfigError;

/// Variables with this prefix configure the registry.
const PREFIX: &str = "REGISTRY_";
/// Variables with the prefix that are not settings.
const NOT_SETTINGS: [&str; 1] = ["REGISTRY_CONFIGURATION_PATH"];
/// Keys under `storage` that are not drivers, kept when `REGISTRY_STORAGE` selects a driver.
const STORAGE_SHARED: [&str; 6] = ["delete", "maintenance", "redirect", "cache", "tag", "gc"];
/// Keys under `auth` that are not providers, kept when `REGISTRY_AUTH` selects a provider.
const AUTH_SHARED: [&str; 1] = ["access"];
/// Go field names distribution matches in env vars where the YAML key differs: (parent, alias, key).
const ALIASES: [(&str, &str, &str); 6] = [
    ("health", "filecheckers", "file"),
    ("health", "httpcheckers", "http"),
    ("health", "tcpcheckers", "tcp"),
    ("notifications", "eventconfig", "events"),
    ("compatibility.schema1", "trustkey", "signingkeyfile"),
    ("log.hooks.*", "mailoptions", "options"),
];

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The configuration file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Env(v) => write!(f, "environment variable {v}"),
        }
    }
}

/// Where the value at `path` (dotted) came from, in `origins` (recorded leaves): the nearest recorded
/// origin at or above it, or of a leaf below it. `None` means the built-in default.
pub fn nearest_origin<'a>(origins: &'a BTreeMap<String, Origin>, path: &str) -> Option<&'a Origin> {
    let mut p = path;
    loop {
        if let Some(o) = origins.get(p) {
            return Some(o);
        }
        if let Some(o) = origins
            .range(format!("{p}.")..)
            .next()
            .filter(|(k, _)| k.starts_with(&format!("{p}.")))
        {
            return Some(o.1);
        }
        p = p.rsplit_once('.')?.0;
    }
}

/// The `REGISTRY_*` variables of an environment, sorted by name.
#[derive(Debug, Clone, Default)]
pub struct RegistryEnv {
    vars: Vec<(String, String)>,
}

impl RegistryEnv {
    /// The variables of this process.
    pub fn from_process() -> Self {
        Self::from_vars(std::env::vars())
    }

    /// The given variables (those without the prefix are ignored).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut vars: Vec<_> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with(PREFIX) && !NOT_SETTINGS.contains(&k.as_str()))
            .collect();
        vars.sort();
        RegistryEnv { vars }
    }
}

/// The configuration tree and the origin of every value in it.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    tree: Dict,
    origins: BTreeMap<String, Origin>,
}

impl Layers {
    /// The tree of a `config.yml`.
    pub fn from_file(path: &Path) -> Result<Layers, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::Load(format!(
                "cannot read config file {}: {e}; pass an existing config.yml, or none for the defaults",
                path.display()
            ))
        })?;
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text)
            .map_err(|e| ConfigError::Load(format!("{} is not valid YAML: {e}", path.display())))?;
        let tree = match to_figment(&yaml) {
            Value::Dict(_, d) => d,
            _ if yaml.is_null() => Dict::new(),
            _ => {
                return Err(ConfigError::Load(format!(
                    "{} must be a YAML mapping such as `version: 0.1`",
                    path.display()
                )))
            }
        };
        let mut layers = Layers {
            tree,
            origins: BTreeMap::new(),
        };
        let origin = Origin::File(path.to_path_buf());
        for leaf in leaf_paths(&layers.tree) {
            layers.origins.insert(leaf, origin.clone());
        }
        Ok(layers)
    }

    /// Applies `REGISTRY_*` variables on top, in order.
    pub fn apply_env(&mut self, env: &RegistryEnv) {
        for (name, raw) in &env.vars {
            let mut path: Vec<String> = name[PREFIX.len()..]
                .split('_')
                .map(str::to_ascii_lowercase)
                .collect();
            if path.iter().any(String::is_empty) || path[0] == "version" {
                tracing::warn!("ignoring environment variable {name}: not a setting name");
                continue;
            }
            resolve_aliases(&mut path);
            let yaml: serde_yaml::Value = serde_yaml::from_str(raw)
                .unwrap_or_else(|_| serde_yaml::Value::String(raw.clone()));
            let mut value = to_figment(&yaml);
            let mut dotted = path.join(".");
            if path.len() == 1 {
                let shared: &[&str] = match path[0].as_str() {
                    "storage" => &STORAGE_SHARED,
                    "auth" => &AUTH_SHARED,
                    _ => &[],
                };
                if let (false, Some(kind)) = (
                    shared.is_empty(),
                    value.as_str().map(str::to_ascii_lowercase),
                ) {
                    let mut selected = match self.tree.remove(&path[0]) {
                        Some(Value::Dict(_, d)) => d,
                        _ => Dict::new(),
                    };
                    selected.retain(|k, _| shared.contains(&k.as_str()));
                    let parent = dotted.clone();
                    self.origins.retain(|k, _| {
                        k.strip_prefix(&format!("{parent}.")).is_none_or(|rest| {
                            shared
                                .iter()
                                .any(|s| rest == *s || rest.starts_with(&format!("{s}.")))
                        })
                    });
                    selected.insert(kind.clone(), Value::from(Dict::new()));
                    self.tree.insert(parent.clone(), Value::from(selected));
                    dotted = format!("{parent}.{kind}");
                    path.push(kind);
                    value = Value::from(Dict::new());
                }
            }
            // The new value replaces the subtree at `dotted`, and its ancestors are no longer leaves.
            self.origins.retain(|k, _| {
                k != &dotted
                    && !k.starts_with(&format!("{dotted}."))
                    && !dotted.starts_with(&format!("{k}."))
            });
            for leaf in leaf_paths_of(&dotted, &value) {
                self.origins.insert(leaf, Origin::Env(name.clone()));
            }
            if !insert(&mut self.tree, &path, value) {
                tracing::warn!("ignoring environment variable {name}: its path does not fit the configuration's lists");
            }
        }
    }

    /// The tree, for figment.
    pub fn tree(&self) -> &Dict {
        &self.tree
    }

    /// Where the value at `path` (dotted) came from: the nearest recorded origin at or above it.
    /// `None` means the built-in default.
    pub fn origin(&self, path: &str) -> Option<&Origin> {
        nearest_origin(&self.origins, path)
    }

    /// Every recorded leaf and its origin, sorted by path.
    pub fn origins(&self) -> &BTreeMap<String, Origin> {
        &self.origins
    }

    /// Replaces the number or boolean at `path` with its text. Returns false when there is none, so
    /// callers retrying an extraction cannot loop.
    pub fn stringify(&mut self, path: &[String]) -> bool {
        let mut current: Option<&mut Value> = None;
        for (i, key) in path.iter().enumerate() {
            current = match (i, current) {
                (0, _) => self.tree.get_mut(key),
                (_, Some(Value::Dict(_, d))) => d.get_mut(key),
                (_, Some(Value::Array(_, items))) => {
                    key.parse::<usize>().ok().and_then(|n| items.get_mut(n))
                }
                _ => None,
            };
        }
        let text = match current.as_deref() {
            Some(Value::Num(_, n)) => match n.to_u128() {
                Some(u) => u.to_string(),
                None => n
                    .to_i128()
                    .map(|i| i.to_string())
                    .or_else(|| n.to_f64().map(|f| f.to_string()))
                    .unwrap_or_default(),
            },
            Some(Value::Bool(_, b)) => b.to_string(),
            _ => return false,
        };
        if let Some(v) = current {
            *v = Value::from(text);
        }
        true
    }

    /// Dotted paths of every leaf of the tree (scalars, lists, empty maps).
    pub fn leaves(&self) -> Vec<String> {
        leaf_paths(&self.tree)
    }
}

fn resolve_aliases(path: &mut [String]) {
    for i in 1..path.len() {
        let parent = path[..i].join(".");
        for (at, alias, key) in ALIASES {
            let parent_matches = match at.strip_suffix(".*") {
                Some(prefix) => parent.rsplit_once('.').is_some_and(|(p, _)| p == prefix),
                None => parent == at,
            };
            if parent_matches && path[i] == alias {
                path[i] = key.to_string();
            }
        }
    }
}

/// Converts YAML to figment's value type, with map keys as strings.
fn to_figment(yaml: &serde_yaml::Value) -> Value {
    match yaml {
        serde_yaml::Value::Mapping(m) => {
            let dict = m
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        serde_yaml::Value::String(s) => s.clone(),
                        other => serde_yaml::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    (key, to_figment(v))
                })
                .collect::<Dict>();
            Value::from(dict)
        }
        serde_yaml::Value::Sequence(s) => Value::from(s.iter().map(to_figment).collect::<Vec<_>>()),
        serde_yaml::Value::Tagged(t) => to_figment(&t.value),
        other => Value::serialize(other).unwrap_or_else(|_| Value::from(String::new())),
    }
}

fn leaf_paths(tree: &Dict) -> Vec<String> {
    tree.iter().flat_map(|(k, v)| leaf_paths_of(k, v)).collect()
}

fn leaf_paths_of(prefix: &str, value: &Value) -> Vec<String> {
    match value {
        Value::Dict(_, d) if !d.is_empty() => d
            .iter()
            .flat_map(|(k, v)| leaf_paths_of(&format!("{prefix}.{k}"), v))
            .collect(),
        _ => vec![prefix.to_string()],
    }
}

/// Sets `path` to `value`, replacing what was there and creating maps (or lists, before a numeric key).
/// Returns false when the path indexes past the end of a list.
fn insert(dict: &mut Dict, path: &[String], value: Value) -> bool {
    let (first, rest) = path
        .split_first()
        .expect("a setting path has at least one key");
    if rest.is_empty() {
        dict.insert(first.clone(), value);
        return true;
    }
    let child = dict
        .entry(first.clone())
        .or_insert_with(|| empty_container(&rest[0]));
    insert_into(child, rest, value)
}

fn empty_container(next: &str) -> Value {
    if next.parse::<usize>().is_ok() {
        Value::from(Vec::<Value>::new())
    } else {
        Value::from(Dict::new())
    }
}

fn insert_into(container: &mut Value, path: &[String], value: Value) -> bool {
    match container {
        Value::Dict(_, d) => insert(d, path, value),
        Value::Array(_, items) => {
            let Ok(index) = path[0].parse::<usize>() else {
                return false;
            };
            if index > items.len() {
                return false;
            }
            if index == items.len() {
                items.push(match path.get(1) {
                    Some(next) => empty_container(next),
                    None => Value::from(Dict::new()),
                });
            }
            if path.len() == 1 {
                items[index] = value;
                true
            } else {
                insert_into(&mut items[index], &path[1..], value)
            }
        }
        other => {
            *other = empty_container(&path[0]);
            insert_into(other, path, value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(file: Option<&str>, vars: &[(&str, &str)]) -> Layers {
        let mut l = match file {
            Some(text) => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("config.yml");
                std::fs::write(&path, text).unwrap();
                Layers::from_file(&path).unwrap()
            }
            None => Layers::default(),
        };
        l.apply_env(&RegistryEnv::from_vars(
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        ));
        l
    }

    fn at<'a>(l: &'a Layers, path: &str) -> Option<&'a Value> {
        let mut v: Option<&Value> = None;
        let mut dict = Some(l.tree());
        for key in path.split('.') {
            v = match (dict, v) {
                (Some(d), _) => d.get(key),
                (None, Some(Value::Array(_, items))) => {
                    key.parse::<usize>().ok().and_then(|i| items.get(i))
                }
                _ => None,
            };
            dict = v.and_then(Value::as_dict);
        }
        v
    }

    /// Env variables map to lower-case key paths with YAML-typed values, after the file's values.
    #[test]
    fn env_table() {
        let l = layers(
            Some("version: 0.1\nhttp:\n  addr: :5000\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\n  delete:\n    enabled: false\n"),
            &[
                ("REGISTRY_HTTP_ADDR", "0.0.0.0:5001"),
                ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
                ("REGISTRY_CATALOG_MAXENTRIES", "50"),
                ("REGISTRY_HTTP_HEADERS_Access-Control-Allow-Origin", "[https://a, https://b]"),
                ("REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED", "true"),
                ("REGISTRY_HEALTH_FILECHECKERS_0_FILE", "/tmp/down"),
                ("REGISTRY_NOTIFICATIONS_ENDPOINTS_0_NAME", "hook"),
                ("REGISTRY_NOTIFICATIONS_ENDPOINTS_0_URL", "http://x"),
                ("REGISTRY_NOTIFICATIONS_ENDPOINTS_5_URL", "http://too-far"),
                ("REGISTRY_CONFIGURATION_PATH", "/etc/x.yml"),
                ("OTHER", "x"),
            ],
        );
        assert_eq!(
            at(&l, "http.addr").and_then(Value::as_str),
            Some("0.0.0.0:5001")
        );
        assert_eq!(
            at(&l, "storage.delete.enabled").and_then(Value::to_bool),
            Some(true)
        );
        assert_eq!(
            at(&l, "storage.filesystem.rootdirectory").and_then(Value::as_str),
            Some("/var/lib/registry")
        );
        assert_eq!(
            at(&l, "catalog.maxentries").and_then(Value::to_u128),
            Some(50)
        );
        let origins = at(&l, "http.headers.access-control-allow-origin")
            .and_then(Value::as_array)
            .unwrap();
        assert_eq!(origins.len(), 2);
        assert_eq!(
            at(&l, "storage.maintenance.readonly.enabled").and_then(Value::to_bool),
            Some(true)
        );
        assert_eq!(
            at(&l, "health.file.0.file").and_then(Value::as_str),
            Some("/tmp/down")
        );
        assert_eq!(
            at(&l, "notifications.endpoints.0.url").and_then(Value::as_str),
            Some("http://x")
        );
        assert!(at(&l, "notifications.endpoints.5").is_none());
        assert!(l.tree().get("configuration").is_none());
        assert_eq!(
            l.origin("http.addr"),
            Some(&Origin::Env("REGISTRY_HTTP_ADDR".into()))
        );
        assert!(matches!(
            l.origin("storage.filesystem.rootdirectory"),
            Some(Origin::File(_))
        ));
        assert_eq!(l.origin("log.level"), None);
    }

    /// `REGISTRY_STORAGE=<driver>` replaces the file's driver but keeps shared storage settings, and
    /// later variables fill the new driver in.
    #[test]
    fn driver_selection() {
        let l = layers(
            Some("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /data\n  delete:\n    enabled: true\n"),
            &[("REGISTRY_STORAGE", "s3"), ("REGISTRY_STORAGE_S3_BUCKET", "b")],
        );
        assert!(at(&l, "storage.filesystem").is_none());
        assert_eq!(
            at(&l, "storage.s3.bucket").and_then(Value::as_str),
            Some("b")
        );
        assert_eq!(
            at(&l, "storage.delete.enabled").and_then(Value::to_bool),
            Some(true)
        );
        assert_eq!(
            l.origin("storage.s3.bucket"),
            Some(&Origin::Env("REGISTRY_STORAGE_S3_BUCKET".into()))
        );
        assert!(matches!(
            l.origin("storage.delete.enabled"),
            Some(Origin::File(_))
        ));
        assert!(!l.origins().contains_key("storage.s3"), "no longer a leaf");
    }

    /// A parent variable replaces the whole subtree it names (the working form of distribution #1736).
    #[test]
    fn parent_replaces_subtree() {
        let l = layers(
            Some(
                "version: 0.1\nstorage:\n  maintenance:\n    uploadpurging:\n      enabled: true\n",
            ),
            &[(
                "REGISTRY_STORAGE_MAINTENANCE",
                "{readonly: {enabled: true}}",
            )],
        );
        assert!(at(&l, "storage.maintenance.uploadpurging").is_none());
        assert_eq!(
            at(&l, "storage.maintenance.readonly.enabled").and_then(Value::to_bool),
            Some(true)
        );
    }
}

//! The `REGISTRY_*` environment provider, following distribution's override algorithm: variables are
//! applied in lexical order, the name after `REGISTRY_` is split on `_` into a path of keys (lower-cased,
//! as `config.yml` spells them), and the value is parsed as YAML (`true`, `[a, b]`, `{k: v}`, `5000`).
//! A bare `REGISTRY_STORAGE=<driver>` selects a driver with no parameters.

use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

/// Variables with this prefix configure the registry.
const PREFIX: &str = "REGISTRY_";
/// Variables with the prefix that are not settings.
const NOT_SETTINGS: [&str; 1] = ["REGISTRY_CONFIGURATION_PATH"];
/// Settings that accept a bare string naming a type (`REGISTRY_STORAGE=filesystem`).
const TYPE_SELECTORS: [&str; 2] = ["storage", "auth"];

/// The `REGISTRY_*` variables of an environment.
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

    /// The configuration tree the variables describe.
    pub fn to_dict(&self) -> Result<Dict, Error> {
        let mut root = Dict::new();
        for (name, raw) in &self.vars {
            let path: Vec<String> = name[PREFIX.len()..]
                .split('_')
                .map(|s| s.to_ascii_lowercase())
                .collect();
            if path.iter().any(String::is_empty) {
                continue;
            }
            let yaml: serde_yaml::Value = serde_yaml::from_str(raw)
                .unwrap_or_else(|_| serde_yaml::Value::String(raw.clone()));
            let mut value =
                Value::serialize(&yaml).map_err(|e| Error::from(format!("{name}: {e}")))?;
            if path.len() == 1 && TYPE_SELECTORS.contains(&path[0].as_str()) {
                if let Some(kind) = value.as_str() {
                    let mut selected = Dict::new();
                    selected.insert(kind.to_ascii_lowercase(), Value::from(Dict::new()));
                    value = Value::from(selected);
                }
            }
            insert(&mut root, &path, value);
        }
        Ok(root)
    }
}

/// Sets `path` in `dict` to `value`, replacing what was there and creating intermediate maps.
fn insert(dict: &mut Dict, path: &[String], value: Value) {
    let (first, rest) = path.split_first().expect("path has at least one key");
    if rest.is_empty() {
        dict.insert(first.clone(), value);
        return;
    }
    let child = dict
        .entry(first.clone())
        .or_insert_with(|| Value::from(Dict::new()));
    if child.as_dict().is_none() {
        *child = Value::from(Dict::new());
    }
    if let Value::Dict(_, inner) = child {
        insert(inner, rest, value);
    }
}

impl Provider for RegistryEnv {
    fn metadata(&self) -> Metadata {
        Metadata::named("REGISTRY_* environment variables")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        Ok(Profile::Default.collect(self.to_dict()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict_of(vars: &[(&str, &str)]) -> Dict {
        RegistryEnv::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .to_dict()
            .unwrap()
    }

    fn at<'a>(dict: &'a Dict, path: &[&str]) -> Option<&'a Value> {
        let (first, rest) = path.split_first()?;
        let v = dict.get(*first)?;
        if rest.is_empty() {
            Some(v)
        } else {
            at(v.as_dict()?, rest)
        }
    }

    /// Variables map to lower-case key paths with YAML-typed values; the type selector becomes a map.
    #[test]
    fn env_to_tree_table() {
        let d = dict_of(&[
            ("REGISTRY_HTTP_ADDR", ":5001"),
            ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
            ("REGISTRY_STORAGE", "filesystem"),
            ("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/data"),
            ("REGISTRY_CATALOG_MAXENTRIES", "50"),
            ("REGISTRY_CONFIGURATION_PATH", "/etc/x.yml"),
            ("OTHER_VAR", "x"),
        ]);
        assert_eq!(
            at(&d, &["http", "addr"]).and_then(Value::as_str),
            Some(":5001")
        );
        assert_eq!(
            at(&d, &["storage", "delete", "enabled"]).and_then(Value::to_bool),
            Some(true)
        );
        assert_eq!(
            at(&d, &["storage", "filesystem", "rootdirectory"]).and_then(Value::as_str),
            Some("/data")
        );
        assert_eq!(
            at(&d, &["catalog", "maxentries"]).and_then(Value::to_u128),
            Some(50)
        );
        assert!(d.get("configuration").is_none());
        assert_eq!(d.len(), 3);
    }
}

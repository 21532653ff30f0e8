//! `wharf config`: the effective configuration as YAML, secrets redacted, followed by where each value
//! came from.

use super::sources::Layers;
use super::Config;

/// Keys whose values are secrets, matched on the last path component.
const SECRET_KEYS: [&str; 6] = [
    "secret",
    "password",
    "secretkey",
    "accesskey",
    "sessiontoken",
    "authorization",
];

fn redact(value: &mut serde_yaml::Value) {
    match value {
        serde_yaml::Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let secret = k
                    .as_str()
                    .is_some_and(|k| SECRET_KEYS.contains(&k.to_ascii_lowercase().as_str()));
                if secret && !v.is_null() {
                    *v = serde_yaml::Value::String("<redacted>".into());
                } else {
                    redact(v);
                }
            }
        }
        serde_yaml::Value::Sequence(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// The configuration as YAML plus a comment block of value origins.
pub fn render(config: &Config, layers: &Layers) -> String {
    let mut value = serde_yaml::to_value(config).unwrap_or(serde_yaml::Value::Null);
    redact(&mut value);
    let mut out = serde_yaml::to_string(&value).unwrap_or_default();
    out.push_str("# Where values came from (every other value is a built-in default):\n");
    if layers.origins().is_empty() {
        out.push_str("#   (nothing set: all defaults)\n");
    }
    for (key, origin) in layers.origins() {
        out.push_str(&format!("#   {key}: {origin}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RegistryEnv;

    /// Secrets never appear in the rendering, also inside lists such as webhook headers; origins name
    /// the variables that set values.
    #[test]
    fn redacts_and_names_origins() {
        let env = RegistryEnv::from_vars([
            (
                "REGISTRY_HTTP_SECRET".to_string(),
                "hunter2-very-secret".to_string(),
            ),
            ("REGISTRY_HTTP_ADDR".to_string(), ":6000".to_string()),
            (
                "REGISTRY_NOTIFICATIONS_ENDPOINTS".to_string(),
                "[{name: hook, url: 'http://h/e', headers: {Authorization: [Bearer hunter3]}}]"
                    .to_string(),
            ),
        ]);
        let loaded = Config::load_with_sources(None, env).unwrap();
        let text = loaded.render();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("hunter3"), "{text}");
        assert!(text.contains("secret: <redacted>"), "{text}");
        assert!(text.contains("addr: :6000"), "{text}");
        assert!(
            text.contains("#   http.addr: environment variable REGISTRY_HTTP_ADDR"),
            "{text}"
        );
    }
}

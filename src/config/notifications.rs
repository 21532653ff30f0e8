//! `notifications:`: webhooks told about pushes, pulls, deletes and mounts, with distribution's keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::duration::GoDuration;

/// `notifications:` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationsConfig {
    /// Where events are sent.
    pub endpoints: Vec<EndpointConfig>,
}

/// One webhook (`notifications.endpoints[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointConfig {
    /// A name for logs and metrics.
    pub name: String,
    /// Skip this endpoint.
    pub disabled: bool,
    /// URL events are `POST`ed to.
    pub url: String,
    /// Headers added to every request; values are lists, as in distribution.
    pub headers: BTreeMap<String, Vec<String>>,
    /// How long one delivery may take.
    pub timeout: GoDuration,
    /// Failed deliveries in a row after which the endpoint is backed off.
    pub threshold: u32,
    /// How long to wait before retrying a failing endpoint.
    pub backoff: GoDuration,
    /// Events about manifests or blobs of these media types are not sent.
    pub ignoredmediatypes: Vec<String>,
    /// More events not to send.
    pub ignore: IgnoreConfig,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            name: String::new(),
            disabled: false,
            url: String::new(),
            headers: BTreeMap::new(),
            timeout: GoDuration::secs(1),
            threshold: 10,
            backoff: GoDuration::secs(1),
            ignoredmediatypes: Vec::new(),
            ignore: IgnoreConfig::default(),
        }
    }
}

impl NotificationsConfig {
    /// Checks the endpoints that are not disabled: an `http` or `https` URL, and headers that can be
    /// sent. Errors name the setting, e.g. `notifications.endpoints[0].url`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            if endpoint.disabled {
                continue;
            }
            let key = |field: &str| format!("notifications.endpoints[{i}].{field}");
            match reqwest::Url::parse(&endpoint.url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
                Ok(_) => {
                    return Err((
                        key("url"),
                        format!("{:?} is not an http or https URL", endpoint.url),
                    ))
                }
                Err(e) => {
                    return Err((key("url"), format!("{:?} is not a URL: {e}", endpoint.url)))
                }
            }
            for (name, values) in &endpoint.headers {
                let bad_value = values
                    .iter()
                    .any(|v| axum::http::HeaderValue::from_str(v).is_err());
                if axum::http::HeaderName::from_bytes(name.as_bytes()).is_err() || bad_value {
                    return Err((
                        key("headers"),
                        format!("{name:?} is not a valid header name with valid values"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `notifications.endpoints[].ignore:` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IgnoreConfig {
    /// Media types whose events are not sent.
    pub mediatypes: Vec<String>,
    /// Actions (`push`, `pull`, `delete`, `mount`) whose events are not sent.
    pub actions: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str) -> EndpointConfig {
        EndpointConfig {
            url: url.into(),
            ..EndpointConfig::default()
        }
    }

    /// Endpoint URLs must be http(s) URLs with a host; disabled endpoints are not checked; bad
    /// headers are refused; errors name the endpoint's index.
    #[test]
    fn validation_table() {
        let cases = [
            ("http://hook:8080/events", false, Ok(())),
            ("https://hook/events", false, Ok(())),
            ("hook/events", false, Err("notifications.endpoints[1].url")),
            (
                "ftp://hook/events",
                false,
                Err("notifications.endpoints[1].url"),
            ),
            ("", false, Err("notifications.endpoints[1].url")),
            ("", true, Ok(())),
        ];
        for (url, disabled, want) in cases {
            let config = NotificationsConfig {
                endpoints: vec![
                    endpoint("http://ok/"),
                    EndpointConfig {
                        disabled,
                        ..endpoint(url)
                    },
                ],
            };
            let got = config.validate().map_err(|(key, _)| key);
            assert_eq!(got, want.map_err(String::from), "{url}");
        }
        let mut bad_header = endpoint("http://ok/");
        bad_header
            .headers
            .insert("Bad Name".into(), vec!["x".into()]);
        let config = NotificationsConfig {
            endpoints: vec![bad_header],
        };
        assert_eq!(
            config.validate().unwrap_err().0,
            "notifications.endpoints[0].headers"
        );
    }

    /// Loading stops with one line naming the endpoint's URL setting and where it came from.
    #[test]
    fn load_names_the_bad_url() {
        let env = crate::config::RegistryEnv::from_vars([(
            "REGISTRY_NOTIFICATIONS_ENDPOINTS".to_string(),
            "[{name: ok, url: 'http://h/e'}, {name: bad, url: 'h/e'}]".to_string(),
        )]);
        let err = crate::config::Config::load(None, env)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid setting notifications.endpoints[1].url (from environment variable REGISTRY_NOTIFICATIONS_ENDPOINTS)"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }
}

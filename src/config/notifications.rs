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

/// `notifications.endpoints[].ignore:` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IgnoreConfig {
    /// Media types whose events are not sent.
    pub mediatypes: Vec<String>,
    /// Actions (`push`, `pull`, `delete`, `mount`) whose events are not sent.
    pub actions: Vec<String>,
}

//! `http.debug:`: a second listener for operators, serving `/debug/health`, Prometheus metrics and the
//! on-demand garbage collection endpoint. Bind it to a private address.

use serde::{Deserialize, Serialize};

/// `http.debug:` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DebugConfig {
    /// Listen address (`HOST:PORT`, or `:PORT` for every interface); unset, no debug server runs.
    pub addr: Option<String>,
    /// The metrics endpoint.
    pub prometheus: PrometheusConfig,
}

/// `http.debug.prometheus:` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrometheusConfig {
    /// Serve metrics in the Prometheus text format.
    pub enabled: bool,
    /// Path of the metrics endpoint.
    pub path: String,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        PrometheusConfig {
            enabled: false,
            path: "/metrics".into(),
        }
    }
}

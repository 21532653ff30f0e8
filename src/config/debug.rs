//! `http.debug:`: a second listener for operators, serving `/debug/health`, Prometheus metrics and the
//! on-demand garbage collection endpoint. Bind it to a private address.

use serde::{Deserialize, Serialize};

use super::duration::GoDuration;

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
    /// (Wharf only) How often every repository's usage is weighed for `wharf_repository_bytes`
    /// (it reads every manifest, like a collection's mark); `0` weighs only the repositories a quota
    /// check or the web UI's disk view weighed.
    pub usageinterval: GoDuration,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        PrometheusConfig {
            enabled: false,
            path: "/metrics".into(),
            usageinterval: GoDuration::hours(1),
        }
    }
}

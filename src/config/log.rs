//! `log:` settings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `log:` settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// Least severe level logged: `error`, `warn`, `info` or `debug`.
    pub level: String,
    /// `text` or `json`.
    pub formatter: String,
    /// Fields added to every log line (for example `service: registry`).
    pub fields: BTreeMap<String, String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            formatter: "text".into(),
            fields: BTreeMap::new(),
        }
    }
}

impl LogConfig {
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if !matches!(
            self.level.to_ascii_lowercase().as_str(),
            "error" | "warn" | "info" | "debug"
        ) {
            return Err((
                "log.level",
                format!("{:?} is not one of error, warn, info, debug", self.level),
            ));
        }
        if !matches!(
            self.formatter.to_ascii_lowercase().as_str(),
            "text" | "json" | "logstash"
        ) {
            return Err((
                "log.formatter",
                format!("{:?} is not text or json", self.formatter),
            ));
        }
        Ok(())
    }
}

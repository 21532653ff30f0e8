//! `health:`: the storage check. While it fails, the registry answers every request with 503.

use serde::{Deserialize, Serialize};

use super::duration::GoDuration;

/// `health:` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthConfig {
    /// The periodic storage check.
    pub storagedriver: StorageDriverHealth,
}

/// `health.storagedriver:` settings; the defaults are those of the registry:2 image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageDriverHealth {
    /// Run the check.
    pub enabled: bool,
    /// Time between two checks.
    pub interval: GoDuration,
    /// Consecutive failures after which the registry reports itself unhealthy.
    pub threshold: u32,
}

impl Default for StorageDriverHealth {
    fn default() -> Self {
        StorageDriverHealth {
            enabled: true,
            interval: GoDuration::secs(10),
            threshold: 3,
        }
    }
}

//! `storage.maintenance:`: the upload purger and read-only mode, with distribution's defaults (purging
//! on, uploads older than a week removed once a day).

use serde::{Deserialize, Serialize};

use super::duration::GoDuration;

/// `storage.maintenance:` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MaintenanceConfig {
    /// Removal of abandoned upload sessions.
    pub uploadpurging: UploadPurgingConfig,
    /// Refusing every write.
    pub readonly: ReadOnlyConfig,
}

/// `storage.maintenance.uploadpurging:` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadPurgingConfig {
    /// Run the purger in the server.
    pub enabled: bool,
    /// Upload sessions started longer ago than this are removed.
    pub age: GoDuration,
    /// Time between two runs; the first run comes after a random delay of up to an hour.
    pub interval: GoDuration,
    /// Only log what would be removed.
    pub dryrun: bool,
}

impl Default for UploadPurgingConfig {
    fn default() -> Self {
        UploadPurgingConfig {
            enabled: true,
            age: GoDuration::hours(168),
            interval: GoDuration::hours(24),
            dryrun: false,
        }
    }
}

/// `storage.maintenance.readonly:` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReadOnlyConfig {
    /// Answer every write (`POST`, `PATCH`, `PUT`, `DELETE` under `/v2/`) with 405 `UNSUPPORTED`.
    pub enabled: bool,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::{Config, RegistryEnv};

    fn load(vars: &[(&str, &str)]) -> Config {
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load(None, RegistryEnv::from_vars(vars)).unwrap()
    }

    /// Leaf variables and the YAML-map forms registry:2 users rely on both set maintenance and the
    /// other operations keys; durations read as Go strings; absent keys keep distribution's defaults.
    #[test]
    fn operations_keys_from_env() {
        let d = load(&[]);
        assert!(d.storage.maintenance.uploadpurging.enabled);
        assert_eq!(
            d.storage.maintenance.uploadpurging.age.get(),
            Duration::from_secs(168 * 3600)
        );
        assert!(!d.storage.maintenance.readonly.enabled);
        assert_eq!(d.health.storagedriver.threshold, 3);
        assert_eq!(d.http.draintimeout.get(), Duration::from_secs(60));

        let leaf = load(&[
            ("REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED", "true"),
            ("REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE", "2h10m"),
            ("REGISTRY_STORAGE_GC_GRACEPERIOD", "0s"),
            ("REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL", "1000000000"),
            ("REGISTRY_HTTP_DEBUG_ADDR", ":5001"),
        ]);
        assert!(leaf.storage.maintenance.readonly.enabled);
        assert_eq!(
            leaf.storage.maintenance.uploadpurging.age.get(),
            Duration::from_secs(7800)
        );
        assert!(leaf.storage.gc.graceperiod.is_zero());
        assert_eq!(
            leaf.health.storagedriver.interval.get(),
            Duration::from_secs(1)
        );
        assert_eq!(leaf.http.debug.addr.as_deref(), Some(":5001"));

        let map = load(&[
            (
                "REGISTRY_STORAGE_MAINTENANCE",
                "{readonly: {enabled: true}, uploadpurging: {enabled: false}}",
            ),
            (
                "REGISTRY_NOTIFICATIONS_ENDPOINTS",
                "[{name: hook, url: 'http://h/e', timeout: 2s, headers: {X-Token: [a]}}]",
            ),
        ]);
        assert!(map.storage.maintenance.readonly.enabled);
        assert!(!map.storage.maintenance.uploadpurging.enabled);
        let hook = &map.notifications.endpoints[0];
        assert_eq!(
            (hook.name.as_str(), hook.timeout.get()),
            ("hook", Duration::from_secs(2))
        );
        assert_eq!(hook.headers["X-Token"], ["a"]);
    }
}

//! Wharf's configuration: one typed struct in distribution's `config.yml` shape (`version: 0.1`), loaded
//! by figment as built-in defaults ← `config.yml` ← `REGISTRY_*` environment variables, then validated
//! once at start-up.

pub mod debug;
pub mod duration;
mod env;
pub mod gc;
pub mod health;
pub mod maintenance;
pub mod notifications;

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Yaml};
use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize};

pub use env::RegistryEnv;

/// Where registry:2 keeps its data, and Wharf's first choice too.
pub const DISTRIBUTION_ROOT: &str = "/var/lib/registry";

/// A configuration problem, reported as one line naming the setting and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or environment could not be read or does not fit the schema.
    #[error("configuration error: {0}")]
    Load(String),
    /// A value is present but unusable.
    #[error("invalid setting {key}: {message}")]
    Invalid {
        /// The setting, in `config.yml` dotted form.
        key: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Format version of the file; distribution accepts only `0.1`.
    #[serde(deserialize_with = "string_or_number")]
    pub version: String,
    /// Logging.
    pub log: LogConfig,
    /// The HTTP server.
    pub http: HttpConfig,
    /// Where and how content is stored.
    pub storage: StorageConfig,
    /// The `_catalog` endpoint.
    pub catalog: CatalogConfig,
    /// Health checks.
    pub health: health::HealthConfig,
    /// Webhooks.
    pub notifications: notifications::NotificationsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: "0.1".into(),
            log: Default::default(),
            http: Default::default(),
            storage: Default::default(),
            catalog: Default::default(),
            health: Default::default(),
            notifications: Default::default(),
        }
    }
}

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

/// `http:` settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Listen address, `HOST:PORT` or `:PORT` for every interface.
    pub addr: String,
    /// Public base URL used in `Location` headers (e.g. `https://registry.example.com`).
    pub host: Option<String>,
    /// Send relative `Location` headers.
    pub relativeurls: bool,
    /// The operators' listener.
    pub debug: debug::DebugConfig,
    /// On SIGTERM or SIGINT, how long in-flight requests may take to finish.
    pub draintimeout: duration::GoDuration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            addr: ":5000".into(),
            host: None,
            relativeurls: false,
            debug: Default::default(),
            draintimeout: duration::GoDuration::secs(60),
        }
    }
}

/// `storage:` settings: exactly one driver plus the shared switches.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    /// The filesystem driver.
    pub filesystem: Option<FilesystemConfig>,
    /// The in-memory driver (content is lost when the process stops; for tests).
    pub inmemory: Option<BTreeMap<String, serde_yaml::Value>>,
    /// Deletion of blobs and manifests.
    pub delete: DeleteConfig,
    /// Upload purging and read-only mode.
    pub maintenance: maintenance::MaintenanceConfig,
    /// Garbage collection while serving.
    pub gc: gc::GcConfig,
}

/// `storage.filesystem:` settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FilesystemConfig {
    /// Directory holding `docker/registry/v2`. Unset: `/var/lib/registry` when writable, else a per-user
    /// data directory.
    pub rootdirectory: Option<PathBuf>,
}

/// `storage.delete:` settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DeleteConfig {
    /// Allow `DELETE` of blobs, manifests and tags.
    pub enabled: bool,
}

/// `catalog:` settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CatalogConfig {
    /// Largest `n` a `_catalog` request may ask for.
    pub maxentries: usize,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig { maxentries: 1000 }
    }
}

/// The storage driver chosen, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driver {
    /// Files under a root directory.
    Filesystem(PathBuf),
    /// Process memory.
    InMemory,
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        S(String),
        F(f64),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::S(s) => s,
        Raw::F(f) => f.to_string(),
    })
}

impl Config {
    /// Loads defaults ← `file` (if any) ← `env` and validates the result.
    pub fn load(file: Option<&Path>, env: RegistryEnv) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::Load(format!(
                    "config file {} does not exist or is not a file; pass an existing config.yml or none",
                    path.display()
                )));
            }
            figment = figment.merge(Yaml::file_exact(path));
        }
        let config: Config = figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.version != "0.1" {
            return Err(ConfigError::Invalid {
                key: "version",
                message: format!("must be 0.1, found {:?}", self.version),
            });
        }
        if !matches!(
            self.log.level.to_ascii_lowercase().as_str(),
            "error" | "warn" | "info" | "debug"
        ) {
            return Err(ConfigError::Invalid {
                key: "log.level",
                message: format!(
                    "{:?} is not one of error, warn, info, debug",
                    self.log.level
                ),
            });
        }
        if self.catalog.maxentries == 0 {
            return Err(ConfigError::Invalid {
                key: "catalog.maxentries",
                message: "must be at least 1".into(),
            });
        }
        self.listen_addr()?;
        self.driver()?;
        Ok(())
    }

    /// The socket address to listen on (`:5000` means every interface).
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        let addr = &self.http.addr;
        let full = if addr.starts_with(':') {
            format!("0.0.0.0{addr}")
        } else {
            addr.clone()
        };
        full.to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| ConfigError::Invalid {
                key: "http.addr",
                message: format!(
                    "{addr:?} is not HOST:PORT or :PORT (REGISTRY_HTTP_ADDR=:5000, for example)"
                ),
            })
    }

    /// The storage driver, with the filesystem root resolved.
    pub fn driver(&self) -> Result<Driver, ConfigError> {
        match (&self.storage.filesystem, &self.storage.inmemory) {
            (Some(_), Some(_)) => Err(ConfigError::Invalid {
                key: "storage",
                message:
                    "more than one storage driver is configured (filesystem and inmemory); keep one"
                        .into(),
            }),
            (None, Some(_)) => Ok(Driver::InMemory),
            (
                Some(FilesystemConfig {
                    rootdirectory: Some(root),
                }),
                None,
            ) => Ok(Driver::Filesystem(root.clone())),
            _ => Ok(Driver::Filesystem(default_root())),
        }
    }
}

/// `/var/lib/registry` when it exists and is writable or can be created, else
/// `$XDG_DATA_HOME/wharf` (by default `~/.local/share/wharf`), else `./wharf-data`.
pub fn default_root() -> PathBuf {
    let system = PathBuf::from(DISTRIBUTION_ROOT);
    if writable_dir(&system) {
        return system;
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    match data_home {
        Some(d) => d.join("wharf"),
        None => PathBuf::from("wharf-data"),
    }
}

fn writable_dir(dir: &Path) -> bool {
    if std::fs::create_dir_all(dir).is_err() {
        return false;
    }
    let probe = dir.join(format!(".wharf-probe-{}", std::process::id()));
    let ok = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

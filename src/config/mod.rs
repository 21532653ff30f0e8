//! Wharf's configuration: one typed struct in distribution's `config.yml` shape (`version: 0.1`), loaded
//! as built-in defaults ← `config.yml` ← `REGISTRY_*` environment variables ([`sources`]), checked
//! against the known keys ([`keys`]), then typed by figment and validated once at start-up. Every error
//! is one line naming the setting, where its value came from, and the fix.

mod auth;
pub mod debug;
pub mod duration;
pub mod gc;
pub mod health;
mod http;
pub mod keys;
mod log;
pub mod maintenance;
pub mod notifications;
pub mod pattern;
pub mod proxy;
pub mod quota;
mod render;
pub mod retention;
pub mod s3;
mod sources;
mod storage;
pub mod tls;
pub mod ui;

use std::path::{Path, PathBuf};

use figment::providers::Serialized;
use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize};

pub use auth::{AccessAction, AccessRule, AuthConfig, HtpasswdConfig, TokenConfig};
pub use http::HttpConfig;
pub use log::LogConfig;
pub use s3::S3Config;
pub use sources::{Layers, Origin, RegistryEnv};
pub use storage::{DeleteConfig, Driver, FilesystemConfig, RedirectConfig, StorageConfig};

/// Where registry:2 keeps its data, and Wharf's first choice too.
pub const DISTRIBUTION_ROOT: &str = "/var/lib/registry";

/// A configuration problem, reported as one line naming the setting and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or parsed.
    #[error("configuration error: {0}")]
    Load(String),
    /// A setting is unknown or its value unusable.
    #[error("invalid setting {key} (from {origin}): {message}")]
    Invalid {
        /// The setting, in `config.yml` dotted form.
        key: String,
        /// Where the value came from.
        origin: String,
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
    /// Deprecated spelling of `log.level`, still read as registry:2 reads it.
    pub loglevel: Option<String>,
    /// Logging.
    pub log: LogConfig,
    /// The HTTP server.
    pub http: HttpConfig,
    /// Where and how content is stored.
    pub storage: StorageConfig,
    /// The `_catalog` endpoint.
    pub catalog: CatalogConfig,
    /// Authentication and access rules.
    pub auth: AuthConfig,
    /// Health checks.
    pub health: health::HealthConfig,
    /// Webhooks.
    pub notifications: notifications::NotificationsConfig,
    /// The web UI served beside the registry.
    pub ui: ui::UiSection,
    /// Retention policies and the trash (Wharf only).
    pub retention: retention::RetentionConfig,
    /// Byte quotas per repository pattern (Wharf only).
    pub quotas: Vec<quota::QuotaConfig>,
    /// A pull-through cache of an upstream registry.
    pub proxy: proxy::ProxyConfig,
    /// Where each value came from (not a setting), so that a setting found unusable after loading
    /// is reported with its real source.
    #[serde(skip)]
    pub origins: std::sync::Arc<std::collections::BTreeMap<String, sources::Origin>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: "0.1".into(),
            loglevel: None,
            log: Default::default(),
            http: Default::default(),
            storage: Default::default(),
            catalog: Default::default(),
            auth: Default::default(),
            health: Default::default(),
            notifications: Default::default(),
            ui: Default::default(),
            retention: Default::default(),
            quotas: Vec::new(),
            proxy: Default::default(),
            origins: Default::default(),
        }
    }
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

/// A loaded configuration with the provenance of its values and the warnings to log.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The typed, validated configuration.
    pub config: Config,
    /// The raw tree and where each value came from.
    pub layers: Layers,
    /// Accepted settings that have no effect yet.
    pub warnings: Vec<String>,
}

impl Loaded {
    /// The effective configuration as YAML, secrets redacted, with where each value came from.
    pub fn render(&self) -> String {
        render::render(&self.config, &self.layers)
    }
}

impl Config {
    /// Loads defaults ← `file` (if any) ← `env` and validates the result.
    pub fn load(file: Option<&Path>, env: RegistryEnv) -> Result<Config, ConfigError> {
        Self::load_with_sources(file, env).map(|l| l.config)
    }

    /// Like [`Config::load`], keeping provenance and warnings.
    pub fn load_with_sources(file: Option<&Path>, env: RegistryEnv) -> Result<Loaded, ConfigError> {
        let mut layers = match file {
            Some(path) => Layers::from_file(path)?,
            None => Layers::default(),
        };
        layers.apply_env(&env);
        let mut warnings = keys::check(&layers)?;
        let config = extract(&mut layers);
        let origin_of = |key: &str| {
            layers
                .origin(key)
                .map(|o| o.to_string())
                .unwrap_or_else(|| "defaults".into())
        };
        let mut config = config.map_err(|e| {
            let key = e.path.join(".");
            ConfigError::Invalid {
                origin: origin_of(&key),
                message: format!(
                    "{}; see docs/configuration.md for the expected form",
                    e.kind
                ),
                key,
            }
        })?;
        if let (Some(level), None) = (config.loglevel.take(), layers.origin("log.level")) {
            config.log.level = level;
        }
        config.origins = std::sync::Arc::new(layers.origins().clone());
        config
            .validate()
            .map_err(|(key, message)| config.invalid(key, message))?;
        config
            .notifications
            .validate()
            .map_err(|(key, message)| ConfigError::Invalid {
                origin: origin_of("notifications.endpoints"),
                key,
                message,
            })?;
        quota::validate(&config.quotas).map_err(|(key, message)| ConfigError::Invalid {
            origin: origin_of("quotas"),
            key,
            message,
        })?;
        config
            .retention
            .validate()
            .map_err(|(key, message)| ConfigError::Invalid {
                origin: origin_of("retention.policies"),
                key,
                message,
            })?;
        for name in config.http.headers.keys() {
            if let Some(meant) = http::misspelt_cors_header(name) {
                warnings.push(format!(
                    "http.headers has {} (from {}), which is not a CORS header; it is sent as configured, but {meant} was probably meant",
                    http::display_header_name(name),
                    origin_of(&format!("http.headers.{name}"))
                ));
            }
        }
        Ok(Loaded {
            config,
            layers,
            warnings,
        })
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.version != "0.1" {
            return Err(("version", format!("must be 0.1, found {:?}", self.version)));
        }
        self.log.validate()?;
        self.http.validate()?;
        self.storage.validate()?;
        if self.catalog.maxentries == 0 {
            return Err(("catalog.maxentries", "must be at least 1".into()));
        }
        self.auth.validate()?;
        self.ui.validate(self.http.path_prefix())?;
        self.proxy.validate()?;
        Ok(())
    }

    /// The error for `key`'s value, found unusable after loading, naming where that value came from.
    /// A key that is a variable's name (`WHARF_USERNAME`) comes from the environment.
    pub fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let origin = match sources::nearest_origin(&self.origins, key) {
            Some(origin) => origin.to_string(),
            None if key.starts_with("WHARF_") => "the environment".into(),
            None => "defaults".into(),
        };
        ConfigError::Invalid {
            key: key.into(),
            origin,
            message: message.into(),
        }
    }

    /// The socket address to listen on.
    pub fn listen_addr(&self) -> Result<std::net::SocketAddr, ConfigError> {
        self.http
            .listen_addr()
            .map_err(|message| self.invalid("http.addr", message))
    }

    /// The storage driver, with the filesystem root resolved.
    pub fn driver(&self) -> Result<Driver, ConfigError> {
        self.storage
            .driver()
            .map_err(|(key, message)| self.invalid(key, message))
    }
}

/// Types the tree. As distribution's YAML decoder does, a number or boolean where text is expected is
/// read as its text (`REGISTRY_HTTP_ADDR=5000` is the string "5000", for validation to judge).
fn extract(layers: &mut Layers) -> Result<Config, Box<figment::Error>> {
    loop {
        let result = Figment::from(Serialized::defaults(Config::default()))
            .merge(Serialized::globals(layers.tree().clone()))
            .extract::<Config>();
        match result {
            Err(e) if expects_text(&e) && layers.stringify(&e.path) => continue,
            other => return other.map_err(Box::new),
        }
    }
}

fn expects_text(e: &figment::Error) -> bool {
    use figment::error::{Actual, Kind};
    matches!(
        &e.kind,
        Kind::InvalidType(Actual::Unsigned(_) | Actual::Signed(_) | Actual::Float(_) | Actual::Bool(_), expected)
            if expected.contains("string")
    )
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

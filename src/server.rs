//! Starting the registry: build the storage backend and services from the configuration, and serve the
//! HTTP API on a listener until a shutdown signal.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::api::{self, AppState, ExtraHeaders, HttpOptions, UrlBuilder};
use crate::config::{Config, ConfigError, Driver};
use crate::registry::{Registry, Settings};
use crate::storage::filesystem::Filesystem;
use crate::storage::memory::Memory;
use crate::storage::Storage;

/// The application (router and state) for a configuration.
pub fn app(config: &Config) -> Result<axum::Router, ConfigError> {
    let storage: Arc<dyn Storage> = match config.driver()? {
        Driver::Filesystem(root) => Arc::new(Filesystem::new(root)),
        Driver::InMemory => Arc::new(Memory::new()),
    };
    let registry = Registry::new(
        storage,
        Settings {
            delete_enabled: config.storage.delete.enabled,
            catalog_max_entries: config.catalog.maxentries,
        },
    );
    let prefix = config.http.path_prefix().to_string();
    let urls = UrlBuilder {
        host: config.http.host.clone().filter(|h| !h.is_empty()),
        relative: config.http.relativeurls,
        prefix: prefix.clone(),
    };
    let headers = config
        .http
        .header_list()
        .map_err(|message| ConfigError::Invalid {
            key: "http.headers".into(),
            origin: "configuration".into(),
            message,
        })?;
    let (headers, cors) = api::split_cors(headers);
    let options = HttpOptions {
        extra: ExtraHeaders { headers, prefix },
        cors,
    };
    Ok(api::router(Arc::new(AppState { registry, urls }), options))
}

/// Serves the registry on `listener` until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(&config).map_err(std::io::Error::other)?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

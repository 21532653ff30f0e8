//! Starting the registry: build the storage backend and services from the configuration, and serve the
//! HTTP API on a listener until a shutdown signal.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::api::{self, AppState, UrlBuilder};
use crate::config::{Config, Driver};
use crate::registry::{Registry, Settings};
use crate::storage::filesystem::Filesystem;
use crate::storage::memory::Memory;
use crate::storage::Storage;

/// The registry services over the configured storage.
pub fn registry(config: &Config) -> Result<Registry, crate::config::ConfigError> {
    let storage: Arc<dyn Storage> = match config.driver()? {
        Driver::Filesystem(root) => Arc::new(Filesystem::new(root)),
        Driver::InMemory => Arc::new(Memory::new()),
    };
    Ok(Registry::new(
        storage,
        Settings {
            delete_enabled: config.storage.delete.enabled,
            catalog_max_entries: config.catalog.maxentries,
        },
    ))
}

/// The application (router and state) for a configuration.
pub fn app(config: &Config) -> Result<axum::Router, crate::config::ConfigError> {
    let registry = registry(config)?;
    let urls = UrlBuilder {
        host: config.http.host.clone().filter(|h| !h.is_empty()),
        relative: config.http.relativeurls,
    };
    Ok(api::router(Arc::new(AppState { registry, urls })))
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

//! Starting the registry: build the storage backend and services from the configuration, and serve the
//! HTTP API on a listener until a shutdown signal.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::api::{self, AppState, UrlBuilder};
use crate::config::{Config, Driver};
use crate::ops::{self, ServeOptions};
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

/// The application's state for a configuration.
pub fn state(config: &Config) -> Result<Arc<AppState>, crate::config::ConfigError> {
    let registry = registry(config)?;
    let urls = UrlBuilder {
        host: config.http.host.clone().filter(|h| !h.is_empty()),
        relative: config.http.relativeurls,
    };
    Ok(Arc::new(AppState { registry, urls }))
}

/// Serves the registry on `listener` until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, config, ServeOptions::default(), shutdown).await
}

/// [`serve`], with the background jobs and debug server adjusted by `options`.
pub async fn serve_with(
    listener: TcpListener,
    config: Config,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = state(&config).map_err(std::io::Error::other)?;
    let running = ops::start(&config, state.clone(), options).await?;
    let app = ops::wrap(api::router(state), &config, &running.ops);
    ops::drain::serve(listener, app, config.http.draintimeout.get(), shutdown).await
}

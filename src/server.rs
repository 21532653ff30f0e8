//! Starting the registry: build the storage backend and services from the configuration, and serve the
//! HTTP API on a listener until a shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use tokio::net::TcpListener;

use crate::api::{self, AppState, ExtraHeaders, HttpOptions, UrlBuilder};
use crate::auth::Authenticator;
use crate::config::{Config, ConfigError, Driver};
use crate::registry::{Registry, Settings};
use crate::storage::filesystem::Filesystem;
use crate::storage::memory::Memory;
use crate::storage::Storage;

/// The application (router and state) for a configuration.
/// With authentication configured, a missing htpasswd file is created here.
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
        tls: config.http.tls.enabled(),
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
    let auth = Authenticator::from_config(&config.auth).map_err(|e| ConfigError::Invalid {
        key: e.setting().into(),
        origin: "configuration".into(),
        message: e.to_string(),
    })?;
    Ok(api::router(
        Arc::new(AppState {
            registry,
            urls,
            auth,
        }),
        options,
    ))
}

/// Serves the registry on `listener` (over TLS when `http.tls` is configured) until `shutdown`
/// completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(&config).map_err(std::io::Error::other)?;
    if !config.http.tls.enabled() {
        return axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
    }
    let http2 = !config.http.http2.disabled;
    let tls_config = crate::tls::server_config(&config.http.tls, http2)
        .map_err(|(key, message)| std::io::Error::other(format!("{key}: {message}")))?;
    let live = RustlsConfig::from_config(Arc::new(tls_config));
    let watcher = tokio::spawn(crate::tls::watch(
        live.clone(),
        config.http.tls.clone(),
        http2,
    ));
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(None);
    });
    let mut server = axum_server::from_tcp_rustls(listener.into_std()?, live)?.handle(handle);
    if !http2 {
        server = server.http1_only();
    }
    let result = server
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
        .await;
    watcher.abort();
    result
}

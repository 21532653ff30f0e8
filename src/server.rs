//! Starting the registry: build the storage backend, services, authentication and HTTP options from
//! the configuration, start the operational jobs, and serve the HTTP API (with the web UI beside it
//! when `ui.enabled`) on a listener (plain or TLS, both under the [`connections`] limits) until a
//! shutdown signal, then drain for at most `http.draintimeout`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use axum_server::Handle;
use futures_util::StreamExt;
use tokio::net::TcpListener;

use crate::api::{self, AppState, ExtraHeaders, HttpOptions, UrlBuilder};
use crate::auth::Authenticator;
use crate::config::{Config, ConfigError, Driver};
use crate::connections::{self, Limited, Limits};
use crate::ops::{self, ServeOptions};
use crate::registry::{Registry, Settings};
use crate::storage::filesystem::Filesystem;
use crate::storage::memory::Memory;
use crate::storage::s3::S3;
use crate::storage::Storage;
use crate::zero_copy;

/// The registry services over the configured storage.
pub fn registry(config: &Config) -> Result<Registry, ConfigError> {
    let driver = config.driver()?;
    let object_storage = matches!(driver, Driver::S3(_));
    let storage: Arc<dyn Storage> = match driver {
        Driver::Filesystem(root) => Arc::new(Filesystem::new(root)),
        Driver::InMemory => Arc::new(Memory::new()),
        Driver::S3(s3) => Arc::new(S3::new(&s3).map_err(|e| config.invalid(e.setting, e.message))?),
    };
    Ok(Registry::new(
        storage,
        Settings {
            delete_enabled: config.storage.delete.enabled,
            catalog_max_entries: config.catalog.maxentries,
            redirect: object_storage && !config.storage.redirect.disable,
            indexed_listing: object_storage,
            gc_settle_period: config.storage.gc.settleperiod.get(),
        },
    ))
}

/// Checks, before serving, that the storage is usable: for S3, that the bucket exists and answers to
/// the credentials, with an error naming the setting to fix.
pub async fn check_storage(config: &Config) -> Result<(), ConfigError> {
    if let Driver::S3(s3) = config.driver()? {
        let storage = S3::new(&s3).map_err(|e| config.invalid(e.setting, e.message))?;
        storage
            .check()
            .await
            .map_err(|e| config.invalid(e.setting, e.message))?;
    }
    Ok(())
}

/// Checks, before serving, that the storage can be written (unless in read-only mode), as a push
/// writes it. The error is one line naming the storage, the user the process runs as and the fix.
pub async fn check_writable(config: &Config) -> Result<(), String> {
    if config.storage.maintenance.readonly.enabled {
        return Ok(());
    }
    let driver = config.driver().map_err(|e| e.to_string())?;
    let registry = registry(config).map_err(|e| e.to_string())?;
    let Err(e) = registry.check_writable().await else {
        return Ok(());
    };
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    Err(match driver {
        Driver::Filesystem(root) => format!(
            "the storage root {root} is not writable by uid {uid} (gid {gid}), the user wharf runs as: \
             {e}. Fix: give that user the directory (`chown -R {uid}:{gid}` on it, or on the host \
             directory or volume mounted there), or start Wharf's image as root, its default, so that \
             it hands the volume over itself; or point storage.filesystem.rootdirectory \
             (REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY) at a writable directory",
            root = root.display()
        ),
        Driver::S3(s3) => format!(
            "the S3 bucket {:?} cannot be written: {e}. Fix: give the credentials \
             (storage.s3.accesskey / REGISTRY_STORAGE_S3_ACCESSKEY) permission to put and delete \
             objects under {:?}",
            s3.bucket.as_deref().unwrap_or_default(),
            s3.root_prefix()
        ),
        Driver::InMemory => format!("the in-memory storage cannot be written: {e}"),
    })
}

/// The application's state and HTTP options for a configuration. With authentication configured, a
/// missing htpasswd file is created here.
pub fn state(config: &Config) -> Result<(Arc<AppState>, HttpOptions), ConfigError> {
    let registry = registry(config)?;
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
        .map_err(|message| config.invalid("http.headers", message))?;
    let (headers, cors) = api::split_cors(headers);
    let options = HttpOptions {
        extra: ExtraHeaders { headers, prefix },
        cors,
    };
    let auth = Authenticator::from_config(&config.auth)
        .map_err(|e| config.invalid(e.setting(), e.to_string()))?;
    Ok((
        Arc::new(AppState {
            registry,
            urls,
            auth,
        }),
        options,
    ))
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
    check_storage(&config)
        .await
        .map_err(std::io::Error::other)?;
    let (state, http) = state(&config).map_err(std::io::Error::other)?;
    state
        .registry
        .start_catalog_index()
        .await
        .map_err(std::io::Error::other)?;
    let running = ops::start(&config, state.clone(), options).await?;
    let mut app = ops::wrap(api::router(state, http), &config, &running.ops);
    if config.ui.enabled {
        app = crate::ui::embedded::mount(&config, app).map_err(std::io::Error::other)?;
    }
    let app = api::protocol::apply(app);
    let drain = config.http.draintimeout.get();
    let limits = Limits::new(&config.http, connections::raise_fd_limit());
    tracing::info!(
        header_timeout = %humantime::format_duration(limits.header),
        idle_timeout = %humantime::format_duration(limits.idle),
        max_connections = limits.max,
        "connection limits"
    );
    let handle = Handle::new();
    let service = Limited::new(
        app.into_make_service_with_connect_info::<SocketAddr>(),
        &limits,
    );
    let connections = service.connections();
    let listener = listener.into_std()?;
    let zero_copy = zero_copy::Acceptor::new(running.ops.metrics.zero_copy_bytes());
    let server = async {
        if config.http.tls.enabled() {
            serve_tls(listener, service, handle.clone(), &limits, &config).await
        } else {
            let mut server = axum_server::from_tcp(listener)?
                .acceptor(connections::Acceptor::new(zero_copy, &limits))
                .handle(handle.clone());
            limits.configure(server.http_builder());
            server.serve(service).await
        }
    };
    ops::drain::serve(server, handle.clone(), connections, drain, shutdown).await
}

/// The app's make-service, under the connection limits.
type LimitedApp = Limited<IntoMakeServiceWithConnectInfo<Router, SocketAddr>>;

/// Serves over TLS (HTTP/2 by ALPN unless disabled): with certificates from ACME, or from files that are
/// reloaded when they change.
async fn serve_tls(
    listener: std::net::TcpListener,
    service: LimitedApp,
    handle: Handle<SocketAddr>,
    limits: &Limits,
    config: &Config,
) -> std::io::Result<()> {
    let http2 = !config.http.http2.disabled;
    if let Some(le) = &config.http.tls.letsencrypt {
        let mut acme = crate::tls::acme_state(le);
        let tls_config =
            crate::tls::acme_server_config(&config.http.tls, acme.resolver(), http2)
                .map_err(|(key, message)| std::io::Error::other(format!("{key}: {message}")))?;
        let acceptor = acme.axum_acceptor(Arc::new(tls_config));
        let events = tokio::spawn(async move {
            while let Some(event) = acme.next().await {
                match event {
                    Ok(ok) => tracing::info!(event = ?ok, "ACME"),
                    Err(e) => {
                        tracing::warn!(error = %e, "ACME: cannot obtain or renew the certificate yet")
                    }
                }
            }
        });
        let mut server = axum_server::from_tcp(listener)?
            .acceptor(connections::Acceptor::new(acceptor, limits))
            .handle(handle);
        limits.configure(server.http_builder());
        let result = server.serve(service).await;
        events.abort();
        return result;
    }
    let tls_config = crate::tls::server_config(&config.http.tls, http2)
        .map_err(|(key, message)| std::io::Error::other(format!("{key}: {message}")))?;
    let live = RustlsConfig::from_config(Arc::new(tls_config));
    let watcher = tokio::spawn(crate::tls::watch(
        live.clone(),
        config.http.tls.clone(),
        http2,
    ));
    let mut server = axum_server::from_tcp_rustls(listener, live)?
        .map(|tls| connections::Acceptor::new(tls, limits))
        .handle(handle);
    if !http2 {
        server = server.http1_only();
    }
    limits.configure(server.http_builder());
    let result = server.serve(service).await;
    watcher.abort();
    result
}

//! Starting the registry: build the storage backend and services from the configuration once, in the
//! start-up [`preflight`] that checks the storage before anything is served; then authentication and
//! HTTP options, the operational jobs, and the HTTP API (with the web UI beside it when `ui.enabled`)
//! on a listener (plain or TLS, both under the [`connections`] limits) until a shutdown signal, then
//! the drain of at most `http.draintimeout` ([`ops::drain`]).

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
use crate::config::{Config, ConfigError, Driver, S3Config};
use crate::connections::{self, Limited, Limits};
use crate::ops::{self, ServeOptions};
use crate::registry::gc::{GcOptions, Pace};
use crate::registry::retention::Policies;
use crate::registry::{Registry, Settings};
use crate::storage::filesystem::Filesystem;
use crate::storage::memory::Memory;
use crate::storage::s3::S3;
use crate::storage::Storage;
use crate::zero_copy;

/// The registry services over the configured storage, without the start-up checks (for commands that
/// do not serve, such as `wharf garbage-collect`).
pub fn registry(config: &Config) -> Result<Registry, ConfigError> {
    let driver = config.driver()?;
    let object_storage = matches!(driver, Driver::S3(_));
    let storage: Arc<dyn Storage> = match driver {
        Driver::Filesystem(root) => Arc::new(Filesystem::new(root)),
        Driver::InMemory => Arc::new(Memory::new()),
        Driver::S3(s3) => Arc::new(s3_storage(config, &s3)?),
    };
    let registry = Registry::new(storage, settings(config, object_storage));
    Ok(match mirror(config)? {
        Some(mirror) => registry.with_mirror(mirror),
        None => registry,
    })
}

/// The pull-through cache configured by `proxy:`, if any.
fn mirror(config: &Config) -> Result<Option<crate::registry::mirror::Mirror>, ConfigError> {
    use crate::registry::mirror::{upstream::Upstream, Mirror, Remote};
    let upstreams = config
        .proxy
        .resolve()
        .map_err(|(key, message)| config.invalid(key, message))?;
    if upstreams.is_empty() {
        return Ok(None);
    }
    let key = if config.proxy.upstreams.is_empty() {
        "proxy.remoteurl"
    } else {
        "proxy.upstreams"
    };
    let mut remotes = Vec::new();
    for u in upstreams {
        let prefix = match &u.prefix {
            Some(p) => Some(
                p.parse()
                    .map_err(|e| config.invalid("proxy.upstreams", format!("prefix {p:?}: {e}")))?,
            ),
            None => None,
        };
        let credentials = u
            .credentials
            .as_ref()
            .map(|(n, p)| (n.as_str(), p.as_str()));
        let upstream =
            Upstream::new(&u.url, credentials).map_err(|e| config.invalid(key, e.to_string()))?;
        remotes.push(Remote::new(prefix, upstream, u.ttl));
    }
    Ok(Some(Mirror::new(remotes, config.proxy.default.as_deref())))
}

/// The S3 backend for `config`'s `storage.s3` settings.
fn s3_storage(config: &Config, s3: &S3Config) -> Result<S3, ConfigError> {
    S3::new(s3).map_err(|e| config.invalid(e.setting, e.message))
}

/// The services' settings; `object_storage` when the driver is S3.
fn settings(config: &Config, object_storage: bool) -> Settings {
    Settings {
        delete_enabled: config.storage.delete.enabled,
        catalog_max_entries: config.catalog.maxentries,
        redirect: object_storage && !config.storage.redirect.disable,
        indexed_listing: object_storage,
        gc_settle_period: config.storage.gc.settleperiod.get(),
        quotas: config.quotas.clone(),
        trash_period: config.retention.trashperiod.get(),
    }
}

/// Why the start-up preflight refused to serve.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// A storage setting is unusable: the S3 client cannot be built, or the bucket does not answer to
    /// the credentials.
    #[error(transparent)]
    Setting(#[from] ConfigError),
    /// The storage cannot be written; one line naming the storage, the user the process runs as and
    /// the fix.
    #[error("{0}")]
    NotWritable(String),
}

impl From<PreflightError> for std::io::Error {
    fn from(e: PreflightError) -> Self {
        match e {
            // Kept as the inner error, so that callers still see a configuration error.
            PreflightError::Setting(e) => std::io::Error::other(e),
            PreflightError::NotWritable(message) => std::io::Error::other(message),
        }
    }
}

/// The start-up preflight: builds the registry over the configured storage, once, and checks that the
/// storage is usable before anything is served. For S3, the bucket must exist and answer to the
/// credentials (the error names the setting to fix). With `write_probe`, unless in read-only mode,
/// the storage must also take a write as a push makes it. The registry is then handed to
/// [`serve_registry`].
pub async fn preflight(config: &Config, write_probe: bool) -> Result<Registry, PreflightError> {
    let driver = config.driver()?;
    let registry = match &driver {
        Driver::S3(s3) => {
            let storage = s3_storage(config, s3)?;
            storage
                .check()
                .await
                .map_err(|e| config.invalid(e.setting, e.message))?;
            Registry::new(Arc::new(storage), settings(config, true))
        }
        Driver::Filesystem(_) | Driver::InMemory => registry(config)?,
    };
    if !write_probe || config.storage.maintenance.readonly.enabled {
        return Ok(registry);
    }
    let Err(e) = registry.check_writable().await else {
        return Ok(registry);
    };
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    Err(PreflightError::NotWritable(match driver {
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
    }))
}

/// The application's state and HTTP options for a configuration, over `registry`. With authentication
/// configured, a missing htpasswd file is created here.
pub fn state(
    config: &Config,
    registry: Registry,
) -> Result<(Arc<AppState>, HttpOptions), ConfigError> {
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
            registry: Arc::new(registry),
            urls,
            auth,
            retention: retention_options(config)?,
        }),
        options,
    ))
}

/// The retention run the Wharf API previews and applies, as `wharf retention` runs it; `None` without
/// policies.
fn retention_options(config: &Config) -> Result<Option<GcOptions>, ConfigError> {
    if config.retention.policies.is_empty() {
        return Ok(None);
    }
    let policies = Policies::new(&config.retention)
        .map_err(|e| config.invalid("retention.policies", e.to_string()))?;
    Ok(Some(GcOptions {
        dry_run: false,
        delete_untagged: false,
        grace_period: config.storage.gc.graceperiod.get(),
        retention: Some(Arc::new(policies)),
        confirmed: None,
        pace: Pace::percent(config.storage.gc.cpupercent),
    }))
}

/// Serves the registry on `listener` until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, config, ServeOptions::default(), shutdown).await
}

/// [`serve`], with the background jobs and debug server adjusted by `options`. In process (tests,
/// embedders) the preflight skips the write probe that `wharf serve` runs.
pub async fn serve_with(
    listener: TcpListener,
    config: Config,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let registry = preflight(&config, false).await?;
    serve_registry(listener, config, registry, options, shutdown).await
}

/// Serves `registry`, which passed the [`preflight`] for `config`, on `listener` until `shutdown`
/// completes, then drains for at most `http.draintimeout`.
pub async fn serve_registry(
    listener: TcpListener,
    config: Config,
    registry: Registry,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (state, http) = state(&config, registry).map_err(std::io::Error::other)?;
    state
        .registry
        .start_catalog_index()
        .await
        .map_err(std::io::Error::other)?;
    let running = ops::start(&config, state.clone(), options).await?;
    let registry_state = state.clone();
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
    let served = ops::drain::serve(server, handle.clone(), connections, drain, shutdown).await;
    if !config.storage.maintenance.readonly.enabled {
        if let Err(e) = registry_state.registry.flush_pulls().await {
            tracing::warn!(error = %e, "writing last-pull records at shutdown failed");
        }
    }
    match registry_state.registry.retire_writer().await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            "writes still in flight at shutdown: this process's writer record stays, and garbage collections settle for it until it is taken for dead"
        ),
        Err(e) => tracing::warn!(error = %e, "removing this process's writer record at shutdown failed"),
    }
    served
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

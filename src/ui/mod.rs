//! The web UI: server-rendered pages for browsing and cleaning up a registry. Two ways to serve it:
//! `wharf ui` ([`router`]) puts it at `/` in front of any registry, plus a `/v2/` proxy so the UI's
//! host doubles as the registry endpoint; `wharf serve` with `ui.enabled` ([`embedded::mount`])
//! mounts it under a path beside its own API. Either way it talks to the registry only through the
//! plain registry HTTP API ([`upstream`]), forwarding the browser's credentials on every call
//! (exchanged for a token where the registry wants one, [`token`]) without storing them.
//!
//! Layout: [`args`]/[`config`] (settings) → [`routes`] (page addresses) → [`pages`] (handlers and
//! templates) → [`inspect`] (image facts, cached by digest) → [`upstream`] (HTTP client);
//! [`proxy`] and [`assets`] stand beside the pages. Templates live in `src/ui/templates`.

pub mod args;
mod assets;
pub mod config;
pub mod embedded;
pub mod error;
pub mod inspect;
pub mod model;
pub mod pages;
pub mod proxy;
pub mod routes;
pub mod token;
pub mod upstream;
pub mod upstream_tls;
pub mod wharf;
pub mod wire;

use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, RawForm, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::{Redirect, Response};
use axum::routing::{any, get};
use axum::Router;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::HttpConfig;
use crate::connections::{self, Limited, Limits};
use axum_server::accept::DefaultAcceptor;

pub use args::UiArgs;
pub use config::{Theme, UiConfig};
pub use error::UiError;

use inspect::Inspector;
use pages::delete::Form;
use routes::{Links, RepoRoute};
use upstream::Upstream;

/// What the UI's handlers share.
#[derive(Debug)]
pub struct UiState {
    /// The settings.
    pub config: UiConfig,
    /// The pages' addresses under the base path.
    pub links: Links,
    /// Image facts from the upstream.
    pub inspector: Inspector,
    /// The client for `/v2/` pass-through.
    pub proxy: reqwest::Client,
}

/// Content-Security-Policy of the pages: only the UI's own stylesheet and script.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The router of `wharf ui`: pages, assets and the `/v2/` proxy, over the network.
pub fn router(config: UiConfig) -> Result<Router, UiError> {
    let upstream = Upstream::new(&config.upstream, &config.upstream_tls)?;
    let state = ui_state(config, upstream)?;
    let registry = Router::new()
        .route("/v2", any(proxy::forward))
        .route("/v2/", any(proxy::forward))
        .route("/v2/{*rest}", any(proxy::forward));
    // The `/v2/` proxy's answers are no more sniffable than the pages'.
    Ok(pages(state.links.home())
        .merge(registry)
        .with_state(state)
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        )))
}

fn ui_state(config: UiConfig, upstream: Upstream) -> Result<Arc<UiState>, UiError> {
    Ok(Arc::new(UiState {
        links: Links::new(&config.base_path),
        inspector: Inspector::new(upstream),
        proxy: proxy::client(&config.upstream_tls)?,
        config,
    }))
}

/// The pages and assets under `base`; `base` without its trailing `/` redirects to it.
fn pages(base: &str) -> Router<Arc<UiState>> {
    let mut router = Router::new()
        .route(base, get(pages::catalog::page))
        .route(&format!("{base}disk"), get(pages::disk::page))
        .route(
            &format!("{base}retention"),
            get(pages::retention::page)
                .post(pages::retention::apply)
                .layer(DefaultBodyLimit::max(pages::retention::MAX_FORM)),
        )
        .route(
            &format!("{base}trash"),
            get(pages::trash::page).post(pages::trash::restore),
        )
        .route(&format!("{base}r/{{*path}}"), get(repo_get).post(repo_post))
        .route(&format!("{base}assets/{{file}}"), get(assets::serve));
    if let Some(bare) = base.strip_suffix('/').filter(|b| !b.is_empty()) {
        let to = Redirect::permanent(base);
        router = router.route(bare, get(move || std::future::ready(to.clone())));
    }
    router
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(axum::middleware::map_request(authority_as_host))
}

/// HTTP/2 carries the host in the `:authority` pseudo-header, not `Host`: copies it to `Host`, which
/// the pull command and the same-origin check of forms read.
async fn authority_as_host(mut request: Request) -> Request {
    if !request.headers().contains_key(header::HOST) {
        let authority = request.uri().authority().map(|a| a.as_str().to_string());
        if let Some(value) = authority.and_then(|a| HeaderValue::from_str(&a).ok()) {
            request.headers_mut().insert(header::HOST, value);
        }
    }
    request
}

/// Serves the UI on `listener` until `shutdown` completes, then drains it as the registry drains
/// ([`crate::ops::drain`]). The connections are under the registry's default limits
/// ([`crate::connections`]), and the drain under its default `http.draintimeout`.
pub async fn serve_ui(
    listener: TcpListener,
    config: UiConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(config).map_err(std::io::Error::other)?;
    let http = HttpConfig::default();
    let limits = Limits::new(&http, connections::raise_fd_limit());
    let handle = axum_server::Handle::new();
    let service = Limited::new(app.into_make_service(), &limits);
    let connections = service.connections();
    let mut server = axum_server::from_tcp(listener.into_std()?)?
        .acceptor(connections::Acceptor::new(DefaultAcceptor, &limits))
        .handle(handle.clone());
    limits.configure(server.http_builder());
    let drain = http.draintimeout.get();
    crate::ops::drain::serve(server.serve(service), handle, connections, drain, shutdown).await
}

fn not_found(path: &str) -> UiError {
    UiError::NotFound(format!("no page at /r/{path}"))
}

async fn repo_get(
    State(state): State<Arc<UiState>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let field = |key: &str| query.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let result = match routes::parse(&path) {
        Some(RepoRoute::Repository(name)) => {
            let q = pages::repository::RepoQuery::new(field("sort"), field("page"));
            pages::repository::page(&state, &headers, &name, q).await
        }
        Some(RepoRoute::Tag(name, tag)) => {
            let q = pages::tag::TagQuery::new(field("platform"));
            pages::tag::page(&state, &headers, &name, &tag, q).await
        }
        Some(RepoRoute::DeleteRepository(name)) => {
            pages::delete::confirm_repository(&state, &headers, &name).await
        }
        Some(RepoRoute::Delete(_)) | None => Err(not_found(&path)),
    };
    pages::finish(&state, result)
}

async fn repo_post(
    State(state): State<Arc<UiState>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    let form = Form::parse(&body);
    let result = match routes::parse(&path) {
        Some(RepoRoute::Delete(name)) => pages::delete::delete(&state, &headers, &name, form).await,
        Some(RepoRoute::DeleteRepository(name)) => {
            pages::delete::delete_repository(&state, &headers, &name, form).await
        }
        _ => Err(not_found(&path)),
    };
    pages::finish(&state, result)
}

//! Configured response headers (`http.headers`) and CORS.
//!
//! Every `/v2/` response, errors and authentication challenges included, carries the configured headers,
//! each value on its own line as distribution sends them. When `Access-Control-*` headers are
//! configured they become a CORS policy instead: preflight `OPTIONS` requests are answered without
//! credentials (registry:2 answers them 401, which breaks browser UIs), and a request's `Origin` is
//! echoed when it is allowed, so several origins work and no response carries two
//! `Access-Control-Allow-Origin` values.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Headers sent on `/v2/` responses.
#[derive(Debug, Clone, Default)]
pub struct ExtraHeaders {
    /// Each `(name, value)` is appended as its own header line.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The API's path prefix (`/v2` is under it).
    pub prefix: String,
}

/// Splits configured headers into plain headers and a CORS layer (when any `Access-Control-Allow-*`,
/// `-Expose-*` or `-Max-Age` header is configured).
pub fn split_cors(
    headers: Vec<(HeaderName, HeaderValue)>,
) -> (Vec<(HeaderName, HeaderValue)>, Option<CorsLayer>) {
    let is_cors = |n: &HeaderName| {
        let n = n.as_str();
        n.starts_with("access-control-allow-")
            || n == "access-control-expose-headers"
            || n == "access-control-max-age"
    };
    let (cors, plain): (Vec<_>, Vec<_>) = headers.into_iter().partition(|(n, _)| is_cors(n));
    if cors.is_empty() {
        return (plain, None);
    }
    let values = |name: &str| -> Vec<String> {
        cors.iter()
            .filter(|(n, _)| n.as_str() == name)
            .filter_map(|(_, v)| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    };
    let credentials = values("access-control-allow-credentials")
        .iter()
        .any(|v| v.eq_ignore_ascii_case("true"));
    let origins = values("access-control-allow-origin");
    let allow_origin = if origins.iter().any(|o| o == "*") {
        // `*` cannot be combined with credentials; echoing the origin is what such configs mean.
        if credentials {
            AllowOrigin::mirror_request()
        } else {
            AllowOrigin::any()
        }
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    let methods: Vec<Method> = values("access-control-allow-methods")
        .iter()
        .filter_map(|m| m.parse().ok())
        .collect();
    let names = |name: &str| -> Vec<HeaderName> {
        values(name).iter().filter_map(|h| h.parse().ok()).collect()
    };
    let mut layer = CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods(if methods.is_empty() {
            vec![Method::GET, Method::HEAD, Method::OPTIONS]
        } else {
            methods
        })
        .allow_headers(names("access-control-allow-headers"))
        .expose_headers(names("access-control-expose-headers"))
        .allow_credentials(credentials);
    if let Some(age) = values("access-control-max-age")
        .first()
        .and_then(|a| a.parse::<u64>().ok())
    {
        layer = layer.max_age(Duration::from_secs(age));
    }
    (plain, Some(layer))
}

/// Middleware adding the configured headers to `/v2/` responses.
pub async fn add_headers(
    State(extra): State<Arc<ExtraHeaders>>,
    request: Request,
    next: Next,
) -> Response {
    let api = request
        .uri()
        .path()
        .strip_prefix(extra.prefix.as_str())
        .is_some_and(|p| p == "/v2" || p.starts_with("/v2/"));
    let mut response = next.run(request).await;
    if api {
        for (name, value) in &extra.headers {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    response
}

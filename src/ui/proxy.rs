//! `/v2/*` passed through to the upstream registry, so the UI's host is also a registry endpoint
//! (`docker push ui-host/...`) and the browser never needs CORS. Bodies stream both ways with no size
//! cap and no buffering; the browser's `Host` is forwarded (as joxit's nginx does), so the upstream
//! builds upload `Location`s that point back at the UI. Redirects (e.g. to object storage) are passed
//! to the client, not followed.

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use std::sync::Arc;

use super::error::UiError;
use super::upstream_tls::{self, UpstreamTls};
use super::UiState;

/// Headers that belong to one connection and are never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The client used for proxying: no redirects followed, no overall timeout (uploads can be long).
pub fn client(tls: &UpstreamTls) -> Result<reqwest::Client, UiError> {
    tls.apply(
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(10)),
    )?
    .build()
    .map_err(|e| UiError::Config(format!("HTTP client: {e}")))
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Forwards one request to the upstream and streams the answer back.
pub async fn forward(State(state): State<Arc<UiState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/v2/", |p| p.as_str());
    let url = format!("{}{path}", state.config.upstream);
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    // A reverse proxy in front of the UI (TLS termination) may have set these already; keep its.
    if let Some(host) = headers.get(header::HOST).cloned() {
        headers
            .entry(HeaderName::from_static("x-forwarded-host"))
            .or_insert(host);
    }
    headers
        .entry(HeaderName::from_static("x-forwarded-proto"))
        .or_insert(HeaderValue::from_static("http"));
    let mut forwarded = state.proxy.request(parts.method, url).headers(headers);
    if !body.is_end_stream() {
        forwarded = forwarded.body(reqwest::Body::wrap_stream(body.into_data_stream()));
    }
    let upstream = forwarded.send().await;
    let upstream = match upstream {
        Ok(r) => r,
        Err(e) => {
            let cause = upstream_tls::describe(&e, &state.config.upstream);
            tracing::warn!(error = %cause, "proxy: upstream request failed");
            let body = serde_json::json!({"errors": [{"code": "UNAVAILABLE", "message": cause}]});
            return (
                StatusCode::BAD_GATEWAY,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response();
        }
    };
    let status = upstream.status();
    let mut headers = upstream.headers().clone();
    strip_hop_by_hop(&mut headers);
    relative_location(&mut headers, &state.config.upstream);
    let mut response = Response::new(Body::from_stream(
        upstream.bytes_stream().map_err(std::io::Error::other),
    ));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// A `Location` naming the upstream's own address (a registry configured with `http.host` of its
/// internal name) is made relative, so clients come back through the UI.
fn relative_location(headers: &mut HeaderMap, upstream: &str) {
    let Some(location) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok()) else {
        return;
    };
    if let Some(rest) = location.strip_prefix(upstream) {
        if rest.starts_with('/') {
            if let Ok(v) = HeaderValue::from_str(rest) {
                headers.insert(header::LOCATION, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connection-scoped headers, including those named in `Connection`, are dropped.
    #[test]
    fn hop_by_hop() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic eA=="),
        );
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key(header::AUTHORIZATION));
    }

    /// Locations on the upstream's address become relative; others are left alone.
    #[test]
    fn locations() {
        let mut h = HeaderMap::new();
        h.insert(
            header::LOCATION,
            HeaderValue::from_static("http://registry:5000/v2/a/blobs/uploads/x"),
        );
        relative_location(&mut h, "http://registry:5000");
        assert_eq!(h[header::LOCATION], "/v2/a/blobs/uploads/x");
        h.insert(
            header::LOCATION,
            HeaderValue::from_static("https://s3.example/bucket/x"),
        );
        relative_location(&mut h, "http://registry:5000");
        assert_eq!(h[header::LOCATION], "https://s3.example/bucket/x");
    }
}

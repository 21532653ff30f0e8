//! The access log: one `wharf::access` line per request with method, path, status, response bytes (a
//! number, left out when the length is not known in advance), duration in milliseconds to a tenth,
//! user, and the client's address (recorded by [`crate::api::client_addr`], behind trusted proxies
//! the address they forward). The query string is left out and no header is logged, so no credential or token
//! reaches the log. The span's `user` field is empty until authentication records the user in it
//! (`tracing::Span::current().record("user", name)`).

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, Response};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{
    DefaultOnBodyChunk, DefaultOnEos, DefaultOnFailure, DefaultOnRequest, TraceLayer,
};
use tracing::Span;

/// The access log layer.
pub type AccessLog = TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    fn(&Request<Body>) -> Span,
    DefaultOnRequest,
    fn(&Response<Body>, Duration, &Span),
    DefaultOnBodyChunk,
    DefaultOnEos,
    DefaultOnFailure,
>;

fn span(request: &Request<Body>) -> Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        route = tracing::field::Empty,
        client = tracing::field::Empty,
        user = tracing::field::Empty,
    )
}

/// Milliseconds, to a tenth.
fn rounded_ms(latency: Duration) -> f64 {
    (latency.as_secs_f64() * 10_000.0).round() / 10.0
}

fn on_response(response: &Response<Body>, latency: Duration, _span: &Span) {
    let status = response.status().as_u16();
    let duration_ms = rounded_ms(latency);
    let bytes = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A streamed body of unknown length has no byte count to log.
    match bytes {
        Some(bytes) => {
            tracing::info!(target: "wharf::access", status, bytes, duration_ms, "access")
        }
        None => tracing::info!(target: "wharf::access", status, duration_ms, "access"),
    }
}

/// A layer logging every request once its response starts.
pub fn layer() -> AccessLog {
    TraceLayer::new_for_http()
        .make_span_with(span as fn(&Request<Body>) -> Span)
        .on_response(on_response as fn(&Response<Body>, Duration, &Span))
}

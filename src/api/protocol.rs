//! HTTP rules that hold for every response of `wharf serve`, registry API and UI alike: an HTTP/1.1
//! request without `Host` is refused (RFC 9112 §3.2), and no response may be content-sniffed by a
//! browser (`X-Content-Type-Options: nosniff`), so nothing a client stored can be rendered as a page
//! on the registry's origin.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode, Version};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use super::{ApiError, Code};

/// `app` with the rules applied, outermost: they cover the errors of every inner layer too.
pub fn apply(app: Router) -> Router {
    app.layer(axum::middleware::from_fn(require_host))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}

/// Refuses an HTTP/1.1 request without a `Host` header with a 400. HTTP/1.0 needs none, and HTTP/2
/// names the host in `:authority`.
async fn require_host(request: Request, next: Next) -> Response {
    if request.version() == Version::HTTP_11 && !request.headers().contains_key(header::HOST) {
        return ApiError::new(
            Code::Unsupported,
            "an HTTP/1.1 request must have a Host header (RFC 9112 section 3.2)",
        )
        .with_status(StatusCode::BAD_REQUEST)
        .into_response();
    }
    next.run(request).await
}

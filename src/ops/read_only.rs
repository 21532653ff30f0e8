//! Read-only mode (`storage.maintenance.readonly.enabled`): every write under `/v2/` (`POST`, `PATCH`,
//! `PUT`, `DELETE`) is answered 405 `UNSUPPORTED`; reads go on. Used for maintenance windows and for
//! replicas that only serve pulls.

use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::{ApiError, Code};

/// Middleware refusing writes.
pub async fn refuse_writes(request: Request, next: Next) -> Response {
    let write = matches!(
        *request.method(),
        Method::POST | Method::PATCH | Method::PUT | Method::DELETE
    );
    if write && request.uri().path().starts_with("/v2/") {
        return ApiError::new(
            Code::Unsupported,
            "the registry is read-only (storage.maintenance.readonly.enabled): pushes and deletes are refused, pulls work",
        )
        .into_response();
    }
    next.run(request).await
}

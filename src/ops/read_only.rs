//! Read-only mode (`storage.maintenance.readonly.enabled`): every API request that writes or deletes
//! (by its [`Endpoint`]'s access, so under any `http.prefix`) is answered 405 `UNSUPPORTED`; reads go
//! on. Used for maintenance windows and for replicas that only serve pulls.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::endpoint::{Access, Endpoint};
use crate::api::{ApiError, Code};

/// Middleware refusing writes.
pub async fn refuse_writes(request: Request, next: Next) -> Response {
    let access = request
        .extensions()
        .get::<Endpoint>()
        .and_then(Endpoint::access);
    if matches!(access, Some(Access::Write | Access::Delete)) {
        return ApiError::new(
            Code::Unsupported,
            "the registry is read-only (storage.maintenance.readonly.enabled): pushes and deletes are refused, pulls work",
        )
        .into_response();
    }
    next.run(request).await
}

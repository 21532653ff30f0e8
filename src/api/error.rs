//! The API's error: an OCI error code, its HTTP status and JSON body, all mapping in this one file.
//! Internal failures are logged here and answered with a bare 500.
//!
//! Codes: <https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes>.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::route::RouteError;
use crate::registry::error::RegistryError;

/// An OCI error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// `BLOB_UNKNOWN`.
    BlobUnknown,
    /// `BLOB_UPLOAD_INVALID`.
    BlobUploadInvalid,
    /// `BLOB_UPLOAD_UNKNOWN`.
    BlobUploadUnknown,
    /// `DIGEST_INVALID`.
    DigestInvalid,
    /// `MANIFEST_BLOB_UNKNOWN`.
    ManifestBlobUnknown,
    /// `MANIFEST_INVALID`.
    ManifestInvalid,
    /// `MANIFEST_UNKNOWN`.
    ManifestUnknown,
    /// `NAME_INVALID`.
    NameInvalid,
    /// `NAME_UNKNOWN`.
    NameUnknown,
    /// `SIZE_INVALID`.
    SizeInvalid,
    /// `TAG_INVALID`.
    TagInvalid,
    /// `UNSUPPORTED`.
    Unsupported,
    /// `RANGE_INVALID` (distribution's code for 416).
    RangeInvalid,
    /// `PAGINATION_NUMBER_INVALID`.
    PaginationNumberInvalid,
    /// `NOT_FOUND`: no such endpoint.
    NotFound,
    /// `UNAUTHORIZED`: credentials are missing or wrong.
    Unauthorized,
    /// `DENIED`: the authenticated client may not do this.
    Denied,
    /// `TOOMANYREQUESTS`: too many failed logins from this client.
    TooManyRequests,
    /// `UNKNOWN`: an internal error.
    Unknown,
    /// `UNAVAILABLE`: a health check is failing (distribution's code for 503).
    Unavailable,
}

impl Code {
    /// The code as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::SizeInvalid => "SIZE_INVALID",
            Code::TagInvalid => "TAG_INVALID",
            Code::Unsupported => "UNSUPPORTED",
            Code::RangeInvalid => "RANGE_INVALID",
            Code::PaginationNumberInvalid => "PAGINATION_NUMBER_INVALID",
            Code::NotFound => "NOT_FOUND",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Denied => "DENIED",
            Code::TooManyRequests => "TOOMANYREQUESTS",
            Code::Unknown => "UNKNOWN",
            Code::Unavailable => "UNAVAILABLE",
        }
    }

    /// The status the code is sent with unless the error says otherwise.
    pub fn status(self) -> StatusCode {
        match self {
            Code::BlobUnknown
            | Code::BlobUploadUnknown
            | Code::ManifestUnknown
            | Code::NameUnknown
            | Code::NotFound => StatusCode::NOT_FOUND,
            Code::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::Denied => StatusCode::FORBIDDEN,
            Code::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Code::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
            Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    code: Code,
    status: StatusCode,
    message: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// A push refused by a quota, reported to layers outside the API.
    quota_refused: bool,
}

impl ApiError {
    /// An error with the code's usual status.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            status: code.status(),
            message: message.into(),
            headers: Vec::new(),
            quota_refused: false,
        }
    }

    /// Overrides the status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds a response header (ignored when the value is not a valid header value).
    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    /// The error's code.
    pub fn code(&self) -> Code {
        self.code
    }
}

#[derive(Serialize)]
struct Body<'a> {
    errors: [Entry<'a>; 1],
}

#[derive(Serialize)]
struct Entry<'a> {
    code: &'static str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            errors: [Entry {
                code: self.code.as_str(),
                message: &self.message,
            }],
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        for (name, value) in self.headers {
            response.headers_mut().append(name, value);
        }
        if self.quota_refused {
            response
                .extensions_mut()
                .insert(super::events::QuotaRefused);
        }
        response
    }
}

impl From<RouteError> for ApiError {
    fn from(e: RouteError) -> Self {
        match e {
            RouteError::NotFound => ApiError::new(Code::NotFound, "no such endpoint"),
            RouteError::Name(e) => ApiError::new(Code::NameInvalid, e.to_string()),
            RouteError::Tag(e) => ApiError::new(Code::TagInvalid, e.to_string()),
            RouteError::Digest(e) => ApiError::new(Code::DigestInvalid, e.to_string()),
            RouteError::UploadId => ApiError::new(
                Code::BlobUploadUnknown,
                "upload id is not one this registry issued",
            ),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        let message = e.to_string();
        let code = match e {
            RegistryError::BlobUnknown(_) => Code::BlobUnknown,
            RegistryError::BlobUploadUnknown => Code::BlobUploadUnknown,
            RegistryError::BlobUploadInvalid(_) => Code::BlobUploadInvalid,
            RegistryError::DigestInvalid(_) => Code::DigestInvalid,
            RegistryError::RangeInvalid { current } => {
                let end = current.saturating_sub(1);
                return ApiError::new(Code::RangeInvalid, message)
                    .with_header(axum::http::header::RANGE, &format!("0-{end}"));
            }
            RegistryError::SizeInvalid(_) => Code::SizeInvalid,
            RegistryError::ManifestUnknown(_) => Code::ManifestUnknown,
            RegistryError::ManifestInvalid(_) => Code::ManifestInvalid,
            RegistryError::ManifestBlobUnknown(_) => Code::ManifestBlobUnknown,
            RegistryError::NameUnknown => Code::NameUnknown,
            RegistryError::Unsupported(_) => Code::Unsupported,
            RegistryError::PaginationNumberInvalid { .. } => Code::PaginationNumberInvalid,
            RegistryError::Unavailable(_) => Code::Unavailable,
            RegistryError::Denied(_) => {
                let mut refused = ApiError::new(Code::Denied, message);
                refused.quota_refused = true;
                return refused;
            }
            RegistryError::Storage(e) => {
                tracing::error!(error = %e, "storage failure");
                return ApiError::new(Code::Unknown, "internal server error");
            }
            RegistryError::Corrupt(e) => {
                tracing::error!(error = %e, "unreadable stored data");
                return ApiError::new(Code::Unknown, "internal server error");
            }
        };
        ApiError::new(code, message)
    }
}

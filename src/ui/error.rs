//! The UI's errors and how each is shown: a page with a clear message and a fitting status. A 401
//! from the upstream becomes a 401 with a Basic challenge so the browser asks for credentials and
//! sends them on the next request (they are forwarded, never stored).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// Why a page could not be shown.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UiError {
    /// The upstream wants credentials (or rejected the ones sent).
    #[error("the registry needs you to sign in")]
    Unauthorized {
        /// The upstream asked for a Bearer token rather than Basic credentials.
        bearer: bool,
    },
    /// The upstream refused the operation for these credentials.
    #[error("the registry refused: {0}")]
    Forbidden(String),
    /// A repository, tag or manifest does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The upstream does not support the operation (e.g. deleting by tag, deletes disabled).
    #[error("the registry does not support this: {0}")]
    Unsupported(String),
    /// The upstream lacks Wharf's API extension (`/v2/_wharf/`), which the disk, retention and trash
    /// pages read: it is not Wharf.
    #[error("the registry has no Wharf API extension (/v2/_wharf/{0})")]
    NotWharf(String),
    /// The upstream failed, could not be reached or sent something unexpected.
    #[error("{0}")]
    Upstream(String),
    /// The request itself is not valid (unknown page, bad form).
    #[error("{0}")]
    BadRequest(String),
    /// The UI is configured wrongly.
    #[error("configuration: {0}")]
    Config(String),
}

impl UiError {
    /// The HTTP status shown for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            UiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            UiError::Forbidden(_) => StatusCode::FORBIDDEN,
            UiError::NotFound(_) => StatusCode::NOT_FOUND,
            UiError::Unsupported(_) => StatusCode::METHOD_NOT_ALLOWED,
            UiError::NotWharf(_) => StatusCode::NOT_IMPLEMENTED,
            UiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            UiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            UiError::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A sentence for the error page, with what to do about it.
    pub fn advice(&self) -> &'static str {
        match self {
            UiError::Unauthorized { bearer: true } => {
                "The registry uses token authentication; sign in with the user name and password \
                 the token service accepts."
            }
            UiError::Unauthorized { bearer: false } => {
                "Sign in with your registry user name and password."
            }
            UiError::Forbidden(_) => "Your account is not allowed to do this.",
            UiError::NotFound(_) => "It may have been deleted, or the name is misspelt.",
            UiError::Unsupported(_) => {
                "Deleting needs storage.delete.enabled (REGISTRY_STORAGE_DELETE_ENABLED=true) on the \
                 registry; deleting a single tag needs a registry that supports OCI 1.1 tag deletion."
            }
            UiError::NotWharf(_) => {
                "The disk, retention and trash pages need a Wharf registry (wharf serve) as the                  upstream; the other pages work with any registry."
            }
            UiError::Upstream(_) => "Check that the registry is running and reachable from the UI.",
            UiError::BadRequest(_) => "Go back and try again.",
            UiError::Config(_) => "Fix the UI's settings and restart it.",
        }
    }
}

/// Renders an error as a page; the realm names the registry for the browser's sign-in prompt.
pub fn error_response(error: &UiError, page: String, realm: &str) -> Response {
    let mut response = (error.status(), Html(page)).into_response();
    if let UiError::Unauthorized { .. } = error {
        let realm = realm.replace(['"', '\\'], "");
        if let Ok(value) =
            HeaderValue::from_str(&format!("Basic realm=\"{realm}\", charset=\"UTF-8\""))
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
    }
    response
}

//! What passes between the UI and the registry below its client: the browser's credentials, forwarded
//! as they came, and the registry's JSON, parsed with a clear error.

use axum::http::HeaderValue;
use serde::Deserialize;

use super::error::UiError;

/// The browser's credentials for one request, forwarded as they came.
#[derive(Debug, Clone, Default)]
pub struct Credentials(pub Option<HeaderValue>);

/// Parses JSON from the registry, with a clear error when it is not what was expected.
pub fn parse_json<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, UiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| UiError::Upstream(format!("the registry sent unexpected JSON: {e}")))
}

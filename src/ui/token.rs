//! Token authentication (the Docker token specification) for the UI: when the registry answers 401
//! with `WWW-Authenticate: Bearer realm=...,service=...,scope=...`, the browser's Basic credentials
//! (or none, for an anonymous token) are exchanged at the realm for a token, which the request is
//! retried with. Challenges, answers and the token cache are [`crate::token_client`]'s; tokens are
//! kept in memory only, per credentials and scope.

use axum::http::{header, HeaderValue};

use super::error::UiError;
use super::wire::{parse_json, Credentials};
pub use crate::token_client::{Challenge, Tokens};
use crate::token_client::{Key, TokenAnswer, MAX_ANSWER};

/// The cache key of `auth`'s token for `scope`.
pub fn key(auth: &Credentials, scope: &str) -> Key {
    Key::new(auth.0.as_ref().map(|v| v.as_bytes()), scope)
}

/// Whether these credentials can be exchanged for a token: Basic ones, or none (anonymous).
pub fn exchangeable(auth: &Credentials) -> bool {
    match &auth.0 {
        None => true,
        Some(v) => v
            .as_bytes()
            .get(..6)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"basic ")),
    }
}

/// Asks the realm of `challenge` for a token with `auth`'s credentials.
pub async fn fetch(
    client: &reqwest::Client,
    auth: &Credentials,
    challenge: &Challenge,
) -> Result<(HeaderValue, std::time::Duration), UiError> {
    let mut request = client.get(&challenge.realm).query(&challenge.query());
    if let Some(basic) = &auth.0 {
        request = request.header(header::AUTHORIZATION, basic.clone());
    }
    let response = request.send().await.map_err(|e| {
        UiError::Upstream(format!(
            "cannot reach the token service {}: {e}",
            challenge.realm
        ))
    })?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(UiError::Unauthorized { bearer: true });
    }
    if !status.is_success() {
        return Err(UiError::Upstream(format!(
            "the token service {} answered {status}",
            challenge.realm
        )));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| UiError::Upstream(format!("reading the token: {e}")))?;
    if body.len() > MAX_ANSWER {
        return Err(UiError::Upstream("the token service sent too much".into()));
    }
    parse_json::<TokenAnswer>(&body)?
        .into_bearer()
        .map_err(|e| UiError::Upstream(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only Basic credentials, or none, are exchanged.
    #[test]
    fn exchangeable_credentials() {
        let basic = Credentials(Some(HeaderValue::from_static("Basic dTpw")));
        assert!(exchangeable(&basic));
        assert!(exchangeable(&Credentials(None)));
        assert!(!exchangeable(&Credentials(Some(HeaderValue::from_static(
            "Bearer abc"
        )))));
    }

    /// Tokens are kept per browser credentials.
    #[test]
    fn keys_by_credentials() {
        let alice = Credentials(Some(HeaderValue::from_static("Basic YWxpY2U6cA==")));
        let bob = Credentials(Some(HeaderValue::from_static("Basic Ym9iOnA=")));
        assert_ne!(key(&alice, "s"), key(&bob, "s"));
        assert_eq!(key(&alice, "s"), key(&alice, "s"));
    }
}

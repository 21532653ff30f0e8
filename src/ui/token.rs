//! Token authentication (the Docker token specification): when the registry answers 401 with
//! `WWW-Authenticate: Bearer realm=...,service=...,scope=...`, the browser's Basic credentials (or
//! none, for an anonymous token) are exchanged at the realm for a token, which the request is retried
//! with. Tokens are kept in memory only, per credentials and scope, for their `expires_in`, in a
//! bounded cache; credentials are keyed by a hash, never kept.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderValue};
use serde::Deserialize;

use super::error::UiError;
use super::wire::{parse_json, Credentials};

/// Tokens remembered before the expired ones are dropped, and, if still full, all of them.
const CACHE_LIMIT: usize = 1024;

/// Lifetime of a token whose answer gives no `expires_in` (the specification's default).
const DEFAULT_LIFETIME: u64 = 60;

/// Largest token answer read.
const MAX_ANSWER: usize = 64 * 1024;

/// A `Bearer` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The token endpoint.
    pub realm: String,
    /// The registry's name at the token endpoint.
    pub service: Option<String>,
    /// The access the request needs, space-separated scopes.
    pub scope: Option<String>,
}

impl Challenge {
    /// The `Bearer` challenge among those of a `WWW-Authenticate` value, if there is one with a realm.
    pub fn parse(value: &str) -> Option<Challenge> {
        let challenges = http_auth::parse_challenges(value).ok()?;
        let bearer = challenges
            .into_iter()
            .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))?;
        let param = |name: &str| {
            bearer
                .params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_unescaped())
        };
        Some(Challenge {
            realm: param("realm").filter(|r| !r.is_empty())?,
            service: param("service"),
            scope: param("scope"),
        })
    }

    /// The challenge of a 401 response, if it asks for a token.
    pub fn of(response: &reqwest::Response) -> Option<Challenge> {
        response
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(Challenge::parse)
    }
}

/// What a token endpoint answers.
#[derive(Debug, Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenAnswer {
    /// The `Authorization` value and how long to keep it (a tenth less than it lives).
    fn into_bearer(self) -> Result<(HeaderValue, Duration), UiError> {
        let token = self
            .token
            .or(self.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| UiError::Upstream("the token service sent no token".into()))?;
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| UiError::Upstream("the token service sent an unusable token".into()))?;
        let lifetime = self.expires_in.unwrap_or(DEFAULT_LIFETIME);
        Ok((value, Duration::from_secs(lifetime - lifetime / 10)))
    }
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
) -> Result<(HeaderValue, Duration), UiError> {
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(service) = &challenge.service {
        query.push(("service", service));
    }
    for scope in challenge.scope.iter().flat_map(|s| s.split_whitespace()) {
        query.push(("scope", scope));
    }
    let mut request = client.get(&challenge.realm).query(&query);
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
    parse_json::<TokenAnswer>(&body)?.into_bearer()
}

/// Cache key: a hash of the credentials and the scope, so no password is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key([u8; 32]);

impl Key {
    /// The key of `auth`'s token for `scope`.
    pub fn new(auth: &Credentials, scope: &str) -> Key {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        hash.update(auth.0.as_ref().map_or(&b""[..], |v| v.as_bytes()));
        hash.update([0]);
        hash.update(scope.as_bytes());
        Key(hash.finalize().into())
    }
}

/// Tokens by credentials and scope, until they expire.
#[derive(Debug, Default)]
pub struct Tokens {
    entries: Mutex<HashMap<Key, (HeaderValue, Instant)>>,
}

impl Tokens {
    /// The `Authorization` value of a live token, if one is cached.
    pub fn get(&self, key: &Key) -> Option<HeaderValue> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(value, _)| value.clone())
    }

    /// Keeps a token for `lifetime`.
    pub fn insert(&self, key: Key, value: HeaderValue, lifetime: Duration) {
        if lifetime.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_LIMIT {
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= CACHE_LIMIT {
                entries.clear();
            }
        }
        entries.insert(key, (value, now + lifetime));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Realm, service and scope are read from a Bearer challenge, quoted or not, among others.
    #[test]
    fn challenges() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.realm, "https://auth.example/token");
        assert_eq!(c.service.as_deref(), Some("registry.example"));
        assert_eq!(c.scope.as_deref(), Some("repository:a/b:pull,push"));
        let c = Challenge::parse(r#"Basic realm="x", bearer realm="https://a/t""#).unwrap();
        assert_eq!((c.realm.as_str(), c.scope), ("https://a/t", None));
        assert_eq!(Challenge::parse(r#"Basic realm="Registry""#), None);
        assert_eq!(Challenge::parse("Bearer service=x"), None);
    }

    /// `token` or `access_token`; the lifetime defaults to 60 s and is kept a tenth shorter.
    #[test]
    fn answers() {
        let a: TokenAnswer = serde_json::from_str(r#"{"token":"t1","expires_in":300}"#).unwrap();
        let (value, life) = a.into_bearer().unwrap();
        assert_eq!(
            (value.to_str().unwrap(), life.as_secs()),
            ("Bearer t1", 270)
        );
        let a: TokenAnswer = serde_json::from_str(r#"{"access_token":"t2"}"#).unwrap();
        let (value, life) = a.into_bearer().unwrap();
        assert_eq!((value.to_str().unwrap(), life.as_secs()), ("Bearer t2", 54));
        let a: TokenAnswer = serde_json::from_str("{}").unwrap();
        assert!(a.into_bearer().is_err());
    }

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

    /// Tokens are per credentials and scope, expire, and the cache stays bounded.
    #[test]
    fn cache() {
        let tokens = Tokens::default();
        let alice = Credentials(Some(HeaderValue::from_static("Basic YWxpY2U6cA==")));
        let bob = Credentials(Some(HeaderValue::from_static("Basic Ym9iOnA=")));
        let token = HeaderValue::from_static("Bearer t");
        tokens.insert(
            Key::new(&alice, "s"),
            token.clone(),
            Duration::from_secs(60),
        );
        assert_eq!(tokens.get(&Key::new(&alice, "s")), Some(token.clone()));
        assert_eq!(tokens.get(&Key::new(&bob, "s")), None);
        assert_eq!(tokens.get(&Key::new(&alice, "other")), None);
        tokens.insert(Key::new(&bob, "s"), token.clone(), Duration::from_nanos(1));
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(tokens.get(&Key::new(&bob, "s")), None);
        for i in 0..CACHE_LIMIT * 2 {
            tokens.insert(
                Key::new(&alice, &i.to_string()),
                token.clone(),
                Duration::from_secs(60),
            );
        }
        assert!(tokens.entries.lock().unwrap().len() <= CACHE_LIMIT);
    }
}

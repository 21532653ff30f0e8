//! The client side of the Docker token specification, shared by every Wharf component that talks to a
//! registry with token authentication (the web UI, the pull-through cache): reading a `Bearer`
//! challenge, reading a token service's answer, and keeping tokens per credentials and scope until
//! they expire. Credentials are keyed by a hash, never kept. It knows nothing of who asks.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{header, HeaderValue};
use serde::Deserialize;

/// Tokens remembered before the expired ones are dropped, and, if still full, all of them.
const CACHE_LIMIT: usize = 1024;

/// Lifetime of a token whose answer gives no `expires_in` (the specification's default).
const DEFAULT_LIFETIME: u64 = 60;

/// Largest token answer read.
pub const MAX_ANSWER: usize = 64 * 1024;

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

    /// The token request's query: `service`, then each scope.
    pub fn query(&self) -> Vec<(&str, &str)> {
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = &self.service {
            query.push(("service", service));
        }
        for scope in self.scope.iter().flat_map(|s| s.split_whitespace()) {
            query.push(("scope", scope));
        }
        query
    }
}

/// What a token endpoint answers.
#[derive(Debug, Deserialize)]
pub struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenAnswer {
    /// The `Authorization` value and how long to keep it (a tenth less than it lives), or what is
    /// wrong with the answer.
    pub fn into_bearer(self) -> Result<(HeaderValue, Duration), &'static str> {
        let token = self
            .token
            .or(self.access_token)
            .filter(|t| !t.is_empty())
            .ok_or("the token service sent no token")?;
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "the token service sent an unusable token")?;
        let lifetime = self.expires_in.unwrap_or(DEFAULT_LIFETIME);
        // In milliseconds: whole seconds would keep a token of under 10 s until its very end.
        Ok((value, Duration::from_millis(lifetime.saturating_mul(900))))
    }
}

/// Cache key: a hash of the credentials and the scope, so no password is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key([u8; 32]);

impl Key {
    /// The key of the token for `scope` obtained with `credentials` (the `Authorization` value sent
    /// to the token service; `None` for an anonymous token).
    pub fn new(credentials: Option<&[u8]>, scope: &str) -> Key {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        hash.update(credentials.unwrap_or(b""));
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

    /// Forgets the token for `key` (the registry refused it before it expired).
    pub fn remove(&self, key: &Key) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(key);
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
        assert_eq!(
            c.query(),
            [
                ("service", "registry.example"),
                ("scope", "repository:a/b:pull,push")
            ]
        );
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
        let a: TokenAnswer = serde_json::from_str(r#"{"token":"t3","expires_in":2}"#).unwrap();
        assert_eq!(a.into_bearer().unwrap().1, Duration::from_millis(1800));
        let a: TokenAnswer = serde_json::from_str("{}").unwrap();
        assert!(a.into_bearer().is_err());
    }

    /// Tokens are per credentials and scope, expire, can be forgotten, and the cache stays bounded.
    #[test]
    fn cache() {
        let tokens = Tokens::default();
        let alice = Some(&b"Basic YWxpY2U6cA=="[..]);
        let bob = Some(&b"Basic Ym9iOnA="[..]);
        let token = HeaderValue::from_static("Bearer t");
        tokens.insert(Key::new(alice, "s"), token.clone(), Duration::from_secs(60));
        assert_eq!(tokens.get(&Key::new(alice, "s")), Some(token.clone()));
        assert_eq!(tokens.get(&Key::new(bob, "s")), None);
        assert_eq!(tokens.get(&Key::new(alice, "other")), None);
        tokens.remove(&Key::new(alice, "s"));
        assert_eq!(tokens.get(&Key::new(alice, "s")), None);
        tokens.insert(Key::new(bob, "s"), token.clone(), Duration::from_nanos(1));
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(tokens.get(&Key::new(bob, "s")), None);
        for i in 0..CACHE_LIMIT * 2 {
            tokens.insert(
                Key::new(alice, &i.to_string()),
                token.clone(),
                Duration::from_secs(60),
            );
        }
        assert!(tokens.entries.lock().unwrap().len() <= CACHE_LIMIT);
    }
}

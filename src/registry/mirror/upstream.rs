//! The mirror's client for its upstream registry: manifests and blobs by the registry HTTP API, with
//! the upstream's authentication: none, Basic, or the Docker token flow (a `Bearer` challenge is
//! answered by asking its realm for a token for the repository's `pull` scope, with the configured
//! credentials or anonymously; tokens are kept per scope until they expire, and a token the upstream
//! refuses is dropped and fetched again once).
//!
//! Every failure (unreachable, refused credentials, 429, 5xx, unexpected answers) is
//! `RegistryError::Unavailable`, so the mirror can serve what it has instead; a 404 is `None`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use http::{header, HeaderValue, StatusCode};
use reqwest::{Method, Url};
use serde::Deserialize;

use crate::registry::digest::Digest;
use crate::registry::error::{RegistryError, Result};
use crate::registry::manifest_format::KNOWN_TYPES;
use crate::registry::names::{Reference, RepoName};
use crate::storage::ByteStream;
use crate::token_client::{Challenge, Key, TokenAnswer, Tokens, MAX_ANSWER};

/// Largest manifest fetched, as the largest accepted in a push.
pub const MAX_MANIFEST: usize = 4 * 1024 * 1024;

/// How long a manifest or token request may take; blob bodies are not timed as a whole.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest page of an upstream's tag list.
const MAX_TAG_PAGE: usize = 4 * 1024 * 1024;

/// Most pages of an upstream's tag list followed.
const MAX_TAG_PAGES: usize = 100;

/// How long a blob download may go without receiving a byte.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A manifest as the upstream sent it.
#[derive(Debug)]
pub struct FetchedManifest {
    /// The exact bytes.
    pub bytes: Bytes,
    /// Its `Docker-Content-Digest`, when sent.
    pub digest: Option<Digest>,
}

/// A blob download in progress.
pub struct FetchedBlob {
    /// Its length, when the upstream declared it.
    pub size: Option<u64>,
    /// Its bytes as they arrive; an error when the transfer breaks.
    pub body: ByteStream,
}

/// One upstream registry and how to authenticate to it.
pub struct Upstream {
    client: reqwest::Client,
    /// The base URL, without a trailing `/`.
    base: String,
    /// `Basic ...` for the configured user, if any.
    basic: Option<HeaderValue>,
    /// Whether the upstream asked for Basic credentials (then they are sent with every request).
    wants_basic: AtomicBool,
    tokens: Tokens,
}

impl Upstream {
    /// A client for the registry at `base` (`https://registry-1.docker.io`), with optional credentials.
    pub fn new(base: &str, credentials: Option<(&str, &str)>) -> Result<Upstream> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION"), " (mirror)"))
            .build()
            .map_err(|e| RegistryError::Unavailable(format!("upstream HTTP client: {e}")))?;
        let basic = credentials.and_then(|(user, password)| {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            HeaderValue::from_str(&format!("Basic {encoded}")).ok()
        });
        Ok(Upstream {
            client,
            base: base.trim_end_matches('/').to_string(),
            basic,
            wants_basic: AtomicBool::new(false),
            tokens: Tokens::default(),
        })
    }

    /// The upstream's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The manifest `reference` of `name`, or `None` when the upstream has none.
    pub async fn manifest(
        &self,
        name: &RepoName,
        reference: &Reference,
    ) -> Result<Option<FetchedManifest>> {
        let path = format!("/v2/{name}/manifests/{reference}");
        let Some(response) = self.send(Method::GET, name, &path, true).await? else {
            return Ok(None);
        };
        let digest = content_digest(&response);
        if response
            .content_length()
            .is_some_and(|l| l > MAX_MANIFEST as u64)
        {
            return Err(self.unavailable(&path, "the manifest is larger than 4 MiB"));
        }
        let bytes = read_at_most(response, "the manifest", MAX_MANIFEST)
            .await
            .map_err(|why| self.unavailable(&path, &why))?;
        Ok(Some(FetchedManifest { bytes, digest }))
    }

    /// The digest the upstream's tag points at now (one `HEAD`, which Docker Hub does not count
    /// against pull limits); `Ok(None)` when the upstream does not have the tag, and `Ok(Some(None))`
    /// when it answers without a digest.
    pub async fn tag_digest(
        &self,
        name: &RepoName,
        reference: &Reference,
    ) -> Result<Option<Option<Digest>>> {
        let path = format!("/v2/{name}/manifests/{reference}");
        let response = self.send(Method::HEAD, name, &path, true).await?;
        Ok(response.map(|r| content_digest(&r)))
    }

    /// The size of blob `digest` of `name`, or `None` when the upstream does not have it.
    pub async fn blob_size(&self, name: &RepoName, digest: &Digest) -> Result<Option<u64>> {
        let path = format!("/v2/{name}/blobs/{digest}");
        let response = self.send(Method::HEAD, name, &path, false).await?;
        Ok(response.map(|r| r.content_length().unwrap_or(0)))
    }

    /// Starts downloading blob `digest` of `name` (redirects followed), or `None` when the upstream
    /// does not have it.
    pub async fn blob(&self, name: &RepoName, digest: &Digest) -> Result<Option<FetchedBlob>> {
        let path = format!("/v2/{name}/blobs/{digest}");
        let Some(response) = self.send(Method::GET, name, &path, false).await? else {
            return Ok(None);
        };
        let size = response.content_length();
        let body = response.bytes_stream().map_err(std::io::Error::other);
        Ok(Some(FetchedBlob {
            size,
            body: Box::pin(body),
        }))
    }

    /// Every tag of `name`, following the upstream's next-page links on its own origin, or `None`
    /// when the upstream does not have the repository.
    pub async fn tags(&self, name: &RepoName) -> Result<Option<Vec<String>>> {
        let mut path = format!("/v2/{name}/tags/list");
        let mut tags = Vec::new();
        for _ in 0..MAX_TAG_PAGES {
            let answer = tokio::time::timeout(REQUEST_TIMEOUT, async {
                let Some(response) = self.send(Method::GET, name, &path, false).await? else {
                    return Ok(None);
                };
                let next = response
                    .headers()
                    .get(header::LINK)
                    .and_then(|v| v.to_str().ok())
                    .and_then(crate::link_header::next_target)
                    .map(str::to_string);
                let body = read_at_most(response, "a tag-list page", MAX_TAG_PAGE)
                    .await
                    .map_err(|why| self.unavailable(&path, &why))?;
                let page: TagPage = serde_json::from_slice(&body)
                    .map_err(|e| self.unavailable(&path, &format!("unexpected JSON: {e}")))?;
                Ok::<_, RegistryError>(Some((page.tags.unwrap_or_default(), next)))
            })
            .await
            .map_err(|_| self.unavailable(&path, "no answer in time"))??;
            let Some((page, next)) = answer else {
                return Ok(None);
            };
            tags.extend(page);
            let Some(next) = next else {
                return Ok(Some(tags));
            };
            path = self.same_origin_path(&next).ok_or_else(|| {
                self.unavailable(&path, &format!("a next-page link elsewhere: {next}"))
            })?;
        }
        Err(self.unavailable(&path, &format!("more than {MAX_TAG_PAGES} pages of tags")))
    }

    /// The path of `link` (a path, or a URL on the upstream's own origin); `None` for another origin.
    fn same_origin_path(&self, link: &str) -> Option<String> {
        let base = Url::parse(&self.base).ok()?;
        let url = base.join(link).ok()?;
        if url.origin() != base.origin() {
            return None;
        }
        let path = url.path().strip_prefix(base.path().trim_end_matches('/'))?;
        Some(match url.query() {
            Some(query) => format!("{path}?{query}"),
            None => path.to_string(),
        })
    }

    fn unavailable(&self, path: &str, why: &str) -> RegistryError {
        RegistryError::Unavailable(format!("upstream {}{path}: {why}", self.base))
    }

    /// Sends one request, authenticating as the upstream asks: `None` for a 404, the response for a
    /// success, `Unavailable` for anything else.
    async fn send(
        &self,
        method: Method,
        name: &RepoName,
        path: &str,
        manifest: bool,
    ) -> Result<Option<reqwest::Response>> {
        let url = Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| self.unavailable(path, &e.to_string()))?;
        let scope = format!("repository:{name}:pull");
        let key = Key::new(self.basic.as_ref().map(|v| v.as_bytes()), &scope);
        let mut authorization = self.tokens.get(&key).or_else(|| {
            self.wants_basic
                .load(Ordering::Relaxed)
                .then(|| self.basic.clone())
                .flatten()
        });
        // At most: the request, once more with new credentials, once more with a fresh token.
        for _ in 0..3 {
            let mut request = self.client.request(method.clone(), url.clone());
            if manifest {
                request = request
                    .header(header::ACCEPT, KNOWN_TYPES.join(", "))
                    .timeout(REQUEST_TIMEOUT);
            }
            if let Some(a) = &authorization {
                request = request.header(header::AUTHORIZATION, a.clone());
            }
            let response = request
                .send()
                .await
                .map_err(|e| self.unavailable(path, &format!("cannot reach it: {e}")))?;
            let status = response.status();
            if status.is_success() {
                return Ok(Some(response));
            }
            if status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if status != StatusCode::UNAUTHORIZED {
                return Err(self.unavailable(path, &format!("it answered {status}")));
            }
            let sent_token = authorization
                .as_ref()
                .is_some_and(|a| a.as_bytes().starts_with(b"Bearer "));
            if sent_token {
                self.tokens.remove(&key);
            }
            if let Some(challenge) = Challenge::of(&response) {
                let challenge = Challenge {
                    scope: challenge.scope.or(Some(scope.clone())),
                    ..challenge
                };
                let (token, lifetime) = self.fetch_token(&challenge).await?;
                self.tokens.insert(key, token.clone(), lifetime);
                authorization = Some(token);
            } else if self.basic.is_some() && authorization != self.basic {
                self.wants_basic.store(true, Ordering::Relaxed);
                authorization = self.basic.clone();
            } else {
                break;
            }
        }
        Err(self.unavailable(
            path,
            "it refused the credentials (check proxy.username and proxy.password)",
        ))
    }

    /// Asks the token service of `challenge` for a token, with the configured credentials if any.
    async fn fetch_token(&self, challenge: &Challenge) -> Result<(HeaderValue, Duration)> {
        let realm = &challenge.realm;
        let failed = |why: String| {
            RegistryError::Unavailable(format!("the upstream's token service {realm}: {why}"))
        };
        let mut request = self
            .client
            .get(realm)
            .query(&challenge.query())
            .timeout(REQUEST_TIMEOUT);
        if let Some(basic) = &self.basic {
            request = request.header(header::AUTHORIZATION, basic.clone());
        }
        let response = request
            .send()
            .await
            .map_err(|e| failed(format!("cannot reach it: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(format!("it answered {status}")));
        }
        let body: Bytes = response.bytes().await.map_err(|e| failed(e.to_string()))?;
        if body.len() > MAX_ANSWER {
            return Err(failed("it sent too much".into()));
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|e| failed(format!("unexpected JSON: {e}")))?;
        answer.into_bearer().map_err(|e| failed(e.into()))
    }
}

/// One page of an upstream's tag list.
#[derive(Deserialize)]
struct TagPage {
    tags: Option<Vec<String>>,
}

/// The body of `response` (`what`, for the error), refused when longer than `limit` bytes (whole
/// MiB).
async fn read_at_most(
    response: reqwest::Response,
    what: &str,
    limit: usize,
) -> std::result::Result<Bytes, String> {
    let mut body = response.bytes_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        if bytes.len() + chunk.len() > limit {
            return Err(format!("{what} is larger than {} MiB", limit >> 20));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes.into())
}

/// The `Docker-Content-Digest` of a response, when it has a valid one.
fn content_digest(response: &reqwest::Response) -> Option<Digest> {
    response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

//! The UI's client for the upstream registry: the plain registry HTTP API (`_catalog`, `tags/list`,
//! manifests, blobs, referrers, deletes), so it works against any registry. Every call carries the
//! browser's `Authorization` header unchanged, or, when the registry asks for a token, a token
//! obtained with it ([`super::token`]); no password is stored. Requests go over the network
//! (`wharf ui`) or, embedded in `wharf serve`, to the server's own router in process.

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::{Method, Url};
use serde::Deserialize;
use tower::ServiceExt;

use super::error::UiError;
use super::token::{self, Challenge, Tokens};
use super::upstream_tls::{self, UpstreamTls};
use super::wire::{parse_json, Credentials};

/// Media types the UI asks for when fetching a manifest.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Largest manifest or config blob the UI reads (they are small JSON documents; this guards memory).
const MAX_DOCUMENT: usize = 8 * 1024 * 1024;

/// A manifest as fetched.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Its digest (`Docker-Content-Digest`, else computed from the bytes).
    pub digest: String,
    /// Its `Content-Type`.
    pub media_type: String,
    /// The raw JSON.
    pub bytes: Bytes,
}

/// Where requests to the registry go.
#[derive(Debug, Clone)]
enum Transport {
    /// Over HTTP(S) to the base URL.
    Network,
    /// To this router, in process (`wharf serve` with the UI embedded).
    InProcess(Router),
}

/// A client for one upstream registry.
#[derive(Debug, Clone)]
pub struct Upstream {
    client: reqwest::Client,
    base: Url,
    transport: Transport,
    tokens: Arc<Tokens>,
}

#[derive(Deserialize)]
struct CatalogBody {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TagsBody {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct OciErrors {
    #[serde(default)]
    errors: Vec<OciError>,
}

#[derive(Deserialize)]
struct OciError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl Upstream {
    /// A client for the registry at `base` (`http://host:port`, with a path if the API is under one),
    /// trusting its certificate as `tls` says.
    pub fn new(base: &str, tls: &UpstreamTls) -> Result<Upstream, UiError> {
        Self::with_transport(base, Transport::Network, tls)
    }

    /// A client sending requests to `registry` in process; only the path of `base` counts.
    pub fn in_process(base: &str, registry: Router) -> Result<Upstream, UiError> {
        Self::with_transport(
            base,
            Transport::InProcess(registry),
            &UpstreamTls::default(),
        )
    }

    fn with_transport(
        base: &str,
        transport: Transport,
        tls: &UpstreamTls,
    ) -> Result<Upstream, UiError> {
        let base = Url::parse(base).map_err(|e| UiError::Config(format!("upstream URL: {e}")))?;
        let client = tls
            .apply(
                reqwest::Client::builder()
                    .connect_timeout(std::time::Duration::from_secs(10))
                    .timeout(std::time::Duration::from_secs(60)),
            )?
            .build()
            .map_err(|e| UiError::Config(format!("HTTP client: {e}")))?;
        Ok(Upstream {
            client,
            base,
            transport,
            tokens: Arc::default(),
        })
    }

    /// `path_and_query` (`/v2/...`) under the base URL, keeping the base's path.
    fn url(&self, path_and_query: &str) -> Result<Url, UiError> {
        let base = self.base.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path_and_query}"))
            .map_err(|e| UiError::Upstream(format!("bad URL {path_and_query:?}: {e}")))
    }

    /// One request with `authorization`, over the transport.
    async fn execute(
        &self,
        method: Method,
        url: Url,
        accept: Option<&str>,
        authorization: Option<&HeaderValue>,
        json: Option<&Bytes>,
    ) -> Result<reqwest::Response, UiError> {
        // Deletes ask a Wharf registry to keep what they delete in its trash for a while (other
        // registries ignore the header).
        let delete = method == Method::DELETE;
        let mut request = self.client.request(method, url);
        if delete {
            request = request.header("wharf-trash", "ui");
        }
        if let Some(a) = authorization {
            request = request.header(header::AUTHORIZATION, a.clone());
        }
        if let Some(a) = accept {
            request = request.header(header::ACCEPT, a);
        }
        if let Some(body) = json {
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let unreachable = |e: reqwest::Error| {
            let cause = upstream_tls::describe(&e, self.base.as_str().trim_end_matches('/'));
            tracing::warn!(error = %cause, "the UI cannot reach the registry");
            UiError::Upstream(cause)
        };
        let request = request.build().map_err(unreachable)?;
        match &self.transport {
            Transport::Network => self.client.execute(request).await.map_err(unreachable),
            Transport::InProcess(router) => {
                let request = axum::http::Request::try_from(request).map_err(unreachable)?;
                let response = match router.clone().oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                Ok(reqwest::Response::from(response.map(|body| {
                    reqwest::Body::wrap_stream(body.into_data_stream())
                })))
            }
        }
    }

    /// Sends a request needing `scope`: with a cached token for it, else with the browser's
    /// credentials; a `Bearer` challenge is answered by fetching a token and retrying once.
    async fn send(
        &self,
        auth: &Credentials,
        method: Method,
        url: Url,
        accept: Option<&str>,
        scope: &str,
    ) -> Result<reqwest::Response, UiError> {
        self.send_json(auth, method, url, accept, scope, None).await
    }

    /// [`Upstream::send`] with a JSON request body.
    async fn send_json(
        &self,
        auth: &Credentials,
        method: Method,
        url: Url,
        accept: Option<&str>,
        scope: &str,
        json: Option<&Bytes>,
    ) -> Result<reqwest::Response, UiError> {
        let key = token::key(auth, scope);
        let cached = self.tokens.get(&key);
        let response = self
            .execute(
                method.clone(),
                url.clone(),
                accept,
                cached.as_ref().or(auth.0.as_ref()),
                json,
            )
            .await?;
        let response = match Challenge::of(&response) {
            Some(challenge)
                if response.status() == StatusCode::UNAUTHORIZED && token::exchangeable(auth) =>
            {
                let (bearer, lifetime) = token::fetch(&self.client, auth, &challenge).await?;
                self.tokens.insert(key, bearer.clone(), lifetime);
                self.execute(method, url, accept, Some(&bearer), json)
                    .await?
            }
            _ => response,
        };
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(error_from(response).await)
        }
    }

    /// Every repository name, following `Link` pages of `n` entries.
    pub async fn catalog(&self, auth: &Credentials, n: usize) -> Result<Vec<String>, UiError> {
        let mut all = Vec::new();
        let mut next = Some(self.url(&format!("/v2/_catalog?n={n}"))?);
        while let Some(url) = next.take() {
            let response = self
                .send(auth, Method::GET, url.clone(), None, CATALOG_SCOPE)
                .await?;
            next = self.next_link(&response)?.filter(|n| *n != url);
            let body: CatalogBody = parse_json(&read_limited(response).await?)?;
            let page = body.repositories.unwrap_or_default();
            if page.is_empty() {
                break;
            }
            all.extend(page);
        }
        Ok(all)
    }

    /// Every tag of `repo`, following `Link` pages.
    pub async fn tags(&self, auth: &Credentials, repo: &str) -> Result<Vec<String>, UiError> {
        let mut all = Vec::new();
        let mut next = Some(self.url(&format!("/v2/{repo}/tags/list"))?);
        let scope = pull(repo);
        while let Some(url) = next.take() {
            let response = self
                .send(auth, Method::GET, url.clone(), None, &scope)
                .await?;
            next = self.next_link(&response)?.filter(|n| *n != url);
            let body: TagsBody = parse_json(&read_limited(response).await?)?;
            all.extend(body.tags.unwrap_or_default());
        }
        Ok(all)
    }

    /// The manifest `repo:reference` (tag or digest).
    pub async fn manifest(
        &self,
        auth: &Credentials,
        repo: &str,
        reference: &str,
    ) -> Result<Fetched, UiError> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"))?;
        let response = self
            .send(auth, Method::GET, url, Some(MANIFEST_ACCEPT), &pull(repo))
            .await?;
        let header_text = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let digest = header_text("docker-content-digest");
        let media_type = header_text("content-type").unwrap_or_default();
        let bytes = read_limited(response).await?;
        let digest = digest.unwrap_or_else(|| sha256_digest(&bytes));
        Ok(Fetched {
            digest,
            media_type,
            bytes,
        })
    }

    /// A small blob (an image config), read whole.
    pub async fn blob(
        &self,
        auth: &Credentials,
        repo: &str,
        digest: &str,
    ) -> Result<Bytes, UiError> {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"))?;
        read_limited(self.send(auth, Method::GET, url, None, &pull(repo)).await?).await
    }

    /// The referrers index of `digest`; empty when the registry has no referrers API.
    pub async fn referrers(
        &self,
        auth: &Credentials,
        repo: &str,
        digest: &str,
    ) -> Result<Option<Bytes>, UiError> {
        let url = self.url(&format!("/v2/{repo}/referrers/{digest}"))?;
        match self.send(auth, Method::GET, url, None, &pull(repo)).await {
            Ok(response) => Ok(Some(read_limited(response).await?)),
            Err(UiError::NotFound(_)) | Err(UiError::Unsupported(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `DELETE /v2/<repo>/manifests/<reference>`.
    pub async fn delete_manifest(
        &self,
        auth: &Credentials,
        repo: &str,
        reference: &str,
    ) -> Result<(), UiError> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"))?;
        let scope = format!("repository:{repo}:delete");
        self.send(auth, Method::DELETE, url, None, &scope)
            .await
            .map(drop)
    }

    /// A call to Wharf's API extension (`path` under `/v2/_wharf/`, needing token `scope`) with an
    /// optional JSON body; answers the JSON document.
    pub async fn wharf(
        &self,
        auth: &Credentials,
        method: Method,
        path: &str,
        scope: &str,
        json: Option<Bytes>,
    ) -> Result<Bytes, UiError> {
        let url = self.url(&format!("/v2/_wharf/{path}"))?;
        let response = self
            .send_json(auth, method, url, None, scope, json.as_ref())
            .await?;
        read_limited(response).await
    }

    /// The next page from a `Link: <...>; rel="next"` header, only on the upstream's own origin (so
    /// credentials never follow a link elsewhere).
    fn next_link(&self, response: &reqwest::Response) -> Result<Option<Url>, UiError> {
        let Some(link) = response
            .headers()
            .get(header::LINK)
            .and_then(|v| v.to_str().ok())
        else {
            return Ok(None);
        };
        let Some(target) = crate::link_header::next_target(link) else {
            return Ok(None);
        };
        let url = self
            .base
            .join(target)
            .map_err(|e| UiError::Upstream(format!("bad next-page link {target:?}: {e}")))?;
        if url.origin() != self.base.origin() {
            return Err(UiError::Upstream(format!(
                "the registry sent a next-page link to another host: {url}"
            )));
        }
        Ok(Some(url))
    }
}

/// The token scope of `_catalog`.
pub const CATALOG_SCOPE: &str = "registry:catalog:*";

/// The token scope for reading `repo`.
pub fn pull(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

/// Reads a JSON document of at most [`MAX_DOCUMENT`] bytes.
async fn read_limited(response: reqwest::Response) -> Result<Bytes, UiError> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| UiError::Upstream(format!("reading the response: {e}")))?;
        if body.len() + chunk.len() > MAX_DOCUMENT {
            return Err(UiError::Upstream(format!(
                "the registry sent a document larger than {MAX_DOCUMENT} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The error for a non-success response, using the OCI error body when there is one.
async fn error_from(response: reqwest::Response) -> UiError {
    let status = response.status();
    let bearer = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("bearer"));
    let body = response.bytes().await.unwrap_or_default();
    let first = serde_json::from_slice::<OciErrors>(&body)
        .ok()
        .and_then(|e| e.errors.into_iter().next());
    let message = match &first {
        Some(e) if !e.message.is_empty() => format!("{} ({})", e.message, e.code),
        Some(e) => e.code.clone(),
        None => status.canonical_reason().unwrap_or("error").to_string(),
    };
    let code = first.map(|e| e.code).unwrap_or_default();
    match status {
        StatusCode::UNAUTHORIZED => UiError::Unauthorized { bearer },
        StatusCode::FORBIDDEN => UiError::Forbidden(message),
        StatusCode::NOT_FOUND => UiError::NotFound(message),
        StatusCode::METHOD_NOT_ALLOWED => UiError::Unsupported(message),
        _ if code == "UNSUPPORTED" => UiError::Unsupported(message),
        _ => UiError::Upstream(format!("the registry answered {status}: {message}")),
    }
}

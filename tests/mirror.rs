//! The pull-through cache (`proxy.remoteurl`) against real upstreams on loopback: a second Wharf,
//! distribution 2.8.2 with token authentication (token server written here), and a small upstream
//! written here that counts requests, breaks downloads or sends wrong bytes. Pulls go through the
//! mirror with raw HTTP and with skopeo, and come back byte for byte; the mirror refuses pushes as
//! registry:2 does, re-checks tags after the TTL, serves its cache when the upstream is down, keeps
//! nothing of a broken download, goes on with a download its client left, and makes one upstream
//! request for concurrent cold pulls. A Docker Hub lookalike written here (short-lived anonymous
//! tokens, blobs redirected to a CDN on another host) shows tokens replaced at expiry and redirects
//! followed without credentials; GC and retention on the cache keep tagged content, or delete it so
//! that the next pull fetches again.

mod common;
#[path = "common/oci_layout.rs"]
mod oci_layout;
#[path = "common/signers.rs"]
mod signers;
#[path = "common/skopeo.rs"]
mod skopeo;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::{error_code, http, metrics_text, push_image, sha256, TestServer};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A mirror of `upstream` over a fresh directory, with extra variables.
async fn mirror(upstream: &str, extra: &[(&str, &str)]) -> TestServer {
    let mut vars = vec![("REGISTRY_PROXY_REMOTEURL", upstream)];
    vars.extend_from_slice(extra);
    TestServer::start_env(&vars).await
}

/// `GET` of `path` on `server`: status, `Docker-Content-Digest` and body.
async fn get(server: &TestServer, path: &str) -> (u16, String, Vec<u8>) {
    let r = http()
        .get(format!("{}{path}", server.url))
        .header(header::ACCEPT, OCI_MANIFEST)
        .send()
        .await
        .expect("GET through the mirror");
    let status = r.status().as_u16();
    let digest = r
        .headers()
        .get("docker-content-digest")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, digest, r.bytes().await.expect("body").to_vec())
}

/// The blob digests (config, then layers) of an image manifest.
fn blob_digests(manifest: &[u8]) -> Vec<String> {
    let m: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    let mut out = vec![m["config"]["digest"].as_str().unwrap().to_string()];
    for layer in m["layers"].as_array().unwrap() {
        out.push(layer["digest"].as_str().unwrap().to_string());
    }
    out
}

/// The path of a blob's data file under a storage root.
fn blob_file(root: &Path, digest: &str) -> std::path::PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    root.join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data")
}

/// Files under a repository's `_uploads`, where a blob is written before it is verified.
fn upload_leftovers(root: &Path, repo: &str) -> usize {
    let dir = root.join(format!("docker/registry/v2/repositories/{repo}/_uploads"));
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// A first pull fetches manifest and blobs from the upstream, byte for byte with the same digests,
/// and keeps them in the normal layout: listed in the catalog and tags, and served by tag and digest
/// after the upstream is gone.
#[tokio::test]
async fn pulls_through_and_keeps_what_it_fetched() {
    let upstream = TestServer::start().await;
    let (manifest, digest) = push_image(&upstream, "library/alpine", "3", "kept").await;
    let cache = mirror(&upstream.url, &[]).await;

    let (status, got_digest, body) = get(&cache, "/v2/library/alpine/manifests/3").await;
    assert_eq!((status, got_digest.as_str()), (200, digest.as_str()));
    assert_eq!(body, manifest, "the manifest is served byte for byte");
    let blobs = blob_digests(&manifest);
    let mut contents = HashMap::new();
    for d in &blobs {
        let (status, got, body) = get(&cache, &format!("/v2/library/alpine/blobs/{d}")).await;
        assert_eq!((status, got.as_str()), (200, d.as_str()));
        assert_eq!(sha256(&body), *d, "blob bytes match their digest");
        contents.insert(d.clone(), body);
        assert!(blob_file(&cache.root, d).exists(), "{d} is kept");
    }
    let link = cache
        .root
        .join("docker/registry/v2/repositories/library/alpine/_manifests/tags/3/current/link");
    assert_eq!(std::fs::read_to_string(link).unwrap(), digest);
    let (_, _, catalog) = get(&cache, "/v2/_catalog").await;
    assert!(String::from_utf8_lossy(&catalog).contains("library/alpine"));
    let (_, _, tags) = get(&cache, "/v2/library/alpine/tags/list").await;
    assert!(String::from_utf8_lossy(&tags).contains("\"3\""));

    upstream.stop().await;
    let (status, _, body) = get(&cache, "/v2/library/alpine/manifests/3").await;
    assert_eq!(
        (status, body),
        (200, manifest.clone()),
        "by tag, upstream down"
    );
    let (status, _, body) = get(&cache, &format!("/v2/library/alpine/manifests/{digest}")).await;
    assert_eq!((status, body), (200, manifest), "by digest, upstream down");
    for d in &blobs {
        let (status, _, body) = get(&cache, &format!("/v2/library/alpine/blobs/{d}")).await;
        assert_eq!(status, 200);
        assert_eq!(&body, &contents[d]);
    }
    let (status, _, _) = get(&cache, "/v2/library/other/manifests/1").await;
    assert_eq!(
        status, 503,
        "what is not cached is unavailable while the upstream is down"
    );
    cache.stop().await;
}

/// Pushes and deletes answer 405 `UNSUPPORTED`, as distribution 2.8.2 answers them in proxy mode,
/// even with deletes enabled; nothing reaches the upstream.
#[tokio::test]
async fn pushes_and_deletes_are_refused_as_registry2_refuses_them() {
    let upstream = TestServer::start().await;
    let (_, digest) = push_image(&upstream, "app", "1", "refused").await;
    let cache = mirror(
        &upstream.url,
        &[("REGISTRY_STORAGE_DELETE_ENABLED", "true")],
    )
    .await;
    assert_eq!(get(&cache, "/v2/app/manifests/1").await.0, 200);
    let client = http();
    let attempts = [
        client.post(format!("{}/v2/app/blobs/uploads/", cache.url)),
        client
            .put(format!("{}/v2/app/manifests/2", cache.url))
            .header(header::CONTENT_TYPE, OCI_MANIFEST)
            .body("{}"),
        client.delete(format!("{}/v2/app/manifests/{digest}", cache.url)),
        client.delete(format!("{}/v2/app/manifests/1", cache.url)),
    ];
    for attempt in attempts {
        let r = attempt.send().await.unwrap();
        assert_eq!(r.status(), 405);
        assert_eq!(error_code(r).await, "UNSUPPORTED");
    }
    assert_eq!(get(&upstream, "/v2/app/manifests/1").await.1, digest);
    assert_eq!(get(&upstream, "/v2/app/manifests/2").await.0, 404);
    cache.stop().await;
    upstream.stop().await;
}

/// skopeo copies an image pushed to the upstream out of the mirror with every blob and the manifest
/// byte for byte.
#[tokio::test]
async fn skopeo_pulls_through_byte_for_byte() {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source");
    let image = oci_layout::single_image(&source, "skopeo-mirror", "v1", 2);
    let upstream = TestServer::start().await;
    let skopeo = skopeo::Skopeo::new();
    let pushed = format!("docker://{}/team/tool:v1", upstream.host());
    skopeo
        .copy(&skopeo::oci_ref(&source, "v1"), &pushed, &[])
        .await;
    let cache = mirror(&upstream.url, &[]).await;
    let pulled = work.path().join("pulled");
    let through = format!("docker://{}/team/tool:v1", cache.host());
    skopeo
        .copy(&through, &skopeo::oci_ref(&pulled, "v1"), &[])
        .await;
    assert_eq!(oci_layout::blobs(&pulled), oci_layout::blobs(&source));
    let (_, manifest) = oci_layout::resolve(&pulled, "v1");
    assert_eq!(manifest.digest, image.manifest.digest);
    cache.stop().await;
    upstream.stop().await;
}

/// With `proxy.ttl: 0` a moved tag is seen on the next pull; with the default TTL the cached tag
/// is served without asking; with the upstream down the stale tag is still served.
#[tokio::test]
async fn tags_are_checked_again_after_the_ttl() {
    let upstream = TestServer::start().await;
    let (_, first) = push_image(&upstream, "app", "latest", "first").await;
    let eager = mirror(&upstream.url, &[("REGISTRY_PROXY_TTL", "0")]).await;
    let lazy = mirror(&upstream.url, &[]).await;
    assert_eq!(get(&eager, "/v2/app/manifests/latest").await.1, first);
    assert_eq!(get(&lazy, "/v2/app/manifests/latest").await.1, first);

    let (_, second) = push_image(&upstream, "app", "latest", "second").await;
    assert_ne!(first, second);
    assert_eq!(get(&eager, "/v2/app/manifests/latest").await.1, second);
    assert_eq!(get(&lazy, "/v2/app/manifests/latest").await.1, first);
    let (status, _, _) = get(&eager, &format!("/v2/app/manifests/{first}")).await;
    assert_eq!(status, 200, "the old manifest stays by digest");

    upstream.stop().await;
    let (status, digest, _) = get(&eager, "/v2/app/manifests/latest").await;
    assert_eq!((status, digest), (200, second), "stale tag served");
    eager.stop().await;
    lazy.stop().await;
}

/// What the test upstream does with blob downloads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Serves blobs whole, in small chunks with short pauses between them.
    Whole,
    /// Sends the first half of the next blob download, then drops the connection.
    BreakOnce,
    /// Serves other bytes than the digest's, of the same length.
    Wrong,
    /// Answers every request 429 Too Many Requests, as Docker Hub does past its pull limit.
    RateLimited,
}

/// An upstream registry written for the tests: one image, every request counted by path.
struct Fake {
    manifest: Vec<u8>,
    blobs: HashMap<String, Vec<u8>>,
    mode: Mutex<Mode>,
    gets: Mutex<HashMap<String, usize>>,
    broke: AtomicBool,
}

impl Fake {
    fn gets(&self, path: &str) -> usize {
        self.gets.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

async fn fake_handler(
    State(fake): State<Arc<Fake>>,
    method: axum::http::Method,
    uri: Uri,
) -> Response {
    let path = uri.path().to_string();
    if method == axum::http::Method::GET {
        *fake.gets.lock().unwrap().entry(path.clone()).or_default() += 1;
    }
    if *fake.mode.lock().unwrap() == Mode::RateLimited {
        return StatusCode::TOO_MANY_REQUESTS.into_response();
    }
    if path == "/v2/" {
        return axum::Json(serde_json::json!({})).into_response();
    }
    if path.contains("/manifests/") {
        return (
            [
                (header::CONTENT_TYPE, OCI_MANIFEST.to_string()),
                (
                    header::HeaderName::from_static("docker-content-digest"),
                    sha256(&fake.manifest),
                ),
            ],
            fake.manifest.clone(),
        )
            .into_response();
    }
    let Some((_, digest)) = path.rsplit_once("/blobs/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(bytes) = fake.blobs.get(digest).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let len = bytes.len();
    if method == axum::http::Method::HEAD {
        return ([(header::CONTENT_LENGTH, len.to_string())], Body::empty()).into_response();
    }
    let mode = *fake.mode.lock().unwrap();
    let chunks: Vec<std::io::Result<bytes::Bytes>> = match mode {
        Mode::BreakOnce if !fake.broke.swap(true, Ordering::SeqCst) => vec![
            Ok(bytes::Bytes::copy_from_slice(&bytes[..len / 2])),
            Err(std::io::Error::other("the upstream goes away")),
        ],
        Mode::Wrong => vec![Ok(bytes::Bytes::from(vec![b'x'; len]))],
        _ => bytes
            .chunks(len.div_ceil(16))
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect(),
    };
    let paced = futures_util::StreamExt::then(futures_util::stream::iter(chunks), |c| async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        c
    });
    (
        [(header::CONTENT_LENGTH, len.to_string())],
        Body::from_stream(paced),
    )
        .into_response()
}

/// Starts the test upstream with one image `app:1` of a config and a 1 MiB layer.
async fn fake_upstream(mode: Mode) -> (Arc<Fake>, String) {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let layer: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let manifest = common::image_manifest(&config, &[&layer]);
    let blobs = HashMap::from([(sha256(&config), config), (sha256(&layer), layer)]);
    let fake = Arc::new(Fake {
        manifest,
        blobs,
        mode: Mutex::new(mode),
        gets: Mutex::default(),
        broke: AtomicBool::new(false),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(fake_handler)
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, url)
}

/// An upstream dropping the connection in the middle of a blob gives the client an error and
/// leaves no blob data and no upload behind; the next pull fetches it whole.
#[tokio::test]
async fn a_broken_download_keeps_nothing_and_the_next_pull_succeeds() {
    let (fake, url) = fake_upstream(Mode::BreakOnce).await;
    let cache = mirror(&url, &[]).await;
    let layer = blob_digests(&fake.manifest)[1].clone();
    let path = format!("/v2/app/blobs/{layer}");
    let broken = http()
        .get(format!("{}{path}", cache.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        broken.status(),
        200,
        "the download starts streaming at once"
    );
    assert!(broken.bytes().await.is_err(), "the client sees the break");
    // The fetch task removes its upload after the client saw the break; wait for it (bounded).
    for _ in 0..100 {
        if upload_leftovers(&cache.root, "app") == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!blob_file(&cache.root, &layer).exists(), "no partial blob");
    assert_eq!(upload_leftovers(&cache.root, "app"), 0, "no upload left");

    let (status, digest, body) = get(&cache, &path).await;
    assert_eq!((status, digest.as_str()), (200, layer.as_str()));
    assert_eq!(sha256(&body), layer);
    assert!(blob_file(&cache.root, &layer).exists());
    assert_eq!(fake.gets(&path), 2);
    cache.stop().await;
}

/// Bytes that do not match the digest reach the client only without their end (an error), and are
/// not kept.
#[tokio::test]
async fn bytes_that_do_not_match_the_digest_are_not_kept() {
    let (fake, url) = fake_upstream(Mode::Wrong).await;
    let cache = mirror(&url, &[]).await;
    let layer = blob_digests(&fake.manifest)[1].clone();
    let r = http()
        .get(format!("{}/v2/app/blobs/{layer}", cache.url))
        .send()
        .await
        .unwrap();
    assert!(
        r.bytes().await.is_err(),
        "the client never gets a whole wrong blob"
    );
    for _ in 0..100 {
        if upload_leftovers(&cache.root, "app") == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!blob_file(&cache.root, &layer).exists());
    assert_eq!(upload_leftovers(&cache.root, "app"), 0);
    cache.stop().await;
}

/// A client that goes away after the first bytes of a cold blob does not stop its download: the
/// blob is kept, and the next pull gets it without a second upstream request.
#[tokio::test]
async fn a_client_leaving_mid_blob_does_not_stop_the_download() {
    let (fake, url) = fake_upstream(Mode::Whole).await;
    let cache = mirror(&url, &[]).await;
    let layer = blob_digests(&fake.manifest)[1].clone();
    let path = format!("/v2/app/blobs/{layer}");
    let mut leaving = http()
        .get(format!("{}{path}", cache.url))
        .send()
        .await
        .unwrap();
    assert_eq!(leaving.status(), 200);
    let first = leaving.chunk().await.unwrap().expect("the first bytes");
    assert!(
        first.len() < 1024 * 1024,
        "the client leaves before the end"
    );
    drop(leaving);

    let (status, digest, body) = get(&cache, &path).await;
    assert_eq!((status, digest.as_str()), (200, layer.as_str()));
    assert_eq!(sha256(&body), layer);
    assert!(blob_file(&cache.root, &layer).exists());
    assert_eq!(fake.gets(&path), 1, "one upstream GET");
    cache.stop().await;
}

/// 20 concurrent cold pulls of one image (manifest, config, layer) make exactly one upstream `GET`
/// of each, and every client gets the same bytes.
#[tokio::test]
async fn concurrent_cold_pulls_make_one_upstream_request_each() {
    let (fake, url) = fake_upstream(Mode::Whole).await;
    let cache = Arc::new(mirror(&url, &[]).await);
    let wanted: Vec<String> = std::iter::once("/v2/app/manifests/1".to_string())
        .chain(
            blob_digests(&fake.manifest)
                .iter()
                .map(|d| format!("/v2/app/blobs/{d}")),
        )
        .collect();
    let pulls = (0..20).map(|_| {
        let cache = TestServer::attach(&cache.url, &cache.root);
        let wanted = wanted.clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            for path in &wanted {
                let (status, _, body) = get(&cache, path).await;
                assert_eq!(status, 200, "{path}");
                got.push(sha256(&body));
            }
            got
        })
    });
    let results: Vec<Vec<String>> = futures_util::future::join_all(pulls)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert!(results.iter().all(|r| *r == results[0]));
    for path in &wanted {
        assert_eq!(fake.gets(path), 1, "upstream GETs of {path}");
    }
    Arc::try_unwrap(cache).ok().unwrap().stop().await;
}

/// `docker-registry serve` (distribution 2.8.2) on 127.0.0.1 over `root`, with extra config lines;
/// killed by PID on drop.
struct Distribution {
    url: String,
    child: std::process::Child,
}

impl Distribution {
    async fn start(dir: &Path, root: &Path, extra: &str) -> Distribution {
        const BINARY: &str = "/usr/bin/docker-registry";
        assert!(
            Path::new(BINARY).exists(),
            "{BINARY} missing: run ./scripts/test (it installs Debian's docker-registry)"
        );
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe port");
            probe.local_addr().unwrap().port()
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n{extra}",
            root.display()
        );
        let path = dir.join(format!("distribution-{port}.yml"));
        std::fs::write(&path, config).unwrap();
        let child = std::process::Command::new(BINARY)
            .arg("serve")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let registry = Distribution {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        for _ in 0..100 {
            if let Ok(r) = http().get(format!("{}/v2/", registry.url)).send().await {
                if matches!(r.status().as_u16(), 200 | 401) {
                    return registry;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("docker-registry did not start on {}", registry.url);
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const TOKEN_SERVICE: &str = "upstream.test";
const TOKEN_ISSUER: &str = "mirror-test-issuer";
const HUB_USER: (&str, &str) = ("hubuser", "hub-access-token");

/// The token server's signing key, its certificate (sent as `x5c`, as distribution 2.8 wants), and
/// the tokens it issued.
struct TokenServer {
    key: jsonwebtoken::EncodingKey,
    cert_der: String,
    issued: AtomicUsize,
}

/// `GET /token?service=..&scope=..` with Basic `hubuser`: a token for the scopes asked.
async fn issue_token(
    State(server): State<Arc<TokenServer>>,
    headers: axum::http::HeaderMap,
    axum::extract::Query(query): axum::extract::Query<Vec<(String, String)>>,
) -> Response {
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", HUB_USER.0, HUB_USER.1))
    );
    if headers
        .get(header::AUTHORIZATION)
        .is_none_or(|v| v != expected.as_str())
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let access: Vec<serde_json::Value> = query
        .iter()
        .filter(|(k, _)| k == "scope")
        .filter_map(|(_, scope)| {
            let (kind, rest) = scope.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            Some(serde_json::json!({"type": kind, "name": name,
                "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": TOKEN_ISSUER, "sub": HUB_USER.0, "aud": TOKEN_SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now - 10, "jti": format!("{now}-{}", access.len()),
        "access": access,
    });
    let mut jwt_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    jwt_header.x5c = Some(vec![server.cert_der.clone()]);
    let token = jsonwebtoken::encode(&jwt_header, &claims, &server.key).unwrap();
    server.issued.fetch_add(1, Ordering::SeqCst);
    axum::Json(serde_json::json!({"token": token, "expires_in": 300})).into_response()
}

/// Distribution 2.8.2 with token authentication as the upstream: the mirror follows the `Bearer`
/// challenge to the token server with `proxy.username`/`proxy.password`, pulls the image byte for
/// byte with one token for the repository's scope, and without credentials gets nothing.
#[tokio::test]
async fn pulls_from_distribution_with_token_auth() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = signers::keypair(dir.path(), "signer", &signers::EC_P256);
    let bundle = dir.path().join("bundle.pem");
    std::fs::write(&bundle, &cert).unwrap();
    let der = pem::parse(&cert).unwrap();
    let server = Arc::new(TokenServer {
        key: jsonwebtoken::EncodingKey::from_ec_pem(&key).unwrap(),
        cert_der: base64::engine::general_purpose::STANDARD.encode(der.contents()),
        issued: AtomicUsize::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let realm = format!("http://{}/token", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/token", axum::routing::get(issue_token))
        .with_state(server.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // Seed distribution's storage with skopeo without authentication, then serve it with tokens.
    let root = dir.path().join("upstream");
    let source = dir.path().join("source");
    let image = oci_layout::single_image(&source, "token-mirror", "1.36", 2);
    let open = Distribution::start(dir.path(), &root, "").await;
    let pushed = format!(
        "docker://{}/library/busybox:1.36",
        open.url.trim_start_matches("http://")
    );
    skopeo::Skopeo::new()
        .copy(&skopeo::oci_ref(&source, "1.36"), &pushed, &[])
        .await;
    drop(open);
    let (manifest, digest) = (image.manifest.bytes.clone(), image.manifest.digest.clone());
    let auth = format!(
        "auth:\n  token:\n    realm: {realm}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
        bundle.display()
    );
    let upstream = Distribution::start(dir.path(), &root, &auth).await;

    let anonymous = mirror(&upstream.url, &[]).await;
    let (status, _, _) = get(&anonymous, "/v2/library/busybox/manifests/1.36").await;
    assert_eq!(
        status, 503,
        "the token server refuses the mirror without credentials"
    );
    anonymous.stop().await;

    let password_file = dir.path().join("hub-token");
    std::fs::write(&password_file, format!("{}\n", HUB_USER.1)).unwrap();
    let password_file = password_file.display().to_string();
    let cache = mirror(
        &upstream.url,
        &[
            ("REGISTRY_PROXY_USERNAME", HUB_USER.0),
            ("REGISTRY_PROXY_PASSWORDFILE", &password_file),
        ],
    )
    .await;
    let issued_before = server.issued.load(Ordering::SeqCst);
    let (status, got, body) = get(&cache, "/v2/library/busybox/manifests/1.36").await;
    assert_eq!((status, got.as_str()), (200, digest.as_str()));
    assert_eq!(body, manifest);
    for d in blob_digests(&manifest) {
        let (status, got, body) = get(&cache, &format!("/v2/library/busybox/blobs/{d}")).await;
        assert_eq!((status, got.as_str()), (200, d.as_str()));
        assert_eq!(sha256(&body), d);
    }
    assert_eq!(
        server.issued.load(Ordering::SeqCst) - issued_before,
        1,
        "one token for the repository's pull scope, reused for every request"
    );
    cache.stop().await;
}

/// An upstream Wharf with htpasswd authentication: the mirror sends `proxy.username` and
/// `proxy.password` as Basic credentials when challenged.
#[tokio::test]
async fn pulls_from_a_basic_auth_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    let entry = wharf::auth::htpasswd::entry(HUB_USER.0, HUB_USER.1, 4).unwrap();
    std::fs::write(&htpasswd, entry + "\n").unwrap();
    let root = dir.path().join("upstream");
    let open = TestServer::start_at(&root, &[]).await;
    let (manifest, digest) = push_image(&open, "private/app", "1", "basic").await;
    open.stop().await;
    let path = htpasswd.display().to_string();
    let upstream = TestServer::start_at(
        &root,
        &[
            ("REGISTRY_AUTH", "htpasswd"),
            ("REGISTRY_AUTH_HTPASSWD_PATH", &path),
            ("REGISTRY_AUTH_HTPASSWD_REALM", "upstream"),
        ],
    )
    .await;
    let cache = mirror(
        &upstream.url,
        &[
            ("REGISTRY_PROXY_USERNAME", HUB_USER.0),
            ("REGISTRY_PROXY_PASSWORD", HUB_USER.1),
        ],
    )
    .await;
    let (status, got, body) = get(&cache, "/v2/private/app/manifests/1").await;
    assert_eq!(
        (status, got.as_str(), body),
        (200, digest.as_str(), manifest.clone())
    );
    for d in blob_digests(&manifest) {
        let (status, _, body) = get(&cache, &format!("/v2/private/app/blobs/{d}")).await;
        assert_eq!((status, sha256(&body)), (200, d));
    }
    cache.stop().await;
    upstream.stop().await;
}

/// Garbage collection (with `deleteuntagged`) keeps what the mirror cached under a tag: after it,
/// with the upstream gone, the image is still served whole. The metrics count the first pulls as
/// misses with the bytes they fetched, and the later ones as hits.
#[tokio::test]
async fn garbage_collection_keeps_cached_tagged_content() {
    let upstream = TestServer::start().await;
    let (manifest, _) = push_image(&upstream, "library/redis", "7", "gc").await;
    let (cache, debug) = TestServer::start_with_debug(&[
        ("REGISTRY_PROXY_REMOTEURL", upstream.url.as_str()),
        ("REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED", "true"),
        ("REGISTRY_STORAGE_GC_GRACEPERIOD", "0s"),
        ("REGISTRY_STORAGE_GC_SETTLEPERIOD", "1s"),
    ])
    .await;
    let blobs = blob_digests(&manifest);
    assert_eq!(get(&cache, "/v2/library/redis/manifests/7").await.0, 200);
    let mut fetched = manifest.len();
    for d in &blobs {
        let (status, _, body) = get(&cache, &format!("/v2/library/redis/blobs/{d}")).await;
        assert_eq!(status, 200);
        fetched += body.len();
    }
    let report = http()
        .post(format!("{debug}/debug/gc?deleteuntagged=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(report.status(), 200);
    upstream.stop().await;
    let (status, _, body) = get(&cache, "/v2/library/redis/manifests/7").await;
    assert_eq!((status, body), (200, manifest));
    for d in &blobs {
        assert!(blob_file(&cache.root, d).exists(), "{d} kept");
        let (status, _, body) = get(&cache, &format!("/v2/library/redis/blobs/{d}")).await;
        assert_eq!((status, sha256(&body)), (200, d.clone()));
    }
    let metrics = metrics_text(&debug).await;
    for line in [
        "wharf_mirror_misses_total 3\n".to_string(),
        "wharf_mirror_hits_total 3\n".to_string(),
        format!("wharf_mirror_upstream_received_bytes_total {fetched}\n"),
        "wharf_mirror_upstream_errors_total 0\n".to_string(),
    ] {
        assert!(metrics.contains(&line), "{line:?} in\n{metrics}");
    }
    cache.stop().await;
}

/// `proxy.upstreams` by prefix beside ordinary repositories: `docker.io/...` and `ghcr.io/...` come
/// from their upstreams (Docker Hub's `library/` rule included), names under no prefix that no local
/// repository has come from the default upstream (docker's `registry-mirrors`) and are kept under
/// its prefix; local repositories accept pushes, mirrored ones refuse them.
#[tokio::test]
async fn several_upstreams_by_prefix_beside_local_repositories() {
    let hub = TestServer::start().await;
    let other = TestServer::start().await;
    let (alpine, alpine_digest) = push_image(&hub, "library/alpine", "3", "hub-alpine").await;
    let (tool, tool_digest) = push_image(&other, "team/tool", "1", "ghcr-tool").await;
    let upstreams = format!(
        "[{{prefix: docker.io, remoteurl: '{}'}}, {{prefix: ghcr.io, remoteurl: '{}', ttl: 0s}}]",
        hub.url, other.url
    );
    let cache = TestServer::start_env(&[
        ("REGISTRY_PROXY_UPSTREAMS", upstreams.as_str()),
        ("REGISTRY_PROXY_DEFAULT", "docker.io"),
    ])
    .await;

    for path in [
        "/v2/docker.io/library/alpine/manifests/3",
        "/v2/docker.io/alpine/manifests/3",
        "/v2/library/alpine/manifests/3",
    ] {
        let (status, digest, body) = get(&cache, path).await;
        assert_eq!(
            (status, digest.as_str()),
            (200, alpine_digest.as_str()),
            "{path}"
        );
        assert_eq!(body, alpine, "{path}");
    }
    for d in blob_digests(&alpine) {
        for repo in ["docker.io/library/alpine", "library/alpine"] {
            let (status, _, body) = get(&cache, &format!("/v2/{repo}/blobs/{d}")).await;
            assert_eq!((status, sha256(&body)), (200, d.clone()), "{repo}");
        }
    }
    let (status, digest, body) = get(&cache, "/v2/ghcr.io/team/tool/manifests/1").await;
    assert_eq!(
        (status, digest.as_str(), body),
        (200, tool_digest.as_str(), tool.clone())
    );
    for d in blob_digests(&tool) {
        let (status, _, body) = get(&cache, &format!("/v2/ghcr.io/team/tool/blobs/{d}")).await;
        assert_eq!((status, sha256(&body)), (200, d));
    }
    assert_eq!(
        get(&cache, "/v2/ghcr.io/team/missing/manifests/1").await.0,
        404
    );

    let (_, local_digest) = push_image(&cache, "myteam/app", "1", "local").await;
    assert_eq!(
        get(&cache, "/v2/myteam/app/manifests/1").await.1,
        local_digest
    );
    let refused = http()
        .post(format!(
            "{}/v2/docker.io/library/alpine/blobs/uploads/",
            cache.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 405);
    assert_eq!(error_code(refused).await, "UNSUPPORTED");

    let (_, _, catalog) = get(&cache, "/v2/_catalog").await;
    let catalog: serde_json::Value = serde_json::from_slice(&catalog).unwrap();
    assert_eq!(
        catalog["repositories"],
        serde_json::json!([
            "docker.io/library/alpine",
            "ghcr.io/team/tool",
            "myteam/app"
        ]),
        "mirrored content is kept under its prefix only"
    );
    cache.stop().await;
    hub.stop().await;
    other.stop().await;
}

/// A multi-arch image (an OCI index over two platforms) copied with skopeo `--all` out of the mirror
/// is the upstream's byte for byte: the index, both manifests (fetched by digest) and every blob.
#[tokio::test]
async fn skopeo_pulls_a_multi_arch_index_through_byte_for_byte() {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source");
    let mut layout = oci_layout::OciLayout::create(&source);
    let amd64 = layout.add_image("mirror-amd64", oci_layout::LINUX_AMD64, 1);
    let arm64 = layout.add_image("mirror-arm64", oci_layout::LINUX_ARM64, 1);
    let index = layout.add_index(&[&amd64, &arm64]);
    layout.tag("multi", oci_layout::OCI_INDEX, &index);
    let upstream = TestServer::start().await;
    let skopeo = skopeo::Skopeo::new();
    let pushed = format!("docker://{}/library/multi:1", upstream.host());
    skopeo
        .copy(&skopeo::oci_ref(&source, "multi"), &pushed, &["--all"])
        .await;
    let cache = mirror(&upstream.url, &[]).await;
    let pulled = work.path().join("pulled");
    let through = format!("docker://{}/library/multi:1", cache.host());
    skopeo
        .copy(&through, &skopeo::oci_ref(&pulled, "multi"), &["--all"])
        .await;
    let (media_type, got) = oci_layout::resolve(&pulled, "multi");
    assert_eq!(media_type, oci_layout::OCI_INDEX);
    assert_eq!(got, index, "the index is the upstream's");
    assert_eq!(oci_layout::blobs(&pulled), oci_layout::blobs(&source));
    cache.stop().await;
    upstream.stop().await;
}

/// An upstream answering 429 (Docker Hub past its pull limit): cached tags are still served, even
/// with `proxy.ttl: 0` (stale, with a warning), and only what was never cached fails, with 503.
#[tokio::test]
async fn a_rate_limited_upstream_leaves_the_cache_serving() {
    let (fake, url) = fake_upstream(Mode::Whole).await;
    let cache = mirror(&url, &[("REGISTRY_PROXY_TTL", "0")]).await;
    let (status, digest, _) = get(&cache, "/v2/app/manifests/1").await;
    assert_eq!((status, digest), (200, sha256(&fake.manifest)));
    let config = blob_digests(&fake.manifest)[0].clone();
    assert_eq!(get(&cache, &format!("/v2/app/blobs/{config}")).await.0, 200);

    *fake.mode.lock().unwrap() = Mode::RateLimited;
    let (status, digest, _) = get(&cache, "/v2/app/manifests/1").await;
    assert_eq!(
        (status, digest),
        (200, sha256(&fake.manifest)),
        "stale tag served"
    );
    assert_eq!(get(&cache, &format!("/v2/app/blobs/{config}")).await.0, 200);
    let layer = blob_digests(&fake.manifest)[1].clone();
    assert_eq!(get(&cache, &format!("/v2/app/blobs/{layer}")).await.0, 503);
    cache.stop().await;
}

/// Docker Hub's shape, written for the tests: the [`Fake`] image behind anonymous Bearer tokens that
/// live `lifetime` seconds (the token endpoint is `/token` on the same server), and, when
/// `redirect` is set, blob `GET`s answered with a 307 to a second server on another host name
/// (`localhost` instead of `127.0.0.1`, another port), as Hub sends blobs to its CDN.
struct Hub {
    fake: Arc<Fake>,
    realm: String,
    cdn: String,
    lifetime: u64,
    redirect: bool,
    /// Every token issued, with when it expires.
    tokens: Mutex<HashMap<String, std::time::Instant>>,
    /// Requests that came with a token after it had expired.
    expired_presented: AtomicUsize,
    /// Blob requests the CDN served, and the `Authorization` headers that came with them.
    cdn_gets: AtomicUsize,
    cdn_authorizations: Mutex<Vec<String>>,
}

impl Hub {
    fn issued(&self) -> usize {
        self.tokens.lock().unwrap().len()
    }
}

async fn hub_handler(
    State(hub): State<Arc<Hub>>,
    method: axum::http::Method,
    headers: axum::http::HeaderMap,
    uri: Uri,
) -> Response {
    let path = uri.path().to_string();
    if path == "/token" {
        let mut tokens = hub.tokens.lock().unwrap();
        let token = format!("hub-token-{}", tokens.len() + 1);
        let expires = std::time::Instant::now() + Duration::from_secs(hub.lifetime);
        tokens.insert(token.clone(), expires);
        return axum::Json(serde_json::json!({"token": token, "expires_in": hub.lifetime}))
            .into_response();
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| hub.tokens.lock().unwrap().get(t).copied());
    let valid = match presented {
        Some(expires) if expires > std::time::Instant::now() => true,
        Some(_) => {
            hub.expired_presented.fetch_add(1, Ordering::SeqCst);
            false
        }
        None => false,
    };
    if !valid {
        let challenge = format!("Bearer realm=\"{}\",service=\"hub.test\"", hub.realm);
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, challenge)],
        )
            .into_response();
    }
    if hub.redirect && method == axum::http::Method::GET {
        if let Some((_, digest)) = path.rsplit_once("/blobs/") {
            let location = format!("{}/cdn/{digest}?signature=test", hub.cdn);
            return (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, location)],
            )
                .into_response();
        }
    }
    fake_handler(State(hub.fake.clone()), method, uri).await
}

async fn cdn_handler(
    State(hub): State<Arc<Hub>>,
    headers: axum::http::HeaderMap,
    uri: Uri,
) -> Response {
    hub.cdn_gets.fetch_add(1, Ordering::SeqCst);
    if let Some(a) = headers.get(header::AUTHORIZATION) {
        let a = a.to_str().unwrap_or("(not text)").to_string();
        hub.cdn_authorizations.lock().unwrap().push(a);
    }
    let digest = uri.path().trim_start_matches("/cdn/");
    match hub.fake.blobs.get(digest) {
        Some(bytes) => bytes.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Starts a [`Hub`] (and its CDN) over the [`fake_upstream`]'s image; returns it and its URL.
async fn hub_upstream(lifetime: u64, redirect: bool) -> (Arc<Hub>, String) {
    let (fake, _) = fake_upstream(Mode::Whole).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let cdn_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cdn = format!(
        "http://localhost:{}",
        cdn_listener.local_addr().unwrap().port()
    );
    let hub = Arc::new(Hub {
        fake,
        realm: format!("{url}/token"),
        cdn,
        lifetime,
        redirect,
        tokens: Mutex::default(),
        expired_presented: AtomicUsize::new(0),
        cdn_gets: AtomicUsize::new(0),
        cdn_authorizations: Mutex::default(),
    });
    let app = axum::Router::new()
        .fallback(hub_handler)
        .with_state(hub.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let cdn_app = axum::Router::new()
        .fallback(cdn_handler)
        .with_state(hub.clone());
    tokio::spawn(async move { axum::serve(cdn_listener, cdn_app).await });
    (hub, url)
}

/// An upstream token is replaced when it expires, before it is sent again: with tokens living 2 s
/// and `proxy.ttl: 0` (every tag pull asks the upstream), a pull after the first token expired
/// still gets the manifest and blobs, asks the token service for a second token, and the upstream
/// never receives an expired token.
#[tokio::test]
async fn an_expired_upstream_token_is_replaced_before_it_is_sent() {
    let (hub, url) = hub_upstream(2, false).await;
    let cache = mirror(&url, &[("REGISTRY_PROXY_TTL", "0s")]).await;
    let (status, _, manifest) = get(&cache, "/v2/app/manifests/1").await;
    assert_eq!((status, &manifest), (200, &hub.fake.manifest));
    assert_eq!(hub.issued(), 1);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (status, _, again) = get(&cache, "/v2/app/manifests/1").await;
    assert_eq!((status, again), (200, manifest.clone()));
    for d in blob_digests(&manifest) {
        let (status, _, body) = get(&cache, &format!("/v2/app/blobs/{d}")).await;
        assert_eq!((status, sha256(&body)), (200, d));
    }
    assert_eq!(hub.issued(), 2, "a new token after the first expired");
    assert_eq!(
        hub.expired_presented.load(Ordering::SeqCst),
        0,
        "no expired token reaches the upstream"
    );
    cache.stop().await;
}

/// Blob downloads that the upstream redirects to another host (Docker Hub's 307 to its CDN) are
/// followed: the blobs arrive byte for byte from the CDN, which never receives the upstream's
/// `Authorization` header, while the upstream's own requests carry the token.
#[tokio::test]
async fn blob_redirects_to_another_host_are_followed_without_credentials() {
    let (hub, url) = hub_upstream(300, true).await;
    let cache = mirror(&url, &[]).await;
    let (status, _, manifest) = get(&cache, "/v2/library/app/manifests/1").await;
    assert_eq!((status, &manifest), (200, &hub.fake.manifest));
    let blobs = blob_digests(&manifest);
    for d in &blobs {
        let (status, _, body) = get(&cache, &format!("/v2/library/app/blobs/{d}")).await;
        assert_eq!((status, sha256(&body)), (200, d.clone()));
        assert!(blob_file(&cache.root, d).exists(), "{d} kept");
    }
    assert_eq!(hub.cdn_gets.load(Ordering::SeqCst), blobs.len());
    assert_eq!(
        *hub.cdn_authorizations.lock().unwrap(),
        Vec::<String>::new(),
        "the CDN gets no credentials"
    );
    assert_eq!(hub.issued(), 1, "the upstream's requests carried a token");
    cache.stop().await;
}

/// A retention policy governs mirrored repositories as it does pushed ones: `wharf retention
/// --apply` (trash period zero) on the mirror's storage deletes the cached tag and frees its blobs,
/// and the next pull fetches the manifest and every blob from the upstream again, byte for byte.
#[tokio::test]
async fn retention_deletes_cached_tags_and_the_next_pull_fetches_again() {
    let (fake, url) = fake_upstream(Mode::Whole).await;
    let settle = ("REGISTRY_STORAGE_GC_SETTLEPERIOD", "1s");
    let cache = mirror(&url, &[settle]).await;
    let (status, _, manifest) = get(&cache, "/v2/app/manifests/1").await;
    assert_eq!((status, &manifest), (200, &fake.manifest));
    let blobs = blob_digests(&manifest);
    for d in &blobs {
        assert_eq!(get(&cache, &format!("/v2/app/blobs/{d}")).await.0, 200);
        assert!(blob_file(&cache.root, d).exists());
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["retention", "--apply", "--json"])
        .env("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", &cache.root)
        .env("REGISTRY_PROXY_REMOTEURL", &url)
        .env(settle.0, settle.1)
        .env("REGISTRY_STORAGE_GC_GRACEPERIOD", "0s")
        .env("REGISTRY_RETENTION_TRASHPERIOD", "0s")
        .env(
            "REGISTRY_RETENTION_POLICIES",
            r#"[{delete: {tags: [".*"]}}]"#,
        )
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(
        report["repositories"][0]["tags"][0]["tag"], "1",
        "{report:#}"
    );
    for d in &blobs {
        assert!(!blob_file(&cache.root, d).exists(), "{d} freed");
    }
    let fetched = |path: &str| fake.gets(path);
    assert_eq!(fetched("/v2/app/manifests/1"), 1);
    let (status, _, again) = get(&cache, "/v2/app/manifests/1").await;
    assert_eq!((status, again), (200, manifest.clone()));
    assert_eq!(fetched("/v2/app/manifests/1"), 2, "fetched again");
    for d in &blobs {
        let (status, _, body) = get(&cache, &format!("/v2/app/blobs/{d}")).await;
        assert_eq!((status, sha256(&body)), (200, d.clone()));
        assert_eq!(
            fetched(&format!("/v2/app/blobs/{d}")),
            2,
            "{d} fetched again"
        );
    }
    cache.stop().await;
}

/// The tags `path` lists on `server` (a `tags/list` URL), sorted, with the response's `Link`.
async fn listed(server: &TestServer, path: &str) -> (u16, Vec<String>, Option<String>) {
    let r = http()
        .get(format!("{}{path}", server.url))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let link = r
        .headers()
        .get(header::LINK)
        .map(|v| v.to_str().unwrap().to_string());
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    let mut tags: Vec<String> = body["tags"]
        .as_array()
        .map(|t| t.iter().map(|t| t.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    tags.sort();
    (status, tags, link)
}

/// A mirrored repository's tag list is the upstream's, cached or not (as distribution 2.8.2's proxy
/// answers it, and as tools watching for new versions need), paginated here with `n`/`last`; with
/// the upstream gone it is what was cached. Under a prefix, Docker Hub's short names and the default
/// upstream (names no local repository has) list the upstream's `library/` repository, and a local
/// repository lists its own tags. Listing pulls nothing through the cache.
#[tokio::test]
async fn tag_lists_come_from_the_upstream_and_fall_back_to_the_cache() {
    let hub = TestServer::start().await;
    for tag in ["1", "2", "3"] {
        push_image(&hub, "library/alpine", tag, &format!("alpine-{tag}")).await;
    }
    let cache = mirror(&hub.url, &[]).await;
    let all: Vec<String> = ["1", "2", "3"].map(String::from).to_vec();
    assert_eq!(
        listed(&cache, "/v2/library/alpine/tags/list").await,
        (200, all.clone(), None)
    );
    let (status, first, link) = listed(&cache, "/v2/library/alpine/tags/list?n=2").await;
    assert_eq!((status, first), (200, vec!["1".into(), "2".into()]));
    assert!(link.unwrap().contains("last=2"), "a next page");
    assert_eq!(
        listed(&cache, "/v2/library/alpine/tags/list?n=2&last=2")
            .await
            .1,
        ["3"]
    );
    assert_eq!(listed(&cache, "/v2/library/none/tags/list").await.0, 404);
    assert!(
        !cache
            .root
            .join("docker/registry/v2/repositories/library/alpine")
            .exists(),
        "listing cached nothing"
    );
    assert_eq!(get(&cache, "/v2/library/alpine/manifests/1").await.0, 200);
    let hub_url = hub.url.clone();
    hub.stop().await;
    assert_eq!(
        listed(&cache, "/v2/library/alpine/tags/list").await,
        (200, vec!["1".into()], None),
        "upstream gone: the cached tags"
    );
    cache.stop().await;

    let hub = TestServer::start().await;
    for tag in ["1", "2"] {
        push_image(&hub, "library/alpine", tag, &format!("alpine-{tag}")).await;
    }
    assert_ne!(hub.url, hub_url);
    let upstreams = format!("[{{prefix: docker.io, remoteurl: '{}'}}]", hub.url);
    let cache = TestServer::start_env(&[
        ("REGISTRY_PROXY_UPSTREAMS", upstreams.as_str()),
        ("REGISTRY_PROXY_DEFAULT", "docker.io"),
    ])
    .await;
    push_image(&cache, "myteam/app", "local", "local").await;
    for path in [
        "/v2/docker.io/library/alpine/tags/list",
        "/v2/docker.io/alpine/tags/list",
        "/v2/library/alpine/tags/list",
        "/v2/alpine/tags/list",
    ] {
        assert_eq!(
            listed(&cache, path).await,
            (200, vec!["1".into(), "2".into()], None),
            "{path}"
        );
    }
    assert_eq!(
        listed(&cache, "/v2/myteam/app/tags/list").await.1,
        ["local"]
    );
    cache.stop().await;
    hub.stop().await;
}

//! The web UI in front of a token-auth registry: Wharf with `auth.token`, and a small token server
//! here that checks Basic credentials and issues JWTs signed with a key made by openssl. The UI
//! (embedded in `wharf serve`, and `wharf ui` in front of it) exchanges the browser's credentials for
//! tokens, caches them per credentials and scope, and retries with `Authorization: Bearer`.
mod common;
#[path = "common/signers.rs"]
mod signers;
#[path = "common/ui_fixture.rs"]
mod ui_fixture;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use common::TestServer;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use ui_fixture::{client, seed, test_config, UiServer};

const SERVICE: &str = "wharf.test";
const ISSUER: &str = "test-issuer";
const ALICE: (&str, &str) = ("alice", "alice-password");

/// The token server's key and what it has issued.
struct Issuer {
    key: EncodingKey,
    issued: AtomicUsize,
}

/// `GET /token?service=..&scope=..` with Basic `alice`: a token granting every requested scope.
async fn issue(
    State(issuer): State<Arc<Issuer>>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", ALICE.0, ALICE.1))
    );
    if headers
        .get(header::AUTHORIZATION)
        .is_none_or(|v| v != expected.as_str())
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let params: HashMap<&str, Vec<&str>> = query.iter().fold(HashMap::new(), |mut m, (k, v)| {
        m.entry(k.as_str()).or_default().push(v.as_str());
        m
    });
    let access: Vec<_> = params
        .get("scope")
        .into_iter()
        .flatten()
        .filter_map(|scope| {
            let (kind, rest) = scope.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            Some(json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "iss": ISSUER, "sub": ALICE.0, "aud": params.get("service").and_then(|s| s.first()),
        "exp": now + 300, "nbf": now - 10, "iat": now - 10, "jti": now.to_string(),
        "access": access,
    });
    let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &issuer.key).unwrap();
    issuer.issued.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({"token": token, "expires_in": 300})).into_response()
}

/// A token-auth Wharf holding the UI fixture, its UI embedded, and the token server.
struct Setup {
    registry: TestServer,
    issuer: Arc<Issuer>,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = signers::keypair(dir.path(), "signer", &signers::EC_P256);
    let bundle = dir.path().join("bundle.pem");
    std::fs::write(&bundle, cert).unwrap();
    let issuer = Arc::new(Issuer {
        key: EncodingKey::from_ec_pem(&key).unwrap(),
        issued: AtomicUsize::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let realm = format!("http://{}/token", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/token", axum::routing::get(issue))
        .with_state(issuer.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let root = dir.path().join("storage");
    let open = TestServer::start_at(&root, &[("REGISTRY_STORAGE_DELETE_ENABLED", "true")]).await;
    seed(&open.url, false).await;
    open.stop().await;
    let bundle = bundle.display().to_string();
    let registry = TestServer::start_at(
        &root,
        &[
            ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
            ("REGISTRY_AUTH", "token"),
            ("REGISTRY_AUTH_TOKEN_REALM", &realm),
            ("REGISTRY_AUTH_TOKEN_SERVICE", SERVICE),
            ("REGISTRY_AUTH_TOKEN_ISSUER", ISSUER),
            ("REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE", &bundle),
            ("REGISTRY_UI_ENABLED", "true"),
            ("REGISTRY_UI_DELETEIMAGES", "true"),
        ],
    )
    .await;
    Setup {
        registry,
        issuer,
        _dir: dir,
    }
}

async fn get(url: &str, creds: Option<(&str, &str)>) -> (u16, String) {
    let mut r = client().get(url);
    if let Some((u, p)) = creds {
        r = r.basic_auth(u, Some(p));
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The embedded UI signs in with tokens: 401 (Basic prompt) without or with wrong credentials;
/// with alice's, pages render, tokens are reused from the cache, and a tag is deleted.
#[tokio::test(flavor = "multi_thread")]
async fn embedded_ui_exchanges_credentials_for_tokens() {
    let s = setup().await;
    let ui = format!("{}/ui/", s.registry.url);
    let r = client().get(&ui).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic "));
    assert!(r.text().await.unwrap().contains("token authentication"));
    assert_eq!(get(&ui, Some(("alice", "wrong"))).await.0, 401);

    let (status, catalog) = get(&ui, Some(ALICE)).await;
    assert_eq!(status, 200, "{catalog}");
    for repo in ["alpine", "multi", "team/app"] {
        assert!(catalog.contains(&format!(">{repo}</a>")), "{repo}");
    }
    let issued = s.issuer.issued.load(Ordering::SeqCst);
    assert!(issued > 0);
    let (status, _) = get(&ui, Some(ALICE)).await;
    assert_eq!(status, 200);
    assert_eq!(
        s.issuer.issued.load(Ordering::SeqCst),
        issued,
        "cached tokens are reused"
    );
    let (status, tag) = get(&format!("{ui}r/alpine/-/tags/3.19"), Some(ALICE)).await;
    assert_eq!(status, 200, "{tag}");
    assert!(tag.contains("alpine:3.19"));

    let r = client()
        .post(format!("{ui}r/alpine/-/delete"))
        .basic_auth(ALICE.0, Some(ALICE.1))
        .form(&[("step", "tags"), ("tag", "latest")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (_, repo) = get(&format!("{ui}r/alpine"), Some(ALICE)).await;
    assert!(repo.contains(">stable</a>"));
    assert!(!repo.contains(">latest</a>"));
    s.registry.stop().await;
}

/// `wharf ui` in front of the same token-auth registry does the same exchange.
#[tokio::test(flavor = "multi_thread")]
async fn proxy_ui_exchanges_credentials_for_tokens() {
    let s = setup().await;
    let ui = UiServer::start(test_config(&s.registry.url)).await;
    assert_eq!(get(&ui.url, None).await.0, 401);
    let (status, catalog) = get(&ui.url, Some(ALICE)).await;
    assert_eq!(status, 200, "{catalog}");
    assert!(catalog.contains("href=\"/r/team/app\""));
    let (status, tag) = get(&format!("{}/r/multi/-/tags/1.0", ui.url), Some(ALICE)).await;
    assert_eq!(status, 200, "{tag}");
    assert!(tag.contains("linux/arm64/v8"));
    ui.stop().await;
    s.registry.stop().await;
}

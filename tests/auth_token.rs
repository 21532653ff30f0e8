//! Token authentication (`auth.token`) through a real server: the `Bearer` challenge names realm,
//! service and scope; tokens signed (RS256 and ES256) by a key whose certificate is in
//! `rootcertbundle` are accepted for what their `access` claim grants; wrong issuer, audience,
//! expiry, signer or scope are refused.

mod common;
#[path = "common/signers.rs"]
mod signers;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use common::TestServer;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use signers::keypair;

const REALM: &str = "https://auth.example.com/token";
const SERVICE: &str = "wharf.test";
const ISSUER: &str = "test-issuer";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A signed token with `claims` merged over valid defaults.
fn token(alg: Algorithm, key: &EncodingKey, claims: serde_json::Value) -> String {
    let mut all = json!({
        "iss": ISSUER, "sub": "ci", "aud": SERVICE,
        "exp": now() + 300, "nbf": now() - 10, "iat": now() - 10, "jti": "1",
        "access": [{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}],
    });
    for (k, v) in claims.as_object().unwrap() {
        all[k] = v.clone();
    }
    jsonwebtoken::encode(&Header::new(alg), &all, key).unwrap()
}

async fn start(bundle: &Path) -> TestServer {
    let bundle = bundle.display().to_string();
    TestServer::start_env(&[
        ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
        ("REGISTRY_AUTH", "token"),
        ("REGISTRY_AUTH_TOKEN_REALM", REALM),
        ("REGISTRY_AUTH_TOKEN_SERVICE", SERVICE),
        ("REGISTRY_AUTH_TOKEN_ISSUER", ISSUER),
        ("REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE", &bundle),
    ])
    .await
}

async fn status(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    bearer: Option<&str>,
) -> (u16, String) {
    let mut r = common::http().request(method, format!("{}{path}", server.url));
    if let Some(t) = bearer {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (r.status().as_u16(), challenge)
}

/// Without a token the challenge is `Bearer realm,service,scope` with the scope the request needs.
#[tokio::test]
async fn challenge_names_realm_service_and_scope() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = keypair(
        dir.path(),
        "ec",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
    );
    let bundle = dir.path().join("bundle.pem");
    std::fs::write(&bundle, cert).unwrap();
    let server = start(&bundle).await;
    let (code, challenge) = status(&server, reqwest::Method::GET, "/v2/", None).await;
    assert_eq!(code, 401);
    assert_eq!(
        challenge,
        format!("Bearer realm=\"{REALM}\",service=\"{SERVICE}\"")
    );
    let (code, challenge) = status(
        &server,
        reqwest::Method::POST,
        "/v2/team/app/blobs/uploads/",
        None,
    )
    .await;
    assert_eq!(code, 401);
    assert_eq!(
        challenge,
        format!("Bearer realm=\"{REALM}\",service=\"{SERVICE}\",scope=\"repository:team/app:pull,push\"")
    );
    let (_, challenge) = status(&server, reqwest::Method::GET, "/v2/_catalog", None).await;
    assert!(
        challenge.ends_with(",scope=\"registry:catalog:*\""),
        "{challenge}"
    );
    server.stop().await;
}

/// RS256 and ES256 tokens from signers in the bundle grant exactly their `access` claim; a valid
/// token without the needed scope gets 401 with `error="insufficient_scope"`.
#[tokio::test]
async fn signed_tokens_grant_their_access() {
    let dir = tempfile::tempdir().unwrap();
    let (rsa_cert, rsa_key) = keypair(dir.path(), "rsa", &["-newkey", "rsa:2048"]);
    let (ec_cert, ec_key) = keypair(
        dir.path(),
        "ec",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
    );
    let bundle = dir.path().join("bundle.pem");
    std::fs::write(&bundle, format!("{rsa_cert}{ec_cert}")).unwrap();
    let server = start(&bundle).await;
    let signers = [
        (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(&rsa_key).unwrap(),
        ),
        (Algorithm::ES256, EncodingKey::from_ec_pem(&ec_key).unwrap()),
    ];
    for (alg, key) in &signers {
        let t = token(*alg, key, json!({}));
        assert_eq!(
            status(&server, reqwest::Method::GET, "/v2/", Some(&t))
                .await
                .0,
            200,
            "{alg:?}"
        );
        let (code, _) = status(
            &server,
            reqwest::Method::POST,
            "/v2/team/app/blobs/uploads/",
            Some(&t),
        )
        .await;
        assert_eq!(code, 202, "{alg:?} push allowed");
        assert_eq!(
            status(
                &server,
                reqwest::Method::GET,
                "/v2/team/app/tags/list",
                Some(&t)
            )
            .await
            .0,
            404,
            "{alg:?} pull allowed (no tags yet)"
        );
        let (code, challenge) = status(
            &server,
            reqwest::Method::GET,
            "/v2/other/tags/list",
            Some(&t),
        )
        .await;
        assert_eq!(code, 401, "{alg:?} other repository");
        assert!(
            challenge.contains("scope=\"repository:other:pull\"")
                && challenge.ends_with("error=\"insufficient_scope\""),
            "{challenge}"
        );
        let (code, _) = status(
            &server,
            reqwest::Method::DELETE,
            &format!("/v2/team/app/manifests/sha256:{}", "a".repeat(64)),
            Some(&t),
        )
        .await;
        assert_eq!(code, 401, "{alg:?} delete not granted");
    }
    server.stop().await;
}

/// Tokens with the wrong issuer, audience, an expired or not-yet-valid time, an unknown signer, an
/// HMAC algorithm, or garbage are refused with the challenge.
#[tokio::test]
async fn invalid_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = keypair(
        dir.path(),
        "ec",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
    );
    let (_, other_key) = keypair(
        dir.path(),
        "other",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
    );
    let bundle = dir.path().join("bundle.pem");
    std::fs::write(&bundle, cert).unwrap();
    let server = start(&bundle).await;
    let key = EncodingKey::from_ec_pem(&key).unwrap();
    let other = EncodingKey::from_ec_pem(&other_key).unwrap();
    let bad = [
        token(Algorithm::ES256, &key, json!({"iss": "someone-else"})),
        token(Algorithm::ES256, &key, json!({"aud": "another-registry"})),
        token(Algorithm::ES256, &key, json!({"exp": now() - 600})),
        token(Algorithm::ES256, &key, json!({"nbf": now() + 600})),
        token(Algorithm::ES256, &other, json!({})),
        token(
            Algorithm::HS256,
            &EncodingKey::from_secret(b"guessable"),
            json!({}),
        ),
        "not.a.token".to_string(),
    ];
    for t in &bad {
        let (code, challenge) = status(&server, reqwest::Method::GET, "/v2/", Some(t)).await;
        assert_eq!(code, 401, "{t}");
        assert!(challenge.starts_with("Bearer realm="), "{challenge}");
    }
    let r = common::http()
        .get(format!("{}/v2/", server.url))
        .basic_auth("ci", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "Basic credentials are not tokens");
    assert_eq!(
        status(
            &server,
            reqwest::Method::GET,
            "/v2/",
            Some(&token(Algorithm::ES256, &key, json!({})))
        )
        .await
        .0,
        200
    );
    server.stop().await;
}

/// A bundle without a usable certificate stops start-up with an error naming the setting.
#[test]
fn bad_bundle_stops_startup() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.pem");
    std::fs::write(&bundle, "not a certificate").unwrap();
    let vars = [
        ("REGISTRY_AUTH_TOKEN_REALM", REALM),
        ("REGISTRY_AUTH_TOKEN_SERVICE", SERVICE),
        ("REGISTRY_AUTH_TOKEN_ISSUER", ISSUER),
        (
            "REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE",
            bundle.to_str().unwrap(),
        ),
        ("REGISTRY_STORAGE", "inmemory"),
    ];
    let config = wharf::config::Config::load(
        None,
        wharf::config::RegistryEnv::from_vars(
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        ),
    )
    .unwrap();
    let registry = wharf::server::registry(&config).unwrap();
    let err = wharf::server::state(&config, registry)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("auth.token.rootcertbundle"), "{err}");
}

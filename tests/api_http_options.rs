//! HTTP behaviour configured by `http:`: extra headers, CORS preflight without credentials, the path
//! prefix, and `Location` URLs behind a TLS-terminating proxy.
mod common;

use common::{http, push_blob, TestServer};

/// Configured headers are on every `/v2/` response, errors included, one line per value; not on `/`.
#[tokio::test]
async fn configured_headers() {
    let server = TestServer::start_env(&[
        ("REGISTRY_HTTP_HEADERS_X-Content-Type-Options", "[nosniff]"),
        ("REGISTRY_HTTP_HEADERS_X-Multi", "[one, two]"),
    ])
    .await;
    for path in ["/v2/", "/v2/missing/manifests/latest"] {
        let r = http()
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
        let multi: Vec<_> = r
            .headers()
            .get_all("x-multi")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert_eq!(multi, ["one", "two"], "{path}");
    }
    let root = http().get(format!("{}/", server.url)).send().await.unwrap();
    assert!(!root.headers().contains_key("x-multi"));
    server.stop().await;
}

/// CORS from `Access-Control-*` headers: a preflight gets 2xx without credentials; each allowed origin
/// is echoed alone; an unlisted origin gets no CORS headers.
#[tokio::test]
async fn cors_preflight_and_origins() {
    let server = TestServer::start_env(&[
        (
            "REGISTRY_HTTP_HEADERS_Access-Control-Allow-Origin",
            "[https://ui.example, https://other.example]",
        ),
        (
            "REGISTRY_HTTP_HEADERS_Access-Control-Allow-Methods",
            "[HEAD,GET,OPTIONS,DELETE]",
        ),
        (
            "REGISTRY_HTTP_HEADERS_Access-Control-Allow-Headers",
            "[Authorization,Accept,Cache-Control]",
        ),
        (
            "REGISTRY_HTTP_HEADERS_Access-Control-Allow-Credentials",
            "[true]",
        ),
        (
            "REGISTRY_HTTP_HEADERS_Access-Control-Expose-Headers",
            "[Docker-Content-Digest]",
        ),
    ])
    .await;
    let preflight = http()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v2/r/manifests/latest", server.url),
        )
        .header("origin", "https://other.example")
        .header("access-control-request-method", "DELETE")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let origins: Vec<_> = preflight
        .headers()
        .get_all("access-control-allow-origin")
        .iter()
        .collect();
    assert_eq!(origins, ["https://other.example"]);
    assert_eq!(
        preflight.headers()["access-control-allow-credentials"],
        "true"
    );
    let methods = preflight.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("DELETE"), "{methods}");

    let digest = push_blob(&server, "r", b"cors").await;
    let get = http()
        .get(format!("{}/v2/r/blobs/{digest}", server.url))
        .header("origin", "https://ui.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        get.headers()["access-control-allow-origin"],
        "https://ui.example"
    );
    assert!(get.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase()
        .contains("docker-content-digest"));

    let stranger = http()
        .get(format!("{}/v2/", server.url))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!stranger
        .headers()
        .contains_key("access-control-allow-origin"));
    server.stop().await;
}

/// With `http.prefix`, the API lives under the prefix and `Location` headers include it.
#[tokio::test]
async fn path_prefix() {
    let server = TestServer::start_env(&[("REGISTRY_HTTP_PREFIX", "/registry/")]).await;
    let r = http()
        .get(format!("{}/registry/v2/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http()
        .get(format!("{}/v2/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http()
        .post(format!("{}/registry/v2/a/blobs/uploads/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with(&format!("{}/registry/v2/a/blobs/uploads/", server.url)),
        "{location}"
    );
    server.stop().await;
}

/// Behind a TLS-terminating proxy, `Location` uses `X-Forwarded-Proto`/`X-Forwarded-Host`; `http.host`
/// wins over both; `relativeurls` drops the host.
#[tokio::test]
async fn location_behind_proxy() {
    let server = TestServer::start().await;
    let r = http()
        .post(format!("{}/v2/a/blobs/uploads/", server.url))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "registry.example.com")
        .send()
        .await
        .unwrap();
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("https://registry.example.com/v2/a/blobs/uploads/"));
    server.stop().await;

    let server = TestServer::start_env(&[("REGISTRY_HTTP_HOST", "https://public.example")]).await;
    let r = http()
        .post(format!("{}/v2/a/blobs/uploads/", server.url))
        .header("x-forwarded-host", "ignored.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("https://public.example/v2/a/"));
    server.stop().await;

    let server = TestServer::start_env(&[("REGISTRY_HTTP_RELATIVEURLS", "true")]).await;
    let r = http()
        .post(format!("{}/v2/a/blobs/uploads/", server.url))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/v2/a/blobs/uploads/"));
    server.stop().await;
}

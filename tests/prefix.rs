//! The API under `http.prefix`: every layer reads the request's endpoint parsed once after the prefix
//! is taken off, so read-only mode refuses writes and metrics label routes under a prefix exactly as
//! without one.

mod common;

use common::{http, TestServer};

/// Under `/reg/`, read-only mode refuses an upload with 405 `UNSUPPORTED` (it used to let it through
/// with 202) and still serves reads; outside the prefix nothing is an API route.
#[tokio::test(flavor = "multi_thread")]
async fn read_only_under_a_prefix() {
    let server = TestServer::start_env(&[
        ("REGISTRY_HTTP_PREFIX", "/reg/"),
        ("REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED", "true"),
    ])
    .await;
    let post = http()
        .post(format!("{}/reg/v2/x/blobs/uploads/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(common::error_code(post).await, "UNSUPPORTED");
    let delete = http()
        .delete(format!("{}/reg/v2/x/manifests/latest", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 405);
    let base = http()
        .get(format!("{}/reg/v2/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(base.status(), 200);
    let outside = http()
        .get(format!("{}/v2/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 404);
    server.stop().await;
}

/// Under `/reg/`, requests are counted under their route kind (`upload`, `base`), not `other`.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_under_a_prefix() {
    let (server, debug) = TestServer::start_with_debug(&[
        ("REGISTRY_HTTP_PREFIX", "/reg/"),
        ("REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED", "true"),
    ])
    .await;
    let bytes = b"counted under its route";
    let upload = http()
        .post(format!(
            "{}/reg/v2/app/blobs/uploads/?digest={}",
            server.url,
            common::sha256(bytes)
        ))
        .body(&bytes[..])
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 201);
    let base = http()
        .get(format!("{}/reg/v2/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(base.status(), 200);
    let metrics = http()
        .get(format!("{debug}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "wharf_http_requests_total{route=\"upload\",method=\"POST\",status=\"201\"} 1\n",
        "wharf_http_requests_total{route=\"base\",method=\"GET\",status=\"200\"} 1\n",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    assert!(!metrics.contains("route=\"other\""), "{metrics}");
    server.stop().await;
}

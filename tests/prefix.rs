//! The API under `http.prefix`: every layer reads the request's endpoint parsed once after the prefix
//! is taken off, so read-only mode refuses writes, metrics label routes, notifications report pushes
//! and pulls, and the embedded UI browses the registry under a prefix exactly as without one.

mod common;
#[path = "common/ui_fixture.rs"]
mod ui_fixture;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use common::{http, metrics_text, TestServer};
use serde_json::Value;

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
    let metrics = metrics_text(&debug).await;
    for line in [
        "wharf_http_requests_total{route=\"upload\",method=\"POST\",status=\"201\"} 1\n",
        "wharf_http_requests_total{route=\"base\",method=\"GET\",status=\"200\"} 1\n",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    assert!(!metrics.contains("route=\"other\""), "{metrics}");
    server.stop().await;
}

/// Pushes a small image to `team/app:v1` through the API at `base`; returns its descriptor.
async fn push_tagged(base: &str) -> Value {
    let spec = ui_fixture::ImageSpec {
        seed: "under a prefix",
        created: "2026-01-01T00:00:00Z",
        arch: "amd64",
        layer_len: 512,
        labels: serde_json::json!({}),
        history: &[],
    };
    let image = ui_fixture::push_image(base, "team/app", &spec).await;
    ui_fixture::tag(base, "team/app", "v1", &image).await;
    image
}

/// Events a webhook receiver on `127.0.0.1:0` has been sent, and its URL.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    async fn receive(State(seen): State<Arc<Mutex<Vec<Value>>>>, body: Bytes) {
        let envelope: Value = serde_json::from_slice(&body).expect("an events envelope");
        let events = envelope["events"].as_array().cloned().unwrap_or_default();
        seen.lock().unwrap().extend(events);
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .fallback(receive)
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// Under `/reg/`, a push and a pull each send their events, with target URLs under the prefix, and a
/// `HEAD` sends none.
#[tokio::test(flavor = "multi_thread")]
async fn notifications_under_a_prefix() {
    let (hook, seen) = receiver().await;
    let endpoints = format!("[{{name: hook, url: '{hook}', timeout: 1s, backoff: 100ms}}]");
    let server = TestServer::start_env(&[
        ("REGISTRY_HTTP_PREFIX", "/reg/"),
        ("REGISTRY_NOTIFICATIONS_ENDPOINTS", &endpoints),
    ])
    .await;
    let base = format!("{}/reg", server.url);
    let image = push_tagged(&base).await;
    let digest = image["digest"].as_str().unwrap().to_string();
    let manifest = format!("{base}/v2/team/app/manifests/v1");
    assert_eq!(http().head(&manifest).send().await.unwrap().status(), 200);
    assert_eq!(http().get(&manifest).send().await.unwrap().status(), 200);

    let want_pull = |e: &Value| e["action"] == "pull" && e["target"]["tag"] == "v1";
    let mut waited = Duration::ZERO;
    while !seen.lock().unwrap().iter().any(want_pull) && waited < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    }
    let events = seen.lock().unwrap().clone();
    let manifest_events: Vec<&Value> = events
        .iter()
        .filter(|e| e["target"]["digest"] == digest.as_str())
        .collect();
    let actions: Vec<&str> = manifest_events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // Pushed by digest, read back and pushed by tag (the fixture's tagging), then one GET: the HEAD
    // sends nothing.
    assert_eq!(actions, ["push", "pull", "push", "pull"], "{events:#?}");
    for event in manifest_events {
        assert_eq!(event["target"]["repository"], "team/app");
        let url = event["target"]["url"].as_str().unwrap();
        assert!(
            url.ends_with(&format!("/reg/v2/team/app/manifests/{digest}")),
            "{url}"
        );
    }
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "push" && e["target"]["digest"] != digest.as_str()),
        "the blob pushes are reported too: {events:#?}"
    );
    server.stop().await;
}

/// Under `/reg/`, the embedded UI lists the repositories and tags pushed under the prefix (it calls
/// the API in process, through the same layers) and its pull command names the prefix-free host.
#[tokio::test(flavor = "multi_thread")]
async fn embedded_ui_under_a_prefix() {
    let server = TestServer::start_env(&[
        ("REGISTRY_HTTP_PREFIX", "/reg/"),
        ("REGISTRY_UI_ENABLED", "true"),
    ])
    .await;
    let base = format!("{}/reg", server.url);
    push_tagged(&base).await;
    let (status, catalog) = ui_fixture::get(&format!("{}/ui/", server.url)).await;
    assert_eq!(status, 200, "{catalog}");
    assert!(
        catalog.contains("href=\"/ui/r/team/app\">team/app</a>"),
        "{catalog}"
    );
    let (status, tag) = ui_fixture::get(&format!("{}/ui/r/team/app/-/tags/v1", server.url)).await;
    assert_eq!(status, 200, "{tag}");
    assert!(tag.contains("team/app:v1"), "{tag}");
    server.stop().await;
}

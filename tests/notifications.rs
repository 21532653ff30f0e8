//! Notifications through a real server and a webhook receiver in the test: the events of pushes,
//! pulls, mounts and deletes in distribution's envelope with the configured headers, filtering by
//! action and media type, and an endpoint that hangs neither slowing pushes nor losing events.

mod auth_support;
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_support::{eventually, request, users_dir};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use common::{http, push_blob, push_image, sha256, TestServer};
use reqwest::Method;
use serde_json::Value;
use tokio::sync::watch;

const ALICE: (&str, &str) = ("alice", "alice-password");
const EVENTS_TYPE: &str = "application/vnd.docker.distribution.events.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// One notification request as the receiver saw it.
#[derive(Clone, Debug)]
struct Delivery {
    path: String,
    headers: HeaderMap,
    body: Value,
}

#[derive(Default)]
struct HookState {
    received: Mutex<Vec<Delivery>>,
    /// Requests that arrived while the receiver was holding.
    held: Mutex<usize>,
}

/// A webhook receiver on `127.0.0.1:0` that records every request. While holding, requests hang
/// until released and then fail with 503, so the registry must retry them.
struct Hook {
    url: String,
    state: Arc<HookState>,
    hold: watch::Sender<bool>,
}

impl Hook {
    async fn start() -> Hook {
        let state = Arc::new(HookState::default());
        let (hold, holding) = watch::channel(false);
        let app = axum::Router::new()
            .fallback(receive)
            .with_state((state.clone(), holding));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Hook { url, state, hold }
    }

    /// Events received at `path`, in order.
    fn events(&self, path: &str) -> Vec<Value> {
        self.deliveries(path)
            .iter()
            .flat_map(|d| d.body["events"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    fn deliveries(&self, path: &str) -> Vec<Delivery> {
        let all = self.state.received.lock().unwrap();
        all.iter().filter(|d| d.path == path).cloned().collect()
    }

    fn held(&self) -> usize {
        *self.state.held.lock().unwrap()
    }

    /// Waits until `path` has received `n` events; returns them.
    async fn wait_for(&self, path: &str, n: usize) -> Vec<Value> {
        let got = eventually(Duration::from_secs(15), || async {
            self.events(path).len() >= n
        })
        .await;
        let events = self.events(path);
        assert!(got, "expected {n} events at {path}, got {events:#?}");
        events
    }
}

async fn receive(
    State((state, mut holding)): State<(Arc<HookState>, watch::Receiver<bool>)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if *holding.borrow() {
        *state.held.lock().unwrap() += 1;
        let _ = holding.wait_for(|hold| !hold).await;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let body = serde_json::from_slice(&body).expect("notification body is JSON");
    state.received.lock().unwrap().push(Delivery {
        path: uri.path().to_string(),
        headers,
        body,
    });
    StatusCode::OK
}

/// `(action, repository, digest or tag)` of an event, for comparing sequences.
fn summary(event: &Value) -> (String, String, String) {
    let target = &event["target"];
    let what = target["tag"]
        .as_str()
        .filter(|_| target["digest"].is_null())
        .or(target["digest"].as_str())
        .unwrap_or_default();
    (
        event["action"].as_str().unwrap_or_default().to_string(),
        target["repository"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        what.to_string(),
    )
}

fn s(action: &str, repository: &str, what: &str) -> (String, String, String) {
    (action.into(), repository.into(), what.into())
}

/// Pushes (monolithic and chunked), pulls, a mount and deletes of every kind each reach the
/// endpoint as one event per request, in order, in distribution's envelope with its Content-Type and
/// the configured Authorization header; targets carry media type, size, digest, URL and tag, and
/// request, actor and source are filled. HEAD requests and failed requests send nothing.
#[tokio::test(flavor = "multi_thread")]
async fn push_pull_mount_and_delete_events() {
    let hook = Hook::start().await;
    let (_users, htpasswd) = users_dir(&[ALICE]);
    let endpoints = format!(
        "[{{name: hook, url: '{}/events', timeout: 1s, threshold: 3, backoff: 100ms, headers: {{Authorization: [Bearer x]}}}}]",
        hook.url
    );
    let server = auth_support::start(
        &htpasswd,
        &[("REGISTRY_NOTIFICATIONS_ENDPOINTS", &endpoints)],
    )
    .await;
    let call = |method: Method, path: String| {
        request(&server, method, &path, Some(ALICE)).header("user-agent", "notify-test/1")
    };

    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let config_digest = sha256(&config);
    let r = call(
        Method::POST,
        format!("/v2/team/app/blobs/uploads/?digest={config_digest}"),
    )
    .body(config.clone())
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 201);

    let layer = b"layer bytes".to_vec();
    let layer_digest = sha256(&layer);
    let r = call(Method::POST, "/v2/team/app/blobs/uploads/".into())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let session = location.trim_start_matches(&server.url).to_string();
    let r = call(Method::PATCH, session.clone())
        .body(layer.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = call(Method::PUT, format!("{session}?digest={layer_digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let manifest = common::image_manifest(&config, &[&layer]);
    let manifest_digest = sha256(&manifest);
    let r = call(Method::PUT, "/v2/team/app/manifests/v1".into())
        .header("content-type", OCI_MANIFEST)
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    for (method, path) in [
        (Method::HEAD, "/v2/team/app/manifests/v1".to_string()),
        (Method::GET, "/v2/team/app/manifests/v1".to_string()),
        (Method::HEAD, format!("/v2/team/app/blobs/{layer_digest}")),
        (Method::GET, format!("/v2/team/app/blobs/{layer_digest}")),
        (Method::GET, "/v2/team/app/manifests/missing".to_string()),
    ] {
        call(method, path).send().await.unwrap();
    }
    let r = call(
        Method::POST,
        format!("/v2/team/other/blobs/uploads/?mount={layer_digest}&from=team/app"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    for path in [
        "/v2/team/app/manifests/v1".to_string(),
        format!("/v2/team/other/blobs/{layer_digest}"),
        format!("/v2/team/app/manifests/{manifest_digest}"),
    ] {
        let r = call(Method::DELETE, path).send().await.unwrap();
        assert_eq!(r.status(), 202);
    }

    let events = hook.wait_for("/events", 9).await;
    let summaries: Vec<_> = events.iter().map(summary).collect();
    assert_eq!(
        summaries,
        [
            s("push", "team/app", &config_digest),
            s("push", "team/app", &layer_digest),
            s("push", "team/app", &manifest_digest),
            s("pull", "team/app", &manifest_digest),
            s("pull", "team/app", &layer_digest),
            s("mount", "team/other", &layer_digest),
            s("delete", "team/app", "v1"),
            s("delete", "team/other", &layer_digest),
            s("delete", "team/app", &manifest_digest),
        ]
    );
    for delivery in hook.deliveries("/events") {
        assert_eq!(delivery.headers["content-type"], EVENTS_TYPE);
        assert_eq!(delivery.headers["authorization"], "Bearer x");
        assert_eq!(delivery.body["events"].as_array().unwrap().len(), 1);
    }

    let pushed = &events[2];
    let target = &pushed["target"];
    assert_eq!(target["mediaType"], OCI_MANIFEST);
    assert_eq!(target["size"], manifest.len());
    assert_eq!(target["length"], manifest.len());
    assert_eq!(target["tag"], "v1");
    assert_eq!(
        target["url"],
        format!("{}/v2/team/app/manifests/{manifest_digest}", server.url)
    );
    assert_eq!(pushed["request"]["method"], "PUT");
    assert_eq!(pushed["request"]["useragent"], "notify-test/1");
    assert_eq!(pushed["request"]["host"], server.host());
    assert!(pushed["request"]["addr"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert_eq!(pushed["actor"]["name"], "alice");
    assert!(!pushed["source"]["instanceID"].as_str().unwrap().is_empty());
    assert!(!pushed["source"]["addr"].as_str().unwrap().is_empty());
    assert_ne!(events[0]["id"], events[1]["id"]);

    let blob_pull = &events[4]["target"];
    assert_eq!(blob_pull["mediaType"], "application/octet-stream");
    assert_eq!(blob_pull["size"], layer.len());
    assert_eq!(
        blob_pull["url"],
        format!("{}/v2/team/app/blobs/{layer_digest}", server.url)
    );
    assert_eq!(events[3]["target"]["tag"], "v1");
    assert_eq!(events[3]["request"]["method"], "GET");
    assert_eq!(events[5]["target"]["fromRepository"], "team/app");
    assert!(events[8]["target"]["url"].is_null());
    server.stop().await;
}

/// `ignore.actions` and `ignoredmediatypes` keep events from one endpoint while another endpoint
/// without filters gets them all.
#[tokio::test(flavor = "multi_thread")]
async fn ignored_actions_and_media_types_are_filtered() {
    let hook = Hook::start().await;
    let endpoints = format!(
        "[{{name: all, url: '{u}/all'}}, {{name: filtered, url: '{u}/filtered', ignoredmediatypes: [application/octet-stream], ignore: {{actions: [pull]}}}}, {{name: off, disabled: true, url: '{u}/off'}}]",
        u = hook.url
    );
    let server = TestServer::start_env(&[
        ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
        ("REGISTRY_NOTIFICATIONS_ENDPOINTS", &endpoints),
    ])
    .await;
    let (_, digest) = push_image(&server, "filter/app", "v1", "filter").await;
    let base = format!("{}/v2/filter/app", server.url);
    let r = http()
        .get(format!("{base}/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http()
        .delete(format!("{base}/manifests/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    let filtered = hook.wait_for("/filtered", 2).await;
    let all = hook.wait_for("/all", 5).await;
    let actions = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(actions(&all), ["push", "push", "push", "pull", "delete"]);
    assert_eq!(actions(&filtered), ["push", "delete"]);
    assert_eq!(filtered[0]["target"]["mediaType"], OCI_MANIFEST);
    assert!(hook.events("/off").is_empty());
    server.stop().await;
}

/// While the endpoint hangs past its timeout, pushes still complete (the hook is released only after
/// them, so a push waiting on delivery would never finish) and timed-out deliveries are retried; once
/// it answers again the queued events arrive in order, and the metrics count failures and deliveries.
#[tokio::test(flavor = "multi_thread")]
async fn hanging_endpoint_never_slows_pushes_and_catches_up() {
    let hook = Hook::start().await;
    hook.hold.send_replace(true);
    let endpoints = format!(
        "[{{name: slow, url: '{}/events', timeout: 300ms, threshold: 2, backoff: 50ms}}]",
        hook.url
    );
    let (server, debug) = TestServer::start_with_debug(&[
        ("REGISTRY_NOTIFICATIONS_ENDPOINTS", &endpoints),
        ("REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED", "true"),
    ])
    .await;

    let first = push_blob(&server, "slow/app", b"first blob").await;
    assert!(
        eventually(Duration::from_secs(10), || async { hook.held() >= 1 }).await,
        "the registry never called the endpoint"
    );
    let (_, manifest_digest) = push_image(&server, "slow/app", "v1", "slow").await;
    assert!(
        hook.events("/events").is_empty(),
        "the pushes completed while the first event was still undelivered"
    );

    assert!(
        eventually(Duration::from_secs(10), || async { hook.held() >= 2 }).await,
        "a delivery that timed out was not retried"
    );
    hook.hold.send_replace(false);
    let events = hook.wait_for("/events", 4).await;
    let digests: Vec<&str> = events
        .iter()
        .map(|e| e["target"]["digest"].as_str().unwrap())
        .collect();
    assert_eq!(digests[0], first);
    assert_eq!(digests.last().copied(), Some(manifest_digest.as_str()));

    let count = |name: &'static str| {
        let url = format!("{debug}/metrics");
        async move {
            let metrics = http().get(url).send().await.unwrap().text().await.unwrap();
            let prefix = format!("{name}{{endpoint=\"slow\"}} ");
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{name} missing from\n{metrics}"))
        }
    };
    assert!(
        eventually(Duration::from_secs(10), || async {
            count("wharf_notifications_sent_total").await == 4
        })
        .await
    );
    assert!(count("wharf_notifications_failed_total").await >= 1);
    assert_eq!(count("wharf_notifications_dropped_total").await, 0);
    server.stop().await;
}

//! Operations through a real server: read-only mode, upload purging, the storage health check and its
//! 503s, the metrics endpoint, and on-demand garbage collection while clients push.
mod common;

use std::time::{Duration, Instant, SystemTime};

use common::{
    age, debug_listener, error_code, http, image_manifest, metrics_text, push_blob, push_image,
    put_manifest, sha256, TestServer,
};
use serde_json::Value;
use wharf::ops::ServeOptions;

/// Polls `check` every 20 ms until it holds, failing after 10 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn status(url: &str) -> u16 {
    http().get(url).send().await.unwrap().status().as_u16()
}

/// In read-only mode every write under /v2/ answers 405 UNSUPPORTED, while manifests, blobs, tags
/// and the catalog are still served.
#[tokio::test(flavor = "multi_thread")]
async fn read_only_refuses_writes_and_serves_reads() {
    let server = TestServer::start().await;
    let (manifest, digest) = push_image(&server, "ro/app", "v1", "ro").await;
    let dir = server.stop_keep_dir().await;
    let server = TestServer::start_at(
        dir.path(),
        &[
            ("REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED", "true"),
            ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
        ],
    )
    .await;
    let base = format!("{}/v2/ro/app", server.url);
    let got = http()
        .get(format!("{base}/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().to_vec(), manifest);
    assert_eq!(status(&format!("{base}/tags/list")).await, 200);
    assert_eq!(status(&format!("{}/v2/_catalog", server.url)).await, 200);
    let layer = sha256(b"layer bytes for ro");
    assert_eq!(status(&format!("{base}/blobs/{layer}")).await, 200);

    let writes = [
        http().post(format!("{base}/blobs/uploads/")),
        http()
            .put(format!("{base}/manifests/v2"))
            .body(manifest.clone()),
        http().delete(format!("{base}/manifests/{digest}")),
        http().delete(format!("{base}/blobs/{layer}")),
    ];
    for request in writes {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 405);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], "UNSUPPORTED");
        assert!(body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("read-only"));
    }
    server.stop().await;
}

/// The purger removes upload sessions whose `startedat` is older than the age, keeps recent ones and
/// those without a readable `startedat`, and counts what it removed; it also removes the temporary
/// files of interrupted writes older than an hour, and keeps recent ones.
#[tokio::test(flavor = "multi_thread")]
async fn old_uploads_are_purged() {
    let dir = tempfile::tempdir().unwrap();
    let uploads = dir
        .path()
        .join("docker/registry/v2/repositories/purge/me/_uploads");
    let old = "0b7c2d3e-6f35-4a9e-8f2d-1c4b5a6d7e8f";
    let unreadable = "1b7c2d3e-6f35-4a9e-8f2d-1c4b5a6d7e8f";
    for (id, started) in [(old, "2020-01-01T00:00:00Z"), (unreadable, "not a time")] {
        std::fs::create_dir_all(uploads.join(id)).unwrap();
        std::fs::write(uploads.join(id).join("startedat"), started).unwrap();
        std::fs::write(uploads.join(id).join("data"), b"half a layer").unwrap();
    }
    // What kill -9 leaves of interrupted writes: a blob's data never renamed into place (the directory
    // has no `data`), and a link; a recent one may belong to a write in progress.
    let blob_dir = dir.path().join("docker/registry/v2/blobs/sha256/ab/ab01");
    std::fs::create_dir_all(&blob_dir).unwrap();
    let old_blob = blob_dir.join("data.2b7c2d3e-6f35-4a9e-8f2d-1c4b5a6d7e8f.tmp");
    let old_link = uploads.join(format!(
        "{old}.link.3b7c2d3e-6f35-4a9e-8f2d-1c4b5a6d7e8f.tmp"
    ));
    let recent_blob = blob_dir.join("data.4b7c2d3e-6f35-4a9e-8f2d-1c4b5a6d7e8f.tmp");
    for leftover in [&old_blob, &old_link, &recent_blob] {
        std::fs::write(leftover, b"half written").unwrap();
    }
    for leftover in [&old_blob, &old_link] {
        std::fs::File::options()
            .write(true)
            .open(leftover)
            .and_then(|f| f.set_modified(SystemTime::now() - Duration::from_secs(2 * 3600)))
            .unwrap();
    }
    let (listener, debug) = debug_listener().await;
    let options = ServeOptions {
        debug_listener: Some(listener),
        first_purge_after: Some(Duration::from_millis(300)),
    };
    let server = TestServer::start_at_with(
        dir.path(),
        &[("REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED", "true")],
        options,
    )
    .await;
    let started = http()
        .post(format!("{}/v2/purge/me/blobs/uploads/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let recent = started.headers()["docker-upload-uuid"]
        .to_str()
        .unwrap()
        .to_string();

    eventually("the old upload to be purged", || async {
        !uploads.join(old).exists()
    })
    .await;
    let upload_url = |id: &str| format!("{}/v2/purge/me/blobs/uploads/{id}", server.url);
    let r = http().get(upload_url(old)).send().await.unwrap();
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(status(&upload_url(&recent)).await, 204);
    assert!(uploads.join(unreadable).exists());
    eventually("the old leftovers to be removed", || async {
        !old_blob.exists() && !old_link.exists()
    })
    .await;
    assert!(recent_blob.exists(), "a recent temporary file is kept");
    let metrics = metrics_text(&debug).await;
    assert!(metrics.contains("wharf_uploads_purged_total 1\n"));
    server.stop().await;
}

/// While the storage check fails `threshold` times in a row (the root's `docker` directory moved
/// away and replaced by a file, which stops root too), every request gets 503 UNAVAILABLE and
/// /debug/health names the check, both with nosniff; once storage is back, requests are served again.
#[tokio::test(flavor = "multi_thread")]
async fn failing_storage_check_answers_503() {
    let (server, debug) = TestServer::start_with_debug(&[
        ("REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL", "50ms"),
        ("REGISTRY_HEALTH_STORAGEDRIVER_THRESHOLD", "2"),
    ])
    .await;
    assert_eq!(status(&format!("{}/v2/", server.url)).await, 200);
    assert_eq!(status(&format!("{debug}/debug/health")).await, 200);

    let blocker = server.root.join("docker");
    let moved = server.root.join("moved");
    std::fs::rename(&blocker, &moved).unwrap();
    std::fs::write(&blocker, b"not a directory").unwrap();
    eventually("503 from the API", || async {
        status(&format!("{}/v2/", server.url)).await == 503
    })
    .await;
    let r = http()
        .get(format!("{}/v2/anything/tags/list", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(error_code(r).await, "UNAVAILABLE");
    let health = http()
        .get(format!("{debug}/debug/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 503);
    assert_eq!(health.headers()["x-content-type-options"], "nosniff");
    let body: Value = health.json().await.unwrap();
    assert!(body["storagedriver"].as_str().is_some(), "{body}");

    std::fs::remove_file(&blocker).unwrap();
    std::fs::rename(&moved, &blocker).unwrap();
    eventually("the API to recover", || async {
        status(&format!("{}/v2/", server.url)).await == 200
    })
    .await;
    server.stop().await;
}

/// After pushes, pulls, a 404 and an on-demand GC, the metrics endpoint reports requests by route
/// kind, method and status, latency, bytes in and out, uploads in flight and GC runs and bytes freed;
/// the collection's answer times its phases, the settle period first (waited for the one writer, the
/// server itself, which took the pushes).
#[tokio::test(flavor = "multi_thread")]
async fn metrics_after_traffic() {
    let (server, debug) = TestServer::start_with_debug(&[
        ("REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED", "true"),
        ("REGISTRY_STORAGE_GC_GRACEPERIOD", "0s"),
        ("REGISTRY_STORAGE_GC_SETTLEPERIOD", "1s"),
    ])
    .await;
    let (manifest, _) = push_image(&server, "m/app", "v1", "metrics").await;
    let orphan = push_blob(&server, "m/app", b"an orphan of 22 bytes!").await;
    let got = http()
        .get(format!("{}/v2/m/app/manifests/v1", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().len(), manifest.len());
    let missing = format!("{}/v2/m/app/blobs/{}", server.url, sha256(b"nothing"));
    assert_eq!(status(&missing).await, 404);
    let gc: Value = http()
        .post(format!("{debug}/debug/gc"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(gc["bytesFreed"], 22, "{gc}");
    assert_eq!(
        gc["blobsDeleted"],
        serde_json::json!([{"digest": orphan, "size": 22}]),
        "{gc}"
    );
    assert_eq!(gc["manifestsDeleted"], serde_json::json!([]), "{gc}");
    let phases = gc["phases"].as_array().expect("phases");
    assert_eq!(phases[0]["phase"], "settle period", "{gc}");
    assert!(phases[0]["seconds"].as_f64().unwrap() >= 1.0, "{gc}");
    assert_eq!(gc["writers"], 1, "{gc}");
    assert_eq!(phases.last().unwrap()["phase"], "repositories", "{gc}");

    let text = metrics_text(&debug).await;
    for line in [
        "wharf_http_requests_total{route=\"manifest\",method=\"PUT\",status=\"201\"} 1\n",
        "wharf_http_requests_total{route=\"manifest\",method=\"GET\",status=\"200\"} 1\n",
        "wharf_http_requests_total{route=\"upload\",method=\"POST\",status=\"201\"} 3\n",
        "wharf_http_requests_total{route=\"blob\",method=\"GET\",status=\"404\"} 1\n",
        &format!(
            "wharf_http_sent_bytes_total{{route=\"manifest\"}} {}\n",
            manifest.len()
        ),
        &format!(
            "wharf_http_received_bytes_total{{route=\"manifest\"}} {}\n",
            manifest.len()
        ),
        "wharf_http_request_duration_seconds_count{route=\"manifest\"} 2\n",
        "wharf_uploads_in_flight 0\n",
        "wharf_gc_runs_total{result=\"success\"} 1\n",
        "wharf_gc_freed_bytes_total 22\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    server.stop().await;
}

/// Pushes an image like a registry client: blobs the repository already has are not uploaded again;
/// a blob upload answered 503 `UNAVAILABLE` (a write that outlasted the GC protocol's bound while a
/// collection removed what it relied on, as on a loaded machine) is retried, and when the manifest is
/// refused for an unknown blob (collected meanwhile) the push starts over.
async fn client_push(server: &TestServer, repo: &str, tag: &str, blobs: &[Vec<u8>]) -> Vec<u8> {
    let refs: Vec<&[u8]> = blobs[1..].iter().map(|b| b.as_slice()).collect();
    let manifest = image_manifest(&blobs[0], &refs);
    for _attempt in 0..5 {
        for blob in blobs {
            let head = http()
                .head(format!("{}/v2/{repo}/blobs/{}", server.url, sha256(blob)))
                .send()
                .await
                .unwrap();
            if head.status() != 200 {
                push_blob_retrying(server, repo, blob).await;
            }
        }
        let r = put_manifest(
            server,
            repo,
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        )
        .await;
        if r.status() == 201 {
            return manifest;
        }
        assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    }
    panic!("push of {repo}:{tag} kept failing");
}

/// `POST ?digest=` of `bytes` to `repo`, retried while it answers 503 `UNAVAILABLE`.
async fn push_blob_retrying(server: &TestServer, repo: &str, bytes: &[u8]) {
    let url = format!(
        "{}/v2/{repo}/blobs/uploads/?digest={}",
        server.url,
        sha256(bytes)
    );
    for _attempt in 0..5 {
        let r = http().post(&url).body(bytes.to_vec()).send().await.unwrap();
        if r.status() == 201 {
            return;
        }
        assert_eq!(r.status(), 503, "blob push to {repo}");
        assert_eq!(error_code(r).await, "UNAVAILABLE");
    }
    panic!("blob push to {repo} kept answering 503");
}

/// On-demand collections (`POST /debug/gc` with `deleteuntagged`) run back to back while four
/// clients push images that reuse old unused blobs (which the collections are deleting) and new
/// ones: every image pushed pulls completely afterwards, and the collections did free the garbage.
#[tokio::test(flavor = "multi_thread")]
async fn gc_during_concurrent_pushes_loses_nothing() {
    let (server, debug) =
        TestServer::start_with_debug(&[("REGISTRY_STORAGE_GC_SETTLEPERIOD", "1s")]).await;
    let old: Vec<Vec<u8>> = (0..8)
        .map(|i| format!("old unused blob {i}").into_bytes())
        .collect();
    for (i, blob) in old.iter().enumerate() {
        let repo = format!("push/r{}", i % 4);
        let digest = push_blob(&server, &repo, blob).await;
        let hex = digest.strip_prefix("sha256:").unwrap();
        let v2 = server.root.join("docker/registry/v2");
        age(
            &v2.join(format!("blobs/sha256/{}/{hex}/data", &hex[..2])),
            2,
        );
        age(
            &v2.join(format!("repositories/{repo}/_layers/sha256/{hex}/link")),
            2,
        );
    }

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut runs, mut freed) = (0, 0);
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || runs == 0 {
                let r = http()
                    .post(format!("{debug}/debug/gc?deleteuntagged=true"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let report: Value = r.json().await.unwrap();
                freed += report["bytesFreed"].as_u64().unwrap();
                runs += 1;
            }
            (runs, freed)
        })
    };
    let mut pushers = Vec::new();
    for p in 0..4 {
        let (url, root, old) = (server.url.clone(), server.root.clone(), old.clone());
        pushers.push(tokio::spawn(async move {
            let server = TestServer::attach(&url, &root);
            let repo = format!("push/r{p}");
            let mut pushed = Vec::new();
            for i in 0..5 {
                let blobs = vec![
                    format!("{{\"config\":\"{p}-{i}\"}}").into_bytes(),
                    old[(p + i) % old.len()].clone(),
                    format!("new layer {p}-{i}").into_bytes(),
                ];
                let tag = format!("t{i}");
                let manifest = client_push(&server, &repo, &tag, &blobs).await;
                pushed.push((repo.clone(), tag, manifest, blobs));
            }
            pushed
        }));
    }
    let mut images = Vec::new();
    for p in pushers {
        images.extend(p.await.unwrap());
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (runs, freed) = collector.await.unwrap();
    assert!(runs >= 1);

    for (repo, tag, manifest, blobs) in &images {
        let got = http()
            .get(format!("{}/v2/{repo}/manifests/{tag}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.bytes().await.unwrap().to_vec(),
            *manifest,
            "{repo}:{tag}"
        );
        for blob in blobs {
            let got = http()
                .get(format!("{}/v2/{repo}/blobs/{}", server.url, sha256(blob)))
                .send()
                .await
                .unwrap();
            assert_eq!(got.status(), 200, "{repo}:{tag} blob");
            assert_eq!(got.bytes().await.unwrap().to_vec(), *blob);
        }
    }
    let used: std::collections::HashSet<&Vec<u8>> = images.iter().flat_map(|i| &i.3).collect();
    let unused: u64 = old
        .iter()
        .filter(|b| !used.contains(b))
        .map(|b| b.len() as u64)
        .sum();
    assert!(
        freed >= unused,
        "freed {freed} of {unused} unused bytes in {runs} runs"
    );
    server.stop().await;
}

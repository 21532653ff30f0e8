//! Quotas (`REGISTRY_QUOTAS`) through a server on `127.0.0.1:0`: a push that would take a repository
//! over its quota is refused with 403 `DENIED` naming the quota, as early as its size is known (a
//! blob upload declaring its length, a chunk, the manifest `PUT` at the latest); blobs the repository
//! already uses count once; repositories no quota matches are not limited; refusals and usage are
//! metrics.
mod common;

use common::{
    error_code, http, image_manifest, metrics_text, push_blob, put_manifest, sha256, TestServer,
};
use futures_util::stream;
use serde_json::Value;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

async fn denied(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "DENIED", "{body}");
    body["errors"][0]["message"].as_str().unwrap().to_string()
}

/// With `team/*` limited to 4 KiB: a 1 KiB image pushes; a second image sharing its layer adds only
/// its config and manifest and pushes too; a 5 KiB blob declared by `Content-Length` is refused
/// before its bytes are stored, as is a chunk that would overflow a session; a blob sent without a
/// length is taken, and the manifest using it is refused; `other/` has no quota.
#[tokio::test(flavor = "multi_thread")]
async fn pushes_over_quota_are_denied() {
    let (server, debug) = TestServer::start_with_debug(&[
        (
            "REGISTRY_QUOTAS",
            r#"[{repositories: ["team/*"], size: 4KiB}]"#,
        ),
        ("REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED", "true"),
    ])
    .await;
    let layer = vec![7u8; 1024];
    let config_a = br#"{"architecture":"amd64","os":"linux","seed":"a"}"#.to_vec();
    push_blob(&server, "team/app", &layer).await;
    push_blob(&server, "team/app", &config_a).await;
    let a = image_manifest(&config_a, &[&layer]);
    assert_eq!(
        put_manifest(&server, "team/app", "a", OCI_MANIFEST, &a)
            .await
            .status(),
        201
    );
    let config_b = br#"{"architecture":"amd64","os":"linux","seed":"b"}"#.to_vec();
    push_blob(&server, "team/app", &config_b).await;
    let b = image_manifest(&config_b, &[&layer]);
    assert_eq!(
        put_manifest(&server, "team/app", "b", OCI_MANIFEST, &b)
            .await
            .status(),
        201
    );

    let big = vec![1u8; 5 * 1024];
    let r = http()
        .post(format!(
            "{}/v2/team/app/blobs/uploads/?digest={}",
            server.url,
            sha256(&big)
        ))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    let message = denied(r).await;
    assert!(
        message.contains("over its quota of 4.0 KiB (quotas[0])"),
        "{message}"
    );
    assert!(message.contains("team/app"), "{message}");
    let head = http()
        .head(format!("{}/v2/team/app/blobs/{}", server.url, sha256(&big)))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 404, "nothing of a refused blob is stored");

    let r = http()
        .post(format!("{}/v2/team/app/blobs/uploads/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let session = if location.starts_with('/') {
        format!("{}{location}", server.url)
    } else {
        location
    };
    let r = http()
        .patch(&session)
        .header("content-range", "0-1023")
        .body(vec![2u8; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "a chunk within the quota is taken");
    let r = http()
        .patch(&session)
        .header("content-range", "1024-4095")
        .body(vec![2u8; 3072])
        .send()
        .await
        .unwrap();
    denied(r).await;

    let unsized_blob = vec![3u8; 3 * 1024];
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(unsized_blob.clone())];
    let r = http()
        .post(format!(
            "{}/v2/team/app/blobs/uploads/?digest={}",
            server.url,
            sha256(&unsized_blob)
        ))
        .body(reqwest::Body::wrap_stream(stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        201,
        "without a length the blob cannot be weighed first"
    );
    let config_c = br#"{"architecture":"amd64","os":"linux","seed":"c"}"#.to_vec();
    push_blob(&server, "team/app", &config_c).await;
    let c = image_manifest(&config_c, &[&layer, &unsized_blob]);
    let r = put_manifest(&server, "team/app", "c", OCI_MANIFEST, &c).await;
    let message = denied(r).await;
    assert!(message.contains("quotas[0]"), "{message}");
    let r = http()
        .get(format!("{}/v2/team/app/manifests/c", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");

    push_blob(&server, "other/app", &big).await;
    push_blob(&server, "other/app", &config_a).await;
    let other = image_manifest(&config_a, &[&big]);
    let r = put_manifest(&server, "other/app", "big", OCI_MANIFEST, &other).await;
    assert_eq!(r.status(), 201, "no quota governs other/");

    let metrics = metrics_text(&debug).await;
    assert!(
        metrics.contains("wharf_quota_refusals_total 3\n"),
        "{metrics}"
    );
    let bytes: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("wharf_repository_bytes{repository=\"team/app\"} "))
        .expect("team/app's usage is exported")
        .parse()
        .unwrap();
    assert!(bytes > 1024 && bytes <= 4096, "{bytes}");
    assert!(
        !metrics.contains("repository=\"other/app\""),
        "no quota weighs other/"
    );
    server.stop().await;
}

/// A zero size or an empty pattern list stops the server from starting, naming the setting.
#[test]
fn bad_quotas_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["config", "--check"])
        .env("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", dir.path())
        .env("REGISTRY_QUOTAS", "[{repositories: [team/*], size: 0}]")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("quotas[0].size"), "{err}");
    assert!(err.contains("must be above zero"), "{err}");
}

//! What `wharf serve` logs, through the real binary with its log going to a pipe (as to a file or a
//! collector): no colour codes, a start-up line with the settings an operator checks first, and
//! access lines whose byte counts are numbers and durations are rounded.

mod common;

use common::binary::{command, free_port, serve};

/// Text logs to a non-terminal hold no ANSI escape codes, and start with the settings line.
#[tokio::test(flavor = "multi_thread")]
async fn plain_text_without_colour() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = command(dir.path(), port, &[]);
    cmd.env_remove("NO_COLOR");
    let served = serve(cmd, port).await;
    let server = served.handle(dir.path());
    common::push_blob(&server, "app", b"logged").await;
    let log = served.stop();
    assert!(!log.contains('\u{1b}'), "{log}");
    let settings = log
        .lines()
        .find(|l| l.contains(" settings "))
        .unwrap_or_else(|| panic!("no settings line: {log}"));
    for part in ["auth=", "tls=\"off\"", "ui=\"off\"", "read_only=false"] {
        assert!(settings.contains(part), "{part} missing from {settings}");
    }
}

/// In JSON, an access line's `bytes` is a number (absent when the length is unknown),
/// `duration_ms` has at most one decimal, and `route` is the endpoint's kind.
#[tokio::test(flavor = "multi_thread")]
async fn access_lines_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let served = serve(
        command(dir.path(), port, &[("REGISTRY_LOG_FORMATTER", "json")]),
        port,
    )
    .await;
    let server = served.handle(dir.path());
    let digest = common::push_blob(&server, "app", b"twelve bytes").await;
    let got = common::http()
        .get(format!("{}/v2/app/blobs/{digest}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    got.bytes().await.unwrap();
    let log = served.stop();
    let access: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "wharf::access")
        .collect();
    let blob_get = access
        .iter()
        .find(|v| {
            v["span"]["method"] == "GET" && v["span"]["path"].as_str().unwrap().contains("/blobs/")
        })
        .unwrap_or_else(|| panic!("no access line for the blob GET: {log}"));
    assert_eq!(
        blob_get["fields"]["bytes"],
        serde_json::json!(12),
        "{blob_get}"
    );
    assert_eq!(blob_get["span"]["route"], "blob", "{blob_get}");
    for line in &access {
        let ms = line["fields"]["duration_ms"].as_f64().expect("a number");
        assert_eq!((ms * 10.0).round() / 10.0, ms, "{line}");
        let bytes = &line["fields"]["bytes"];
        assert!(bytes.is_null() || bytes.is_u64(), "{line}");
    }
}

//! Blob downloads as clients make them, on filesystem storage where plain HTTP/1 connections get the
//! file sent without copying (`zero_copy`): blobs of several chunks, ranges across chunk boundaries,
//! several responses on one connection, parallel downloads, and HTTP/2, which is served by reading;
//! the server's `sendfile` byte counter shows which way each download went.
mod common;

use common::{http, metrics_text, push_blob, TestServer};

/// Larger than two of the chunks a blob file is sent in, and not a multiple of one.
const SIZE: usize = 9 * 1024 * 1024 + 777;
const CHUNK: usize = 4 * 1024 * 1024;

fn content(seed: u32) -> Vec<u8> {
    (0..SIZE as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

async fn get(client: &reqwest::Client, url: &str, range: Option<&str>) -> (u16, Vec<u8>) {
    let mut request = client.get(url);
    if let Some(range) = range {
        request = request.header("range", range);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

/// On one keep-alive HTTP/1.1 connection: the whole blob, ranges across chunk boundaries and to the
/// end, with other requests between them, all arrive byte for byte.
#[tokio::test]
async fn whole_blobs_and_ranges_on_one_connection() {
    let server = TestServer::start().await;
    let bytes = content(1);
    let digest = push_blob(&server, "dl/one", &bytes).await;
    let url = format!("{}/v2/dl/one/blobs/{digest}", server.url);
    let client = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();

    let (status, body) = get(&client, &url, None).await;
    assert_eq!(status, 200);
    assert!(body == bytes, "whole blob differs");

    let cases = [
        (CHUNK - 10, CHUNK + 10),
        (0, 0),
        (CHUNK, 2 * CHUNK - 1),
        (2 * CHUNK - 3, SIZE - 1),
        (SIZE - 1, SIZE - 1),
    ];
    for (start, end) in cases {
        let (status, body) = get(&client, &url, Some(&format!("bytes={start}-{end}"))).await;
        assert_eq!(status, 206, "range {start}-{end}");
        assert!(body == bytes[start..=end], "range {start}-{end} differs");
        let tags = client
            .get(format!("{}/v2/dl/one/tags/list", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(
            tags.status(),
            404,
            "a request between downloads is answered"
        );
        tags.bytes().await.unwrap();
    }
    let (status, body) = get(&client, &url, None).await;
    assert_eq!(status, 200);
    assert!(body == bytes, "whole blob after the ranges differs");
    server.stop().await;
}

/// Parallel downloads of different blobs, each on its own connection, each get their own bytes.
#[tokio::test]
async fn parallel_downloads_get_their_own_bytes() {
    let server = TestServer::start().await;
    let mut blobs = Vec::new();
    for seed in 0..4 {
        let bytes = content(seed);
        let digest = push_blob(&server, "dl/many", &bytes).await;
        blobs.push((digest, bytes));
    }
    let downloads = blobs.iter().map(|(digest, bytes)| {
        let url = format!("{}/v2/dl/many/blobs/{digest}", server.url);
        async move {
            let (status, body) = get(&http(), &url, None).await;
            assert_eq!(status, 200);
            assert!(body == *bytes, "blob {digest} differs");
        }
    });
    futures_util::future::join_all(downloads).await;
    server.stop().await;
}

/// Over HTTP/2 without TLS (h2c), which frames the data itself, the blob is read and sent as usual.
#[tokio::test]
async fn http2_downloads_are_read_and_framed() {
    let server = TestServer::start().await;
    let bytes = content(7);
    let digest = push_blob(&server, "dl/h2", &bytes).await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let url = format!("{}/v2/dl/h2/blobs/{digest}", server.url);
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.unwrap() == bytes, "blob differs");
    let (status, body) = get(&client, &url, Some("bytes=4194000-4195000")).await;
    assert_eq!(status, 206);
    assert!(body == bytes[4_194_000..=4_195_000], "range differs");
    server.stop().await;
}

/// The bytes the server sent with `sendfile`, from its metrics.
async fn zero_copy_bytes(debug: &str) -> u64 {
    let text = metrics_text(debug).await;
    text.lines()
        .find_map(|line| line.strip_prefix("wharf_zero_copy_bytes_total "))
        .expect("the metrics have wharf_zero_copy_bytes_total")
        .trim()
        .parse()
        .unwrap()
}

/// A download over plain HTTP/1.1 really goes through `sendfile`: the server's counter of bytes sent
/// that way grows by exactly the blob's size (a silent fall-back to reading would leave it still),
/// and an HTTP/2 download, which is read, leaves it as it was.
#[tokio::test]
async fn http1_downloads_are_sent_with_sendfile() {
    let (server, debug) =
        TestServer::start_with_debug(&[("REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED", "true")]).await;
    let bytes = content(3);
    let digest = push_blob(&server, "dl/counted", &bytes).await;
    let url = format!("{}/v2/dl/counted/blobs/{digest}", server.url);
    let before = zero_copy_bytes(&debug).await;

    let http1 = reqwest::Client::builder().http1_only().build().unwrap();
    let (status, body) = get(&http1, &url, None).await;
    assert_eq!(status, 200);
    assert!(body == bytes, "blob differs");
    let after = zero_copy_bytes(&debug).await;
    if wharf::zero_copy::SUPPORTED {
        assert_eq!(
            after - before,
            SIZE as u64,
            "the blob went out with sendfile"
        );
    }

    let http2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let (status, body) = get(&http2, &url, None).await;
    assert_eq!(status, 200);
    assert!(body == bytes, "blob over HTTP/2 differs");
    assert_eq!(
        zero_copy_bytes(&debug).await,
        after,
        "HTTP/2 downloads are read, not sent with sendfile"
    );
    server.stop().await;
}

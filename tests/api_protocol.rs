//! Hostile and malformed HTTP through the real server: manifests that are no manifest type, content
//! sniffing, malformed and truncated bodies, unparseable `Range` headers and requests without `Host`.
//! Raw TCP where a client library would not send the bad input.
mod common;

use common::{error_code, http, image_manifest, push_blob, put_manifest, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `request` as is on a new connection, half-closes it, and returns everything the server
/// answers until it closes the connection.
async fn raw(server: &TestServer, request: &[u8]) -> String {
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    socket.write_all(request).await.unwrap();
    socket.shutdown().await.unwrap();
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status line and the JSON body of a raw answer.
fn status_and_body(answer: &str) -> (&str, serde_json::Value) {
    let status = answer.lines().next().unwrap_or("");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or_default())
}

/// A manifest pushed as `text/html`, by `Content-Type`, by its `mediaType`, or by both, is refused
/// with 400 MANIFEST_INVALID as distribution 2.8.2 refuses it, and nothing is stored under the tag.
#[tokio::test(flavor = "multi_thread")]
async fn html_manifests_are_refused() {
    let server = TestServer::start().await;
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let layer = b"layer";
    push_blob(&server, "xss/repo", config).await;
    push_blob(&server, "xss/repo", layer).await;
    let oci = image_manifest(config, &[layer]);
    let mut html: serde_json::Value = serde_json::from_slice(&oci).unwrap();
    html["mediaType"] = "text/html".into();
    let html = serde_json::to_vec(&html).unwrap();
    let mut bare: serde_json::Value = serde_json::from_slice(&oci).unwrap();
    bare.as_object_mut().unwrap().remove("mediaType");
    let bare = serde_json::to_vec(&bare).unwrap();

    for (content_type, body) in [
        ("text/html", &html),
        ("application/vnd.oci.image.manifest.v1+json", &html),
        ("text/html", &oci),
        ("text/html", &bare),
        ("text/html; charset=utf-8", &bare),
    ] {
        let r = put_manifest(&server, "xss/repo", "page", content_type, body).await;
        assert_eq!(r.status(), 400, "{content_type}");
        assert_eq!(error_code(r).await, "MANIFEST_INVALID", "{content_type}");
    }
    let r = http()
        .get(format!("{}/v2/xss/repo/manifests/page", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let r = put_manifest(&server, "xss/repo", "image", "application/json", &bare).await;
    assert_eq!(r.status(), 201, "no mediaType and a generic Content-Type");
    server.stop().await;
}

/// Every response says `X-Content-Type-Options: nosniff`: API answers, errors, 404s outside the API
/// and the embedded UI's pages.
#[tokio::test(flavor = "multi_thread")]
async fn no_response_is_sniffable() {
    let server = TestServer::start_env(&[("REGISTRY_UI_ENABLED", "true")]).await;
    for path in [
        "/",
        "/v2/",
        "/v2/no/such/manifests/latest",
        "/v2/Bad Name/tags/list",
        "/elsewhere",
        "/ui/",
    ] {
        let r = http()
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        let values: Vec<_> = r
            .headers()
            .get_all("x-content-type-options")
            .iter()
            .collect();
        assert_eq!(values, ["nosniff"], "{path} ({})", r.status());
    }
    server.stop().await;
}

/// A manifest body cut short, or in malformed chunked encoding, is a 400 MANIFEST_INVALID saying the
/// body is malformed or incomplete, not a 413 about its size; a malformed chunked blob upload is a
/// 400 BLOB_UPLOAD_INVALID.
#[tokio::test(flavor = "multi_thread")]
async fn malformed_bodies_are_400() {
    let server = TestServer::start().await;
    let truncated = "PUT /v2/cut/manifests/latest HTTP/1.1\r\nHost: registry\r\n\
        Content-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 100\r\n\r\n\
        {\"schemaVersion\":2";
    let chunked = "PUT /v2/cut/manifests/latest HTTP/1.1\r\nHost: registry\r\n\
        Content-Type: application/vnd.oci.image.manifest.v1+json\r\nTransfer-Encoding: chunked\r\n\r\n\
        zz\r\n{\"schemaVersion\":2}\r\n0\r\n\r\n";
    for request in [truncated, chunked] {
        let answer = raw(&server, request.as_bytes()).await;
        let (status, body) = status_and_body(&answer);
        assert!(status.starts_with("HTTP/1.1 400 "), "{answer}");
        assert_eq!(body["errors"][0]["code"], "MANIFEST_INVALID", "{answer}");
        let message = body["errors"][0]["message"].as_str().unwrap_or("");
        assert!(message.contains("malformed or incomplete"), "{message}");
    }

    let started = http()
        .post(format!("{}/v2/cut/blobs/uploads/", server.url))
        .send()
        .await
        .unwrap();
    let location = started.headers()["location"].to_str().unwrap().to_string();
    let path = location.trim_start_matches(&server.url);
    let request = format!(
        "PATCH {path} HTTP/1.1\r\nHost: registry\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    );
    let answer = raw(&server, request.as_bytes()).await;
    let (status, body) = status_and_body(&answer);
    assert!(status.starts_with("HTTP/1.1 400 "), "{answer}");
    assert_eq!(body["errors"][0]["code"], "BLOB_UPLOAD_INVALID", "{answer}");
    server.stop().await;
}

/// A `Range` header that does not parse is ignored (RFC 9110 §14.2): the whole blob with 200. A
/// well-formed range past the end is still a 416.
#[tokio::test(flavor = "multi_thread")]
async fn unparseable_ranges_are_ignored() {
    let server = TestServer::start().await;
    let blob = b"0123456789".to_vec();
    let digest = push_blob(&server, "ranges/repo", &blob).await;
    let url = format!("{}/v2/ranges/repo/blobs/{digest}", server.url);
    for range in ["bytes=abc", "pages=1-2", "bytes=5-4", "bytes"] {
        let r = http()
            .get(&url)
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{range}");
        assert_eq!(r.bytes().await.unwrap(), blob, "{range}");
    }
    let r = http()
        .get(&url)
        .header("range", "bytes=20-30")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    server.stop().await;
}

/// An HTTP/1.1 request without `Host` gets a 400 with an OCI error body (RFC 9112 §3.2); HTTP/1.0
/// needs no `Host`.
#[tokio::test(flavor = "multi_thread")]
async fn http11_without_host_is_400() {
    let server = TestServer::start().await;
    let answer = raw(&server, b"GET /v2/ HTTP/1.1\r\n\r\n").await;
    let (status, body) = status_and_body(&answer);
    assert!(status.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("Host")));
    let answer = raw(&server, b"GET /v2/ HTTP/1.0\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.0 200 "), "{answer}");
    server.stop().await;
}

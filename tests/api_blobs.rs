//! Blob and upload endpoints over HTTP against a real server: monolithic and chunked uploads, resumable
//! chunk errors, digest verification, Range reads, mounts, deletes and the error bodies of each failure.
mod common;

use common::{error_code, http, push_blob, sha256, TestServer};

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A single `POST ?digest=` stores the blob; `HEAD` and `GET` serve it with digest, length and ETag.
#[tokio::test]
async fn monolithic_post_then_head_and_get() {
    let server = TestServer::start().await;
    let bytes = data(70_000, 1);
    let digest = push_blob(&server, "a/b", &bytes).await;
    let url = format!("{}/v2/a/b/blobs/{digest}", server.url);
    let head = http().head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "70000");
    assert_eq!(head.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(head.headers()["etag"], format!("\"{digest}\"").as_str());
    let get = http().get(&url).send().await.unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(get.bytes().await.unwrap().as_ref(), bytes.as_slice());
    server.stop().await;
}

/// `POST` then a single `PUT ?digest=` with the whole body (the docker-style monolithic upload).
#[tokio::test]
async fn post_then_put_monolithic() {
    let server = TestServer::start().await;
    let bytes = data(5000, 2);
    let digest = sha256(&bytes);
    let start = http()
        .post(format!("{}/v2/r/blobs/uploads/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 202);
    assert_eq!(start.headers()["range"], "0-0");
    assert!(start.headers().contains_key("docker-upload-uuid"));
    let location = start.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&server.url),
        "absolute Location: {location}"
    );
    let put = http()
        .put(format!("{location}?digest={digest}"))
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    assert_eq!(
        put.headers()["location"],
        format!("{}/v2/r/blobs/{digest}", server.url).as_str()
    );
    assert_eq!(put.headers()["docker-content-digest"], digest.as_str());
    let get = http()
        .get(format!("{}/v2/r/blobs/{digest}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(get.bytes().await.unwrap().as_ref(), bytes.as_slice());
    server.stop().await;
}

/// Chunked upload: ordered `PATCH`es with `Content-Range`, progress via `GET`, close with `PUT`.
#[tokio::test]
async fn chunked_upload_with_status() {
    let server = TestServer::start().await;
    let bytes = data(300, 3);
    let digest = sha256(&bytes);
    let start = http()
        .post(format!("{}/v2/r/blobs/uploads/", server.url))
        .send()
        .await
        .unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_string();
    for (i, chunk) in bytes.chunks(100).enumerate() {
        let (s, e) = (i * 100, i * 100 + chunk.len() - 1);
        let r = http()
            .patch(&location)
            .header("content-range", format!("{s}-{e}"))
            .header("content-type", "application/octet-stream")
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "chunk {i}");
        assert_eq!(r.headers()["range"], format!("0-{e}").as_str());
    }
    let status = http().get(&location).send().await.unwrap();
    assert_eq!(status.status(), 204);
    assert_eq!(status.headers()["range"], "0-299");
    assert_eq!(status.headers()["location"], location.as_str());
    let put = http()
        .put(format!("{location}?digest={digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let get = http()
        .get(format!("{}/v2/r/blobs/{digest}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(get.bytes().await.unwrap().as_ref(), bytes.as_slice());
    server.stop().await;
}

/// An out-of-order or overlapping chunk is a 416 that tells where the upload stands, writes nothing,
/// and the upload then resumes from there (registry:2 answers 202 and loses the session).
#[tokio::test]
async fn out_of_order_chunk_is_416_and_resumable() {
    let server = TestServer::start().await;
    let bytes = data(200, 4);
    let start = http()
        .post(format!("{}/v2/r/blobs/uploads/", server.url))
        .send()
        .await
        .unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_string();
    let patch = |range: &'static str, body: Vec<u8>| {
        http()
            .patch(&location)
            .header("content-range", range)
            .body(body)
            .send()
    };
    assert_eq!(
        patch("0-99", bytes[..100].to_vec()).await.unwrap().status(),
        202
    );
    for (range, body) in [
        ("150-199", bytes[150..].to_vec()),
        ("50-149", bytes[50..150].to_vec()),
    ] {
        let r = patch(range, body).await.unwrap();
        assert_eq!(r.status(), 416, "{range}");
        assert_eq!(r.headers()["range"], "0-99");
        assert!(r.headers().contains_key("location"));
        assert_eq!(error_code(r).await, "RANGE_INVALID");
    }
    let status = http().get(&location).send().await.unwrap();
    assert_eq!(status.status(), 204);
    assert_eq!(status.headers()["range"], "0-99");
    assert_eq!(
        patch("100-199", bytes[100..].to_vec())
            .await
            .unwrap()
            .status(),
        202
    );
    let put = http()
        .put(format!("{location}?digest={}", sha256(&bytes)))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    server.stop().await;
}

/// A digest that does not match the bytes is refused with DIGEST_INVALID and nothing is stored.
#[tokio::test]
async fn wrong_digest_stores_nothing() {
    let server = TestServer::start().await;
    let bytes = data(1000, 5);
    let wrong = sha256(b"something else");
    let r = http()
        .post(format!("{}/v2/r/blobs/uploads/?digest={wrong}", server.url))
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    for d in [wrong, sha256(&bytes)] {
        let head = http()
            .head(format!("{}/v2/r/blobs/{d}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 404, "{d}");
    }
    let blobs = server.root.join("docker/registry/v2/blobs");
    assert!(
        !blobs.exists() || std::fs::read_dir(&blobs).unwrap().next().is_none(),
        "no blob data written"
    );
    server.stop().await;
}

/// Range requests answer 206 with Content-Range; a range past the end is a 416; If-None-Match a 304.
#[tokio::test]
async fn range_and_conditional_reads() {
    let server = TestServer::start().await;
    let bytes = data(1000, 6);
    let digest = push_blob(&server, "r", &bytes).await;
    let url = format!("{}/v2/r/blobs/{digest}", server.url);
    let r = http()
        .get(&url)
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 10-19/1000");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &bytes[10..20]);
    let r = http()
        .get(&url)
        .header("range", "bytes=990-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), &bytes[990..]);
    let r = http()
        .get(&url)
        .header("range", "bytes=1000-2000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(r.headers()["content-range"], "bytes */1000");
    let r = http()
        .get(&url)
        .header("if-none-match", format!("\"{digest}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    server.stop().await;
}

/// Unknown blobs, uploads and malformed digests or names get the right OCI error, never a 500.
#[tokio::test]
async fn error_cases() {
    let server = TestServer::start().await;
    let missing = sha256(b"never pushed");
    let cases = [
        ("GET", format!("/v2/r/blobs/{missing}"), 404, "BLOB_UNKNOWN"),
        (
            "GET",
            "/v2/r/blobs/sha256:totallywrong".to_string(),
            400,
            "DIGEST_INVALID",
        ),
        (
            "GET",
            format!("/v2/Bad-Name/blobs/{missing}"),
            400,
            "NAME_INVALID",
        ),
        (
            "GET",
            "/v2/r/blobs/uploads/0b7c2d3e-6f35-4a9e-8f2d-1c4b5a6d7e8f".to_string(),
            404,
            "BLOB_UPLOAD_UNKNOWN",
        ),
        (
            "GET",
            "/v2/r/blobs/uploads/not-a-uuid".to_string(),
            404,
            "BLOB_UPLOAD_UNKNOWN",
        ),
        (
            "POST",
            "/v2/r/blobs/uploads/?digest=sha256:zz".to_string(),
            400,
            "DIGEST_INVALID",
        ),
        ("GET", "/v2/r/nothing-here".to_string(), 404, "NOT_FOUND"),
        (
            "PATCH",
            format!("/v2/r/blobs/{missing}"),
            405,
            "UNSUPPORTED",
        ),
    ];
    for (method, path, status, code) in cases {
        let r = http()
            .request(method.parse().unwrap(), format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{method} {path}");
        assert_eq!(
            r.headers()["docker-distribution-api-version"],
            "registry/2.0"
        );
        assert_eq!(error_code(r).await, code, "{method} {path}");
    }
    server.stop().await;
}

/// Finishing an upload without a digest, or cancelling one, behaves as the spec says.
#[tokio::test]
async fn finish_without_digest_and_cancel() {
    let server = TestServer::start().await;
    let start = http()
        .post(format!("{}/v2/r/blobs/uploads/", server.url))
        .send()
        .await
        .unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_string();
    let r = http().put(&location).body("x").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    assert_eq!(http().delete(&location).send().await.unwrap().status(), 204);
    let r = http().get(&location).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
    server.stop().await;
}

/// A zero-length blob (the empty digest) can be uploaded and read back.
#[tokio::test]
async fn empty_blob() {
    let server = TestServer::start().await;
    let digest = push_blob(&server, "r", b"").await;
    let r = http()
        .get(format!("{}/v2/r/blobs/{digest}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "0");
    server.stop().await;
}

/// Cross-repository mount links a blob in one request; an unknown source falls back to a session.
#[tokio::test]
async fn cross_repository_mount() {
    let server = TestServer::start().await;
    let digest = push_blob(&server, "src/repo", &data(500, 7)).await;
    let r = http()
        .post(format!(
            "{}/v2/dst/blobs/uploads/?mount={digest}&from=src/repo",
            server.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    let head = http()
        .head(format!("{}/v2/dst/blobs/{digest}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    let r = http()
        .post(format!(
            "{}/v2/other/blobs/uploads/?mount={digest}&from=nowhere",
            server.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .contains("/v2/other/blobs/uploads/"));
    server.stop().await;
}

/// Blob delete answers 202 and unlinks the blob from the repository only.
#[tokio::test]
async fn blob_delete() {
    let server = TestServer::start().await;
    let bytes = data(100, 8);
    let digest = push_blob(&server, "one", &bytes).await;
    push_blob(&server, "two", &bytes).await;
    let r = http()
        .delete(format!("{}/v2/one/blobs/{digest}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let gone = http()
        .head(format!("{}/v2/one/blobs/{digest}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let kept = http()
        .head(format!("{}/v2/two/blobs/{digest}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status(), 200);
    let again = http()
        .delete(format!("{}/v2/one/blobs/{digest}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(again).await, "BLOB_UNKNOWN");
    server.stop().await;
}

/// With deletes disabled (the default), blob delete is 405 UNSUPPORTED and the blob stays.
#[tokio::test]
async fn blob_delete_disabled() {
    let server = TestServer::start_env(&[]).await;
    let digest = push_blob(&server, "r", &data(10, 9)).await;
    let r = http()
        .delete(format!("{}/v2/r/blobs/{digest}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(error_code(r).await, "UNSUPPORTED");
    let head = http()
        .head(format!("{}/v2/r/blobs/{digest}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    server.stop().await;
}

//! A corpus of malformed requests against a real Wharf server on 127.0.0.1: bad repository names,
//! digests, tags, manifests, `Range` and `Content-Range` headers, upload bodies and queries over HTTP,
//! and broken HTTP framing over raw TCP (bad chunked encoding, conflicting `Content-Length`, bad
//! request lines, oversize headers). Each gets its 4xx answer (never a 5xx, never silence), API errors
//! carry an OCI JSON error body, and the image stored before the corpus is served intact after it.
mod common;

use std::time::Duration;

use common::{http, push_blob, sha256, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any one answer may take before the case counts as a hang.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const REPO: &str = "stored/app";

/// A malformed API request and the status it must get.
struct Case {
    name: &'static str,
    method: &'static str,
    /// Path and query; `{repo}`, `{blob}`, `{manifest}` and `{upload}` are replaced by the stored
    /// repository, a stored blob's digest, the stored manifest's digest and an open upload's path.
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
}

fn case(name: &'static str, method: &'static str, path: impl Into<String>, status: u16) -> Case {
    Case {
        name,
        method,
        path: path.into(),
        headers: Vec::new(),
        body: Vec::new(),
        status,
    }
}

impl Case {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Case {
        self.headers.push((name, value.into()));
        self
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Case {
        self.body = body.into();
        self
    }
}

/// A manifest PUT of `body` to `stored/app:bad` with the OCI image manifest content type.
fn manifest_put(name: &'static str, body: impl Into<Vec<u8>>, status: u16) -> Case {
    case(name, "PUT", "/v2/{repo}/manifests/bad", status)
        .header("content-type", OCI_MANIFEST)
        .body(body)
}

const HEX: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// An image manifest JSON over a config descriptor digest, with `extra` fields merged in.
fn manifest_json(config_digest: &str, extra: serde_json::Value) -> Vec<u8> {
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": 2},
        "layers": [],
    });
    for (k, v) in extra.as_object().expect("object").iter() {
        m[k] = v.clone();
    }
    serde_json::to_vec(&m).expect("json")
}

/// Malformed names, digests and tags in URLs.
fn url_cases() -> Vec<Case> {
    let long_name = format!("{}/x", "a".repeat(255));
    let long_tag = "t".repeat(129);
    vec![
        case("uppercase name", "GET", "/v2/Stored/App/tags/list", 400),
        case("empty component", "GET", "/v2/a//b/tags/list", 400),
        case("encoded slash", "GET", "/v2/a%2Fb/tags/list", 400),
        case("leading separator", "GET", "/v2/-a/tags/list", 400),
        case("trailing separator", "GET", "/v2/a-/tags/list", 400),
        case("triple underscore", "GET", "/v2/a___b/tags/list", 400),
        case(
            "name over 255",
            "GET",
            format!("/v2/{long_name}/tags/list"),
            400,
        ),
        case("non-ASCII name", "GET", "/v2/caf%C3%A9/tags/list", 400),
        case("space in name", "GET", "/v2/a%20b/tags/list", 400),
        case("NUL in name", "GET", "/v2/a%00b/tags/list", 400),
        case("unknown endpoint", "GET", "/v2/{repo}/nothing", 404),
        case("no /v2 prefix", "GET", "/v1/_catalog", 404),
        case("short digest", "GET", "/v2/{repo}/blobs/sha256:abc", 400),
        case(
            "uppercase digest",
            "GET",
            format!("/v2/{{repo}}/blobs/sha256:{}", HEX.to_uppercase()),
            400,
        ),
        case(
            "unknown algorithm",
            "GET",
            format!("/v2/{{repo}}/blobs/md5:{}", &HEX[..32]),
            400,
        ),
        case(
            "digest without algorithm",
            "GET",
            format!("/v2/{{repo}}/blobs/{HEX}"),
            400,
        ),
        case(
            "sha512 of sha256 length",
            "GET",
            format!("/v2/{{repo}}/blobs/sha512:{HEX}"),
            400,
        ),
        case(
            "digest with traversal",
            "GET",
            "/v2/{repo}/blobs/sha256:..%2F..%2Fx",
            400,
        ),
        case(
            "bad digest in manifest URL",
            "GET",
            "/v2/{repo}/manifests/sha256:xyz",
            400,
        ),
        case(
            "bad referrers digest",
            "GET",
            "/v2/{repo}/referrers/sha256:1",
            400,
        ),
        case(
            "tag over 128",
            "GET",
            format!("/v2/{{repo}}/manifests/{long_tag}"),
            400,
        ),
        case(
            "tag starting with dot",
            "GET",
            "/v2/{repo}/manifests/.hidden",
            400,
        ),
        case(
            "tag starting with dash",
            "GET",
            "/v2/{repo}/manifests/-x",
            400,
        ),
        case("tag with bang", "GET", "/v2/{repo}/manifests/x!", 400),
        case("tag with NUL", "GET", "/v2/{repo}/manifests/x%00", 400),
        case(
            "upload id not a UUID",
            "GET",
            "/v2/{repo}/blobs/uploads/not-a-uuid",
            404,
        ),
        case(
            "unknown upload",
            "PATCH",
            "/v2/{repo}/blobs/uploads/123e4567-e89b-12d3-a456-426614174000",
            404,
        ),
        case(
            "unknown blob",
            "GET",
            format!("/v2/{{repo}}/blobs/sha256:{HEX}"),
            404,
        ),
        case("unknown manifest", "GET", "/v2/{repo}/manifests/nope", 404),
        case(
            "unknown repository",
            "GET",
            "/v2/never/pushed/tags/list",
            404,
        ),
        case("PUT on blob", "PUT", "/v2/{repo}/blobs/{blob}", 405),
        case(
            "tags page size not a number",
            "GET",
            "/v2/{repo}/tags/list?n=abc",
            400,
        ),
        case(
            "catalog page size negative",
            "GET",
            "/v2/_catalog?n=-1",
            400,
        ),
    ]
}

/// Malformed manifests.
fn manifest_cases(config_digest: &str) -> Vec<Case> {
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let huge = manifest_json(
        config_digest,
        serde_json::json!({"annotations": {"pad": "x".repeat(5 * 1024 * 1024)}}),
    );
    vec![
        manifest_put("empty body", "", 400),
        manifest_put("not JSON", "this is not json", 400),
        manifest_put("truncated JSON", &manifest_json(config_digest, serde_json::json!({}))[..40], 400),
        manifest_put("JSON array", "[]", 400),
        manifest_put("JSON string", "\"manifest\"", 400),
        manifest_put("deeply nested", nested, 400),
        manifest_put("invalid UTF-8", vec![0xff, 0xfe, 0x7b, 0x7d], 400),
        manifest_put("schemaVersion 1", r#"{"schemaVersion":1,"name":"a","tag":"b","fsLayers":[]}"#, 400),
        manifest_put("schemaVersion 3", manifest_json(config_digest, serde_json::json!({"schemaVersion": 3})), 400),
        manifest_put("schemaVersion string", manifest_json(config_digest, serde_json::json!({"schemaVersion": "2"})), 400),
        manifest_put("no schemaVersion", r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#, 400),
        manifest_put("config missing", r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#, 400),
        manifest_put("layers not an array", manifest_json(config_digest, serde_json::json!({"layers": {}})), 400),
        manifest_put("config digest invalid", manifest_json("sha256:nothex", serde_json::json!({})), 400),
        manifest_put("config size negative", manifest_json(config_digest, serde_json::json!({"config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": -1}})), 400),
        manifest_put(
            "config blob unknown",
            manifest_json(&format!("sha256:{HEX}"), serde_json::json!({})),
            400,
        ),
        manifest_put(
            "layer blob unknown",
            manifest_json(config_digest, serde_json::json!({"layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{HEX}"), "size": 1}]})),
            400,
        ),
        manifest_put("index with unknown child", serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": format!("sha256:{HEX}"), "size": 1}],
        })).expect("json"), 400),
        manifest_put("schema1 media type", manifest_json(config_digest, serde_json::json!({"mediaType": "application/vnd.docker.distribution.manifest.v1+json"})), 400),
        manifest_put("huge", huge, 413),
        case("Content-Type disagrees with mediaType", "PUT", "/v2/{repo}/manifests/bad", 400)
            .header("content-type", "application/vnd.docker.distribution.manifest.v2+json")
            .body(manifest_json(config_digest, serde_json::json!({}))),
        case("digest reference does not match body", "PUT", format!("/v2/{{repo}}/manifests/sha256:{HEX}"), 400)
            .header("content-type", OCI_MANIFEST)
            .body(manifest_json(config_digest, serde_json::json!({}))),
    ]
}

/// Malformed `Range` requests, `Content-Range` chunks and upload bodies.
fn upload_cases(blob_len: usize) -> Vec<Case> {
    vec![
        case("Range past the end", "GET", "/v2/{repo}/blobs/{blob}", 416)
            .header("range", format!("bytes={}-", blob_len + 10)),
        case(
            "Range start past the end",
            "GET",
            "/v2/{repo}/blobs/{blob}",
            416,
        )
        .header("range", format!("bytes={}-{}", blob_len, blob_len + 5)),
        case("Content-Range not numbers", "PATCH", "{upload}", 416)
            .header("content-range", "a-b")
            .body("xyz"),
        case("Content-Range end before start", "PATCH", "{upload}", 416)
            .header("content-range", "5-2")
            .body("xyz"),
        case("Content-Range not at the offset", "PATCH", "{upload}", 416)
            .header("content-range", "100-102")
            .body("xyz"),
        case(
            "Content-Range longer than the body",
            "PATCH",
            "{upload}",
            400,
        )
        .header("content-range", "0-99")
        .body("xyz"),
        case("final PUT without digest", "PUT", "{upload}", 400).body("abc"),
        case(
            "final PUT with a bad digest",
            "PUT",
            "{upload}?digest=sha256:xyz",
            400,
        )
        .body("abc"),
        case(
            "final PUT with the wrong digest",
            "PUT",
            format!("{{upload}}?digest=sha256:{HEX}"),
            400,
        )
        .body("abc"),
        case(
            "monolithic POST with the wrong digest",
            "POST",
            format!("/v2/{{repo}}/blobs/uploads/?digest=sha256:{HEX}"),
            400,
        )
        .body("not these bytes"),
        case(
            "monolithic POST with a bad digest",
            "POST",
            "/v2/{repo}/blobs/uploads/?digest=sha256:1",
            400,
        )
        .body("x"),
    ]
}

/// Requests Wharf used to answer wrongly (416 for a `Range` HTTP says to ignore, 201 for a text/html
/// manifest), with the answer they get now.
fn protocol_cases(config_digest: &str) -> Vec<Case> {
    vec![
        case(
            "unparseable Range is ignored",
            "GET",
            "/v2/{repo}/blobs/{blob}",
            200,
        )
        .header("range", "bytes=abc"),
        case(
            "Range of another unit is ignored",
            "GET",
            "/v2/{repo}/blobs/{blob}",
            200,
        )
        .header("range", "items=0-1"),
        case(
            "text/html manifest",
            "PUT",
            "/v2/{repo}/manifests/html",
            400,
        )
        .header("content-type", "text/html")
        .body(manifest_json(
            config_digest,
            serde_json::json!({"mediaType": "text/html"}),
        )),
    ]
}

/// Raw HTTP/1.1 exchanges: a request sent as bytes and the status it must get.
struct RawCase {
    name: &'static str,
    request: Vec<u8>,
    /// Whether the client closes its side after the request, ending a body early.
    close_write: bool,
    status: u16,
}

fn raw(name: &'static str, request: impl Into<Vec<u8>>, status: u16) -> RawCase {
    RawCase {
        name,
        request: request.into(),
        close_write: false,
        status,
    }
}

/// Broken HTTP framing.
fn raw_cases() -> Vec<RawCase> {
    let digest = sha256(b"abc");
    let many_headers: String = (0..200).map(|i| format!("x-h{i}: v\r\n")).collect();
    let long_header = format!("x-long: {}\r\n", "v".repeat(1024 * 1024));
    vec![
        raw("garbage request line", "HELLO\r\n\r\n", 400),
        raw("request line without version", "GET /v2/\r\n\r\n", 400),
        raw("unknown HTTP version", "GET /v2/ HTTP/9.9\r\nhost: x\r\n\r\n", 400),
        raw(
            "dot-dot component",
            "GET /v2/a/../b/manifests/latest HTTP/1.1\r\nhost: x\r\n\r\n",
            400,
        ),
        raw(
            "encoded dot-dot component",
            "GET /v2/a/%2e%2e/b/manifests/latest HTTP/1.1\r\nhost: x\r\n\r\n",
            400,
        ),
        raw(
            "dot-dot as the whole name",
            "GET /v2/../tags/list HTTP/1.1\r\nhost: x\r\n\r\n",
            400,
        ),
        raw(
            "dot-dot in a tag",
            "GET /v2/stored/app/manifests/.. HTTP/1.1\r\nhost: x\r\n\r\n",
            400,
        ),
        raw("space in the target", "GET /v2/ a b HTTP/1.1\r\nhost: x\r\n\r\n", 400),
        raw("NUL in the target", "GET /v2/\0 HTTP/1.1\r\nhost: x\r\n\r\n", 400),
        raw("header without colon", "GET /v2/ HTTP/1.1\r\nhost: x\r\nbroken\r\n\r\n", 400),
        raw("header name with space", "GET /v2/ HTTP/1.1\r\nhost: x\r\nbad name: v\r\n\r\n", 400),
        raw("200 headers", format!("GET /v2/ HTTP/1.1\r\nhost: x\r\n{many_headers}\r\n"), 431),
        raw("1 MiB header", format!("GET /v2/ HTTP/1.1\r\nhost: x\r\n{long_header}\r\n"), 431),
        raw(
            "conflicting Content-Length",
            "POST /v2/stored/app/blobs/uploads/ HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ncontent-length: 5\r\n\r\nabcde",
            400,
        ),
        raw(
            "Content-Length not a number",
            "POST /v2/stored/app/blobs/uploads/ HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n",
            400,
        ),
        raw(
            "negative Content-Length",
            "POST /v2/stored/app/blobs/uploads/ HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\n\r\n",
            400,
        ),
        raw(
            "unknown Transfer-Encoding",
            "POST /v2/stored/app/blobs/uploads/ HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip\r\n\r\n",
            400,
        ),
        raw(
            "chunk longer than declared",
            format!("POST /v2/stored/app/blobs/uploads/?digest={digest} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n"),
            400,
        ),
        RawCase {
            close_write: true,
            ..raw(
                "chunked body cut short, then close",
                format!("POST /v2/stored/app/blobs/uploads/?digest={digest} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nab"),
                400,
            )
        },
    ]
}

/// Broken request bodies and a request without `Host`, which Wharf used to answer wrongly (413, or
/// 200), with the answer they get now.
fn raw_protocol_cases() -> Vec<RawCase> {
    vec![
        raw(
            "chunk size not hex",
            format!("PUT /v2/stored/app/manifests/chunky HTTP/1.1\r\nhost: x\r\ncontent-type: {OCI_MANIFEST}\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
            400,
        ),
        RawCase {
            close_write: true,
            ..raw(
                "body shorter than Content-Length, then close",
                format!("PUT /v2/stored/app/manifests/short HTTP/1.1\r\nhost: x\r\ncontent-type: {OCI_MANIFEST}\r\ncontent-length: 1000\r\n\r\n{{\"schemaVersion\":2"),
                400,
            )
        },
        raw("HTTP/1.1 without Host", "GET /v2/ HTTP/1.1\r\n\r\n", 400),
    ]
}

/// The image stored before the corpus runs: its manifest and blobs.
struct Stored {
    manifest: Vec<u8>,
    manifest_digest: String,
    blobs: Vec<Vec<u8>>,
}

async fn store(server: &TestServer) -> Stored {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let layer: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
    push_blob(server, REPO, &config).await;
    push_blob(server, REPO, &layer).await;
    let manifest = common::image_manifest(&config, &[&layer]);
    let r = common::put_manifest(server, REPO, "v1", OCI_MANIFEST, &manifest).await;
    assert_eq!(r.status(), 201);
    Stored {
        manifest_digest: sha256(&manifest),
        manifest,
        blobs: vec![config, layer],
    }
}

/// Everything stored is served byte for byte, and the tag `v1` still points at the stored manifest.
async fn assert_intact(server: &TestServer, stored: &Stored) {
    let client = http();
    for reference in ["v1", stored.manifest_digest.as_str()] {
        let r = client
            .get(format!("{}/v2/{REPO}/manifests/{reference}", server.url))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .expect("manifest GET");
        assert_eq!(r.status(), 200, "manifest {reference}");
        assert_eq!(r.bytes().await.expect("body").to_vec(), stored.manifest);
    }
    for blob in &stored.blobs {
        let r = client
            .get(format!("{}/v2/{REPO}/blobs/{}", server.url, sha256(blob)))
            .send()
            .await
            .expect("blob GET");
        assert_eq!(r.status(), 200);
        assert_eq!(&r.bytes().await.expect("body")[..], &blob[..]);
    }
    assert!(tags(server).await.contains(&"v1".to_string()));
}

/// The tags of the stored repository.
async fn tags(server: &TestServer) -> Vec<String> {
    let list: serde_json::Value = http()
        .get(format!("{}/v2/{REPO}/tags/list", server.url))
        .send()
        .await
        .expect("tags")
        .json()
        .await
        .expect("tags JSON");
    serde_json::from_value(list["tags"].clone()).expect("tag names")
}

/// Sends a case; returns its status and body.
async fn send(server: &TestServer, stored: &Stored, c: &Case) -> (u16, Vec<u8>) {
    let client = reqwest::Client::builder()
        .timeout(ANSWER_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let needs_upload = c.path.contains("{upload}");
    let upload = if needs_upload {
        let r = client
            .post(format!("{}/v2/{REPO}/blobs/uploads/", server.url))
            .send()
            .await
            .expect("start upload");
        assert_eq!(r.status(), 202);
        r.headers()["location"]
            .to_str()
            .expect("location")
            .to_string()
    } else {
        String::new()
    };
    let upload = upload.trim_start_matches(&server.url).to_string();
    let path = c
        .path
        .replace("{repo}", REPO)
        .replace("{blob}", &sha256(&stored.blobs[1]))
        .replace("{manifest}", &stored.manifest_digest)
        .replace("{upload}", &upload);
    let method = reqwest::Method::from_bytes(c.method.as_bytes()).expect("method");
    let mut request = client
        .request(method, format!("{}{path}", server.url))
        .body(c.body.clone());
    for (name, value) in &c.headers {
        request = request.header(*name, value);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: no answer: {e}", c.name));
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("{}: body: {e}", c.name));
    (status, body.to_vec())
}

/// The OCI error code of an error body, or why it is not one.
fn oci_code(body: &[u8]) -> Result<String, String> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("not JSON ({e}): {:?}", String::from_utf8_lossy(body)))?;
    v["errors"][0]["code"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no errors[0].code in {v}"))
}

/// Writes a raw request and reads the status of the answer; `None` when the server closes the
/// connection without one.
async fn send_raw(server: &TestServer, c: &RawCase) -> Option<u16> {
    let exchange = async {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        // The server may answer and close before reading everything; what it answers is what counts.
        let _ = stream.write_all(&c.request).await;
        if c.close_write {
            let _ = stream.shutdown().await;
        }
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
            if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        answer
    };
    let answer = tokio::time::timeout(ANSWER_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| panic!("{}: no answer within {ANSWER_TIMEOUT:?}", c.name));
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
}

/// Every case of the corpus gets its expected 4xx (an OCI JSON error for API errors), no case gets a
/// 5xx or goes unanswered, and the image stored before is served intact after.
#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_get_4xx_and_change_nothing() {
    let server = TestServer::start().await;
    let stored = store(&server).await;
    let config_digest = sha256(&stored.blobs[0]);
    let mut wrong = Vec::new();
    let mut cases = url_cases();
    cases.extend(manifest_cases(&config_digest));
    cases.extend(upload_cases(stored.blobs[1].len()));
    cases.extend(protocol_cases(&config_digest));
    let count = cases.len();
    for c in &cases {
        let (status, body) = send(&server, &stored, c).await;
        if status != c.status {
            wrong.push(format!("{}: {status}, expected {}", c.name, c.status));
        } else if (400..500).contains(&status) {
            if let Err(why) = oci_code(&body) {
                wrong.push(format!(
                    "{}: {status} without an OCI error body: {why}",
                    c.name
                ));
            }
        }
    }
    let mut raw = raw_cases();
    raw.extend(raw_protocol_cases());
    for c in &raw {
        let status = send_raw(&server, c).await;
        if status != Some(c.status) {
            wrong.push(format!(
                "{} (raw): {status:?}, expected {}",
                c.name, c.status
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases answered wrongly:\n{}",
        wrong.len(),
        count + raw.len(),
        wrong.join("\n")
    );
    eprintln!(
        "bad input: {} cases answered as expected",
        count + raw.len()
    );
    assert_intact(&server, &stored).await;
    assert_eq!(
        tags(&server).await,
        ["v1"],
        "a malformed request made a tag"
    );
    server.stop().await;
}

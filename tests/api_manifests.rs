//! Manifest, tag, catalog and referrers endpoints over HTTP against a real server: media types,
//! reference checks, content negotiation, deletes by tag and digest, pagination and every error body.
mod common;

use common::{
    error_code, http, image_manifest, push_blob, push_image, put_manifest, sha256, TestServer,
};
use serde_json::json;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// A pushed manifest is served by tag and digest, byte for byte, with its media type and digest.
#[tokio::test]
async fn push_and_get_by_tag_and_digest() {
    let server = TestServer::start().await;
    let (manifest, digest) = push_image(&server, "team/app", "v1", "a").await;
    for reference in ["v1", digest.as_str()] {
        let url = format!("{}/v2/team/app/manifests/{reference}", server.url);
        let r = http()
            .get(&url)
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{reference}");
        assert_eq!(r.headers()["content-type"], OCI_MANIFEST);
        assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
        assert_eq!(r.bytes().await.unwrap().as_ref(), manifest.as_slice());
        let h = http().head(&url).send().await.unwrap();
        assert_eq!(h.status(), 200);
        assert_eq!(
            h.headers()["content-length"],
            manifest.len().to_string().as_str()
        );
    }
    server.stop().await;
}

/// The PUT answers 201 with the manifest's Location and digest.
#[tokio::test]
async fn put_response_headers() {
    let server = TestServer::start().await;
    let config = b"{}";
    push_blob(&server, "r", config).await;
    let manifest = image_manifest(config, &[]);
    let r = put_manifest(&server, "r", "latest", OCI_MANIFEST, &manifest).await;
    assert_eq!(r.status(), 201);
    let digest = sha256(&manifest);
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(
        r.headers()["location"],
        format!("{}/v2/r/manifests/{digest}", server.url).as_str()
    );
    assert!(!r.headers().contains_key("oci-subject"));
    server.stop().await;
}

/// A manifest naming a blob or child manifest the repository lacks is refused (MANIFEST_BLOB_UNKNOWN),
/// even when another repository has it.
#[tokio::test]
async fn missing_references_are_refused() {
    let server = TestServer::start().await;
    let config = b"{\"a\":1}";
    let layer = b"layer";
    push_blob(&server, "other", config).await;
    push_blob(&server, "other", layer).await;
    let manifest = image_manifest(config, &[layer]);
    let r = put_manifest(&server, "r", "t", OCI_MANIFEST, &manifest).await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha256(&manifest), "size": manifest.len()}],
    }))
    .unwrap();
    let r = put_manifest(&server, "r", "idx", OCI_INDEX, &index).await;
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    let tags = http()
        .get(format!("{}/v2/r/tags/list", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(tags.status(), 404, "nothing was stored for r");
    server.stop().await;
}

/// Bad manifests get precise errors: wrong digest, invalid JSON, schema1, too large, bad tag.
#[tokio::test]
async fn invalid_manifests() {
    let server = TestServer::start().await;
    let (manifest, _) = push_image(&server, "r", "ok", "x").await;
    let wrong = sha256(b"not it");
    let r = put_manifest(&server, "r", &wrong, OCI_MANIFEST, &manifest).await;
    assert_eq!(
        (r.status().as_u16(), error_code(r).await.as_str()),
        (400, "DIGEST_INVALID")
    );
    let r = put_manifest(&server, "r", "t", OCI_MANIFEST, b"{not json").await;
    assert_eq!(
        (r.status().as_u16(), error_code(r).await.as_str()),
        (400, "MANIFEST_INVALID")
    );
    let r = put_manifest(
        &server,
        "r",
        "t",
        "application/json",
        br#"{"schemaVersion":1,"name":"r"}"#,
    )
    .await;
    assert_eq!(error_code(r).await, "MANIFEST_INVALID");
    let r = put_manifest(&server, "r", "t", DOCKER_MANIFEST, &manifest).await;
    assert_eq!(
        error_code(r).await,
        "MANIFEST_INVALID",
        "Content-Type must match mediaType"
    );
    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    let r = put_manifest(&server, "r", "t", OCI_MANIFEST, &huge).await;
    assert_eq!(r.status(), 413);
    assert_eq!(error_code(r).await, "SIZE_INVALID");
    let r = put_manifest(&server, "r", "-bad", OCI_MANIFEST, &manifest).await;
    assert_eq!(
        (r.status().as_u16(), error_code(r).await.as_str()),
        (400, "TAG_INVALID")
    );
    server.stop().await;
}

/// Unknown or malformed references are 404 or 400 with an OCI body, never a 500 (registry:2 gives 500).
#[tokio::test]
async fn unknown_and_malformed_references() {
    let server = TestServer::start().await;
    push_image(&server, "r", "v1", "x").await;
    let cases = [
        ("/v2/r/manifests/sha256:totallywrong", 400, "DIGEST_INVALID"),
        ("/v2/r/manifests/nope", 404, "MANIFEST_UNKNOWN"),
        ("/v2/norepo/manifests/v1", 404, "MANIFEST_UNKNOWN"),
        ("/v2/r/manifests/sha256:0000000000000000000000000000000000000000000000000000000000000000", 404, "MANIFEST_UNKNOWN"),
        ("/v2/UPPER/manifests/v1", 400, "NAME_INVALID"),
        ("/v2/norepo/tags/list", 404, "NAME_UNKNOWN"),
    ];
    for (path, status, code) in cases {
        let r = http()
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{path}");
        assert_eq!(error_code(r).await, code, "{path}");
    }
    server.stop().await;
}

/// Docker schema2 manifests and manifest lists, and OCI indexes, are stored and served with their
/// types; an index's children must be in the repository.
#[tokio::test]
async fn docker_types_and_indexes() {
    let server = TestServer::start().await;
    let config = b"{\"architecture\":\"arm64\"}";
    let layer = b"docker layer";
    push_blob(&server, "multi", config).await;
    push_blob(&server, "multi", layer).await;
    let docker = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": sha256(config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": sha256(layer), "size": layer.len()}],
    }))
    .unwrap();
    let docker_digest = sha256(&docker);
    assert_eq!(
        put_manifest(&server, "multi", &docker_digest, DOCKER_MANIFEST, &docker)
            .await
            .status(),
        201
    );
    let (_, oci_digest) = push_image(&server, "multi", "amd", "amd").await;
    let list = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": DOCKER_LIST,
        "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": docker_digest, "size": docker.len(),
                       "platform": {"architecture": "arm64", "os": "linux"}}],
    }))
    .unwrap();
    assert_eq!(
        put_manifest(&server, "multi", "list", DOCKER_LIST, &list)
            .await
            .status(),
        201
    );
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": oci_digest, "size": 1,
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    }))
    .unwrap();
    assert_eq!(
        put_manifest(&server, "multi", "index", OCI_INDEX, &index)
            .await
            .status(),
        201
    );
    for (tag, media_type, body) in [
        ("list", DOCKER_LIST, &list),
        ("index", OCI_INDEX, &index),
        (docker_digest.as_str(), DOCKER_MANIFEST, &docker),
    ] {
        let r = http()
            .get(format!("{}/v2/multi/manifests/{tag}", server.url))
            .header(
                "accept",
                format!("{OCI_INDEX}, {OCI_MANIFEST}, {DOCKER_LIST}, {DOCKER_MANIFEST}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{tag}");
        assert_eq!(r.headers()["content-type"], media_type);
        assert_eq!(r.bytes().await.unwrap().as_ref(), body.as_slice());
    }
    server.stop().await;
}

/// Content negotiation: an OCI manifest is withheld from a client that accepts only Docker types.
#[tokio::test]
async fn accept_negotiation() {
    let server = TestServer::start().await;
    push_image(&server, "r", "v1", "x").await;
    let url = format!("{}/v2/r/manifests/v1", server.url);
    let r = http()
        .get(&url)
        .header("accept", DOCKER_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    let r = http()
        .get(&url)
        .header("accept", "*/*")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.stop().await;
}

/// Deleting a tag removes only the tag; deleting by digest removes the manifest and every tag on it.
#[tokio::test]
async fn delete_by_tag_and_by_digest() {
    let server = TestServer::start().await;
    let (manifest, digest) = push_image(&server, "r", "a", "same").await;
    for tag in ["b", "c"] {
        assert_eq!(
            put_manifest(&server, "r", tag, OCI_MANIFEST, &manifest)
                .await
                .status(),
            201
        );
    }
    let (_, other) = push_image(&server, "r", "keep", "other").await;
    let r = http()
        .delete(format!("{}/v2/r/manifests/a", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let tags: serde_json::Value = http()
        .get(format!("{}/v2/r/tags/list", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tags["tags"], json!(["b", "c", "keep"]));
    let by_digest = http()
        .get(format!("{}/v2/r/manifests/{digest}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(by_digest.status(), 200, "tag delete keeps the manifest");
    let r = http()
        .delete(format!("{}/v2/r/manifests/{digest}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let tags: serde_json::Value = http()
        .get(format!("{}/v2/r/tags/list", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tags["tags"], json!(["keep"]));
    let gone = http()
        .get(format!("{}/v2/r/manifests/{digest}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let kept = http()
        .get(format!("{}/v2/r/manifests/{other}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status(), 200);
    let again = http()
        .delete(format!("{}/v2/r/manifests/a", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(again).await, "MANIFEST_UNKNOWN");
    server.stop().await;
}

/// With deletes disabled, manifest and tag deletes are 405 UNSUPPORTED and nothing changes.
#[tokio::test]
async fn manifest_delete_disabled() {
    let server = TestServer::start_env(&[]).await;
    let (_, digest) = push_image(&server, "r", "v1", "x").await;
    for reference in ["v1", digest.as_str()] {
        let r = http()
            .delete(format!("{}/v2/r/manifests/{reference}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405);
        assert_eq!(error_code(r).await, "UNSUPPORTED");
    }
    let r = http()
        .get(format!("{}/v2/r/manifests/v1", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.stop().await;
}

/// Tag lists are sorted and paginated with `n`/`last` and a `Link` to the next page.
#[tokio::test]
async fn tags_pagination() {
    let server = TestServer::start().await;
    let (manifest, _) = push_image(&server, "r", "t0", "x").await;
    for t in ["t1", "t2", "t3", "t4"] {
        put_manifest(&server, "r", t, OCI_MANIFEST, &manifest).await;
    }
    let r = http()
        .get(format!("{}/v2/r/tags/list?n=2", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["link"],
        "</v2/r/tags/list?n=2&last=t1>; rel=\"next\""
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body, json!({"name": "r", "tags": ["t0", "t1"]}));
    let r = http()
        .get(format!("{}/v2/r/tags/list?n=2&last=t3", server.url))
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("link"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["tags"], json!(["t4"]));
    let r = http()
        .get(format!("{}/v2/r/tags/list?n=0", server.url))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["tags"], json!([]));
    server.stop().await;
}

/// The catalog lists repositories (nested names included, blob-only ones excluded), paginated, and
/// refuses a page size above `catalog.maxentries`.
#[tokio::test]
async fn catalog_pagination() {
    let server = TestServer::start_env(&[("REGISTRY_CATALOG_MAXENTRIES", "3")]).await;
    for repo in ["b", "a/x", "a/x/y", "c"] {
        push_image(&server, repo, "v1", repo).await;
    }
    push_blob(&server, "blobs-only", b"x").await;
    let r = http()
        .get(format!("{}/v2/_catalog?n=2", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["link"],
        "</v2/_catalog?n=2&last=a%2Fx%2Fy>; rel=\"next\""
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body, json!({"repositories": ["a/x", "a/x/y"]}));
    let r = http()
        .get(format!("{}/v2/_catalog?n=2&last=a/x/y", server.url))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["repositories"], json!(["b", "c"]));
    let r = http()
        .get(format!("{}/v2/_catalog?n=4", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "PAGINATION_NUMBER_INVALID");
    let r = http()
        .get(format!("{}/v2/_catalog", server.url))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["repositories"],
        json!(["a/x", "a/x/y", "b"]),
        "default page is capped at maxentries"
    );
    server.stop().await;
}

/// Referrers: a manifest with a subject gets `OCI-Subject` on PUT and is listed for its subject,
/// filtered by artifactType; deleting it removes it from the list; no referrers is an empty index.
#[tokio::test]
async fn referrers() {
    let server = TestServer::start().await;
    let (subject_bytes, subject) = push_image(&server, "r", "v1", "subject").await;
    let empty = push_blob(&server, "r", b"{}").await;
    let mut pushed = Vec::new();
    for (artifact_type, note) in [
        ("application/vnd.example.sbom", "sbom"),
        ("application/vnd.example.sig", "sig"),
    ] {
        let body = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_bytes.len()},
            "annotations": {"note": note},
        }))
        .unwrap();
        let r = put_manifest(&server, "r", &sha256(&body), OCI_MANIFEST, &body).await;
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["oci-subject"], subject.as_str());
        pushed.push(sha256(&body));
    }
    let url = format!("{}/v2/r/referrers/{subject}", server.url);
    let r = http().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], OCI_INDEX);
    assert!(!r.headers().contains_key("oci-filters-applied"));
    let index: serde_json::Value = r.json().await.unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    let r = http()
        .get(format!("{url}?artifactType=application/vnd.example.sig"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let index: serde_json::Value = r.json().await.unwrap();
    let listed = index["manifests"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["digest"], pushed[1].as_str());
    assert_eq!(listed[0]["artifactType"], "application/vnd.example.sig");
    assert_eq!(listed[0]["annotations"]["note"], "sig");
    http()
        .delete(format!("{}/v2/r/manifests/{}", server.url, pushed[1]))
        .send()
        .await
        .unwrap();
    let index: serde_json::Value = http().get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    let none = sha256(b"no such subject");
    let index: serde_json::Value = http()
        .get(format!("{}/v2/r/referrers/{none}", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(index["manifests"], json!([]));
    let r = http()
        .get(format!("{}/v2/r/referrers/sha256:bad", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    server.stop().await;
}

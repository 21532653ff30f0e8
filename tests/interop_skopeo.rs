//! Interop with the real `skopeo` CLI (containers/image): pushes of OCI layouts and Docker-format
//! images, pulls back to `oci:` and `dir:`, inspect, list-tags, delete by digest and multi-arch
//! copies, all checked byte for byte against what was built locally.
//! skopeo runs in the sandbox of `common/skopeo.rs`.

mod common;
#[path = "common/oci_layout.rs"]
mod oci_layout;
#[path = "common/skopeo.rs"]
mod skopeo;

use std::path::{Path, PathBuf};

use common::TestServer;
use oci_layout::{Blob, OciLayout, LABEL, LINUX_AMD64, LINUX_ARM64, OCI_INDEX, OCI_MANIFEST};
use serde_json::Value;
use skopeo::{oci_ref, Skopeo};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// A fresh path under `parent` that does not exist yet, for skopeo to create.
fn fresh(parent: &tempfile::TempDir, name: &str) -> PathBuf {
    parent.path().join(name)
}

/// GETs a manifest over HTTP with one `Accept` type; returns status, content type, digest header
/// and body.
async fn get_manifest(
    server: &TestServer,
    repo: &str,
    reference: &str,
    accept: &str,
) -> (u16, String, String, Vec<u8>) {
    let r = common::http()
        .get(format!("{}/v2/{repo}/manifests/{reference}", server.url))
        .header("Accept", accept)
        .send()
        .await
        .expect("manifest GET");
    let status = r.status().as_u16();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().expect("ASCII header").to_string())
            .unwrap_or_default()
    };
    let (content_type, digest) = (header("content-type"), header("docker-content-digest"));
    let body = r.bytes().await.expect("manifest body").to_vec();
    (status, content_type, digest, body)
}

/// Checks the registry serves `blob` of `repo` byte for byte.
async fn assert_blob_served(server: &TestServer, repo: &str, blob: &Blob) {
    let r = common::http()
        .get(format!("{}/v2/{repo}/blobs/{}", server.url, blob.digest))
        .send()
        .await
        .expect("blob GET");
    assert_eq!(r.status(), 200, "GET blob {}", blob.digest);
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        blob.bytes.as_slice(),
        "blob {}",
        blob.digest
    );
}

/// Checks the registry serves `manifest` (of `media_type`) of `repo` at `reference`, with its
/// digest.
async fn assert_manifest_served(
    server: &TestServer,
    repo: &str,
    reference: &str,
    media_type: &str,
    manifest: &Blob,
) {
    let (status, content_type, digest, body) =
        get_manifest(server, repo, reference, media_type).await;
    assert_eq!(status, 200, "GET {repo}:{reference}");
    assert_eq!(
        content_type, media_type,
        "Content-Type of {repo}:{reference}"
    );
    assert_eq!(
        digest, manifest.digest,
        "Docker-Content-Digest of {repo}:{reference}"
    );
    assert!(
        body == manifest.bytes,
        "manifest bytes of {repo}:{reference} differ from the pushed ones"
    );
}

/// Asserts two layouts hold exactly the same blobs, byte for byte.
fn assert_same_blobs(pulled: &Path, source: &Path) {
    let (got, want) = (oci_layout::blobs(pulled), oci_layout::blobs(source));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the pulled layout holds other blobs than the source"
    );
    for (digest, bytes) in &want {
        assert!(got[digest] == *bytes, "blob {digest} differs");
    }
}

/// Pushes the same image under each of `tags` of `repo`.
async fn push_tags(
    skopeo: &Skopeo,
    server: &TestServer,
    layout: &Path,
    src_tag: &str,
    repo: &str,
    tags: &[&str],
) {
    for tag in tags {
        let dest = format!("docker://{}/{repo}:{tag}", server.host());
        skopeo.copy(&oci_ref(layout, src_tag), &dest, &[]).await;
    }
}

/// An OCI layout pushed with skopeo and pulled back into another layout is byte-identical: the same
/// manifest and the same config and layer blobs; the registry serves the manifest with its digest.
#[tokio::test(flavor = "multi_thread")]
async fn oci_layout_round_trip_is_byte_identical() {
    let skopeo = Skopeo::new();
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let src = fresh(&work, "src");
    let image = oci_layout::single_image(&src, "oci-round-trip", "v1", 3);
    let repo = "interop/oci-round-trip";
    let remote = format!("docker://{}/{repo}:v1", server.host());

    skopeo.copy(&oci_ref(&src, "v1"), &remote, &[]).await;
    let dst = fresh(&work, "pulled");
    skopeo.copy(&remote, &oci_ref(&dst, "v1"), &[]).await;

    let (media_type, manifest) = oci_layout::resolve(&dst, "v1");
    assert_eq!(media_type, OCI_MANIFEST);
    assert_eq!(
        manifest, image.manifest,
        "pulled manifest differs from the pushed one"
    );
    assert_same_blobs(&dst, &src);

    assert_manifest_served(&server, repo, "v1", OCI_MANIFEST, &image.manifest).await;
    for blob in image.layers.iter().chain([&image.config]) {
        assert_blob_served(&server, repo, blob).await;
    }
    server.stop().await;
}

/// A push converted to Docker schema 2 (`--format v2s2`) is stored and served as a Docker manifest
/// whose layers and config are the source's bytes; pulling it to `dir:` gives back exactly the
/// manifest the registry serves and the source blobs.
#[tokio::test(flavor = "multi_thread")]
async fn docker_schema2_push_and_pull_to_dir() {
    let skopeo = Skopeo::new();
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let src = fresh(&work, "src");
    let image = oci_layout::single_image(&src, "docker-format", "v1", 2);
    let repo = "interop/docker-format";
    let remote = format!("docker://{}/{repo}:v1", server.host());

    skopeo
        .copy(&oci_ref(&src, "v1"), &remote, &["--format", "v2s2"])
        .await;

    let raw = skopeo.inspect(&remote, true).await;
    let manifest: Value = serde_json::from_slice(&raw).expect("raw manifest is JSON");
    assert_eq!(manifest["mediaType"], DOCKER_MANIFEST, "{manifest}");
    assert_eq!(manifest["config"]["mediaType"], DOCKER_CONFIG, "{manifest}");
    assert_eq!(
        manifest["config"]["digest"],
        image.config.digest.as_str(),
        "{manifest}"
    );
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), image.layers.len());
    for (got, want) in layers.iter().zip(&image.layers) {
        assert_eq!(got["mediaType"], DOCKER_LAYER_GZIP, "{manifest}");
        assert_eq!(got["digest"], want.digest.as_str(), "{manifest}");
        assert_eq!(
            got["size"].as_u64(),
            Some(want.bytes.len() as u64),
            "{manifest}"
        );
    }
    let raw = Blob::new(raw);
    assert_manifest_served(&server, repo, "v1", DOCKER_MANIFEST, &raw).await;

    let dir = fresh(&work, "pulled-dir");
    skopeo
        .copy(&remote, &format!("dir:{}", dir.display()), &[])
        .await;
    let pulled = std::fs::read(dir.join("manifest.json")).expect("dir: manifest.json");
    assert!(
        pulled == raw.bytes,
        "the dir: manifest differs from the one the registry serves"
    );
    for blob in image.layers.iter().chain([&image.config]) {
        let got = std::fs::read(dir.join(blob.hex()))
            .unwrap_or_else(|e| panic!("dir: blob {}: {e}", blob.digest));
        assert!(
            got == blob.bytes,
            "dir: blob {} differs from the source",
            blob.digest
        );
    }
    server.stop().await;
}

/// `skopeo inspect` reports the pushed image's digest, platform, labels, layers and tags, and
/// `skopeo list-tags` lists every tag the image was pushed under.
#[tokio::test(flavor = "multi_thread")]
async fn inspect_and_list_tags() {
    let skopeo = Skopeo::new();
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let src = fresh(&work, "src");
    let image = oci_layout::single_image(&src, "inspect", "v1", 2);
    let repo = "interop/inspect";
    let tags = ["latest", "v1", "v2"];
    push_tags(&skopeo, &server, &src, "v1", repo, &tags).await;

    let out = skopeo
        .inspect(&format!("docker://{}/{repo}:v2", server.host()), false)
        .await;
    let info: Value = serde_json::from_slice(&out).expect("inspect prints JSON");
    assert_eq!(info["Digest"], image.manifest.digest.as_str(), "{info}");
    assert_eq!(info["Architecture"], "amd64", "{info}");
    assert_eq!(info["Os"], "linux", "{info}");
    assert_eq!(info["Labels"][LABEL], image.name.as_str(), "{info}");
    let layers: Vec<&str> = image.layers.iter().map(|l| l.digest.as_str()).collect();
    assert_eq!(info["Layers"], serde_json::json!(layers), "{info}");
    let mut repo_tags: Vec<&str> = info["RepoTags"]
        .as_array()
        .expect("RepoTags")
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    repo_tags.sort();
    assert_eq!(repo_tags, tags);

    let listed = skopeo
        .list_tags(&format!("docker://{}/{repo}", server.host()))
        .await;
    assert_eq!(listed, tags);
    server.stop().await;
}

/// `skopeo delete` by digest removes the manifest and every tag on it, and leaves other images of
/// the repository alone.
#[tokio::test(flavor = "multi_thread")]
async fn delete_by_digest() {
    let skopeo = Skopeo::new();
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let src = fresh(&work, "src");
    let mut layout = OciLayout::create(&src);
    let doomed = layout.add_image("delete-doomed", LINUX_AMD64, 2);
    layout.tag("doomed", OCI_MANIFEST, &doomed.manifest);
    let kept = layout.add_image("delete-kept", LINUX_AMD64, 1);
    layout.tag("kept", OCI_MANIFEST, &kept.manifest);
    let repo = "interop/delete";
    push_tags(&skopeo, &server, &src, "doomed", repo, &["a1", "a2"]).await;
    push_tags(&skopeo, &server, &src, "kept", repo, &["b1"]).await;
    let repository = format!("docker://{}/{repo}", server.host());
    assert_eq!(skopeo.list_tags(&repository).await, ["a1", "a2", "b1"]);

    let by_digest = format!("{repository}@{}", doomed.manifest.digest);
    skopeo
        .run("delete", &["--tls-verify=false", &by_digest])
        .await;

    for reference in [doomed.manifest.digest.as_str(), "a1", "a2"] {
        let (status, ..) = get_manifest(&server, repo, reference, OCI_MANIFEST).await;
        assert_eq!(status, 404, "GET {repo}:{reference} after the delete");
    }
    assert_eq!(skopeo.list_tags(&repository).await, ["b1"]);
    let gone = skopeo
        .try_run(
            "inspect",
            &[
                "--tls-verify=false".into(),
                "--raw".into(),
                by_digest.clone(),
            ],
        )
        .await;
    assert!(
        !gone.status.success(),
        "skopeo still inspects the deleted {by_digest}"
    );
    assert_manifest_served(&server, repo, "b1", OCI_MANIFEST, &kept.manifest).await;
    server.stop().await;
}

/// A multi-arch image (an OCI index over linux/amd64 and linux/arm64) copied with `--all` both ways
/// is byte-identical: the index, both manifests and every blob.
#[tokio::test(flavor = "multi_thread")]
async fn multi_arch_round_trip_is_byte_identical() {
    let skopeo = Skopeo::new();
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let src = fresh(&work, "src");
    let mut layout = OciLayout::create(&src);
    let amd64 = layout.add_image("multi-amd64", LINUX_AMD64, 2);
    let arm64 = layout.add_image("multi-arm64", LINUX_ARM64, 2);
    let index = layout.add_index(&[&amd64, &arm64]);
    layout.tag("multi", OCI_INDEX, &index);
    let repo = "interop/multi-arch";
    let remote = format!("docker://{}/{repo}:multi", server.host());

    skopeo
        .copy(&oci_ref(&src, "multi"), &remote, &["--all"])
        .await;
    let dst = fresh(&work, "pulled");
    skopeo
        .copy(&remote, &oci_ref(&dst, "multi"), &["--all"])
        .await;

    let (media_type, pulled) = oci_layout::resolve(&dst, "multi");
    assert_eq!(media_type, OCI_INDEX);
    assert_eq!(pulled, index, "pulled index differs from the pushed one");
    assert_same_blobs(&dst, &src);

    let raw = skopeo.inspect(&remote, true).await;
    assert!(
        raw == index.bytes,
        "skopeo inspect --raw differs from the pushed index"
    );
    assert_manifest_served(&server, repo, "multi", OCI_INDEX, &index).await;
    for image in [&amd64, &arm64] {
        assert_manifest_served(
            &server,
            repo,
            &image.manifest.digest,
            OCI_MANIFEST,
            &image.manifest,
        )
        .await;
        for blob in image.layers.iter().chain([&image.config]) {
            assert_blob_served(&server, repo, blob).await;
        }
    }
    server.stop().await;
}

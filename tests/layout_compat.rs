//! On-disk compatibility with CNCF distribution (`registry:2`): Wharf serves a tree written the way
//! distribution 2.8 writes it, writes exactly that layout itself, and resumes uploads and serves
//! images after a restart over the same directory.
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::layers::{noise, tar_gz_layer};
use common::{http, sha256, TestServer};
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{IMAGE_DOCKER_LAYER_GZIP_MEDIA_TYPE, IMAGE_LAYER_GZIP_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::{json, Value};

const V2: &str = "docker/registry/v2";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").expect("sha256 digest")
}

/// `blobs/sha256/<2hex>/<hex>/data`, relative to the root.
fn blob_path(digest: &str) -> String {
    let hex = hex_of(digest);
    format!("{V2}/blobs/sha256/{}/{hex}/data", &hex[..2])
}

fn repo_path(repo: &str) -> String {
    format!("{V2}/repositories/{repo}")
}

fn layer_link(repo: &str, digest: &str) -> String {
    format!("{}/_layers/sha256/{}/link", repo_path(repo), hex_of(digest))
}

fn revision_link(repo: &str, digest: &str) -> String {
    format!(
        "{}/_manifests/revisions/sha256/{}/link",
        repo_path(repo),
        hex_of(digest)
    )
}

fn tag_current_link(repo: &str, tag: &str) -> String {
    format!("{}/_manifests/tags/{tag}/current/link", repo_path(repo))
}

fn tag_index_link(repo: &str, tag: &str, digest: &str) -> String {
    format!(
        "{}/_manifests/tags/{tag}/index/sha256/{}/link",
        repo_path(repo),
        hex_of(digest)
    )
}

/// Writes a file, creating its directories, as distribution's filesystem driver does.
fn write(root: &Path, rel: &str, content: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// Every file under `root`, by path relative to it, with its content.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Every file and directory name under `root` ending in `.tmp`.
fn tmp_entries(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.to_str().unwrap().ends_with(".tmp") {
                found.push(path.clone());
            }
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    found
}

fn client(server: &TestServer) -> Client {
    Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(vec![server.host()]),
        ..Default::default()
    })
}

/// The path and query of an absolute or relative URL, to replay it against another server.
fn path_of(location: &str) -> String {
    match location.find("://") {
        Some(i) => {
            let rest = &location[i + 3..];
            rest[rest.find('/').unwrap_or(rest.len())..].to_string()
        }
        None => location.to_string(),
    }
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} header missing"))
        .to_str()
        .unwrap()
        .to_string()
}

/// An image as distribution stored it.
struct Seeded {
    manifest: Vec<u8>,
    manifest_digest: String,
    config: Vec<u8>,
    config_digest: String,
    layer: Vec<u8>,
    layer_digest: String,
    upload_id: String,
    upload_data: Vec<u8>,
}

/// Writes `library/app:latest` (a Docker schema2 image) and a leftover upload exactly as distribution
/// 2.8's filesystem driver lays them out.
fn seed_distribution_tree(root: &Path) -> Seeded {
    let repo = "library/app";
    let (layer, diff_id) = tar_gz_layer(101, 180 * 1024);
    let layer_digest = sha256(&layer);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/srv/app"], "WorkingDir": "/srv"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "COPY app /srv"}]
    }))
    .unwrap();
    let config_digest = sha256(&config);
    // Docker writes manifests indented by three spaces; pretty JSON also proves bytes are kept as is.
    let manifest = serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": config.len(), "digest": config_digest},
        "layers": [{
            "mediaType": IMAGE_DOCKER_LAYER_GZIP_MEDIA_TYPE,
            "size": layer.len(),
            "digest": layer_digest
        }]
    }))
    .unwrap();
    let manifest_digest = sha256(&manifest);

    for (digest, content) in [
        (&layer_digest, &layer),
        (&config_digest, &config),
        (&manifest_digest, &manifest),
    ] {
        write(root, &blob_path(digest), content);
    }
    write(
        root,
        &layer_link(repo, &layer_digest),
        layer_digest.as_bytes(),
    );
    write(
        root,
        &layer_link(repo, &config_digest),
        config_digest.as_bytes(),
    );
    write(
        root,
        &revision_link(repo, &manifest_digest),
        manifest_digest.as_bytes(),
    );
    write(
        root,
        &tag_current_link(repo, "latest"),
        manifest_digest.as_bytes(),
    );
    write(
        root,
        &tag_index_link(repo, "latest", &manifest_digest),
        manifest_digest.as_bytes(),
    );

    // An upload distribution started and never finished: data so far, start time, saved hash state.
    let upload_id = "2b4f0c1e-7d3a-4e8b-9c5f-6a1d2e3f4a5b".to_string();
    let upload_data = noise(102, 1000);
    let upload = format!("{}/_uploads/{upload_id}", repo_path(repo));
    write(
        root,
        &format!("{upload}/startedat"),
        b"2024-05-01T10:20:30Z",
    );
    write(root, &format!("{upload}/data"), &upload_data);
    write(
        root,
        &format!("{upload}/hashstates/sha256/1000"),
        &noise(103, 112),
    );

    Seeded {
        manifest,
        manifest_digest,
        config,
        config_digest,
        layer,
        layer_digest,
        upload_id,
        upload_data,
    }
}

/// A tree laid out exactly as distribution 2.8 writes it is served as is: catalog, tags, the
/// manifest by tag and digest with its own media type and unchanged bytes, blobs with their sizes, a
/// pull by an independent client; reads change nothing on disk, and distribution's unfinished upload
/// can be inspected and completed.
#[tokio::test(flavor = "multi_thread")]
async fn serves_a_distribution_tree() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let seeded = seed_distribution_tree(root);
    let before = files(root);
    let server = TestServer::start_at(root, &[]).await;
    let base = format!("{}/v2/library/app", server.url);

    let r = http()
        .get(format!("{}/v2/_catalog", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"repositories": ["library/app"]})
    );

    let r = http()
        .get(format!("{base}/tags/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"name": "library/app", "tags": ["latest"]})
    );

    for reference in ["latest", seeded.manifest_digest.as_str()] {
        let r = http()
            .get(format!("{base}/manifests/{reference}"))
            .header("Accept", DOCKER_MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{reference}");
        assert_eq!(header(&r, "content-type"), DOCKER_MANIFEST);
        assert_eq!(header(&r, "docker-content-digest"), seeded.manifest_digest);
        assert_eq!(
            r.bytes().await.unwrap().as_ref(),
            seeded.manifest.as_slice(),
            "{reference}"
        );

        let r = http()
            .head(format!("{base}/manifests/{reference}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type"), DOCKER_MANIFEST);
        assert_eq!(header(&r, "docker-content-digest"), seeded.manifest_digest);
        assert_eq!(
            header(&r, "content-length"),
            seeded.manifest.len().to_string()
        );
    }

    for (digest, content) in [
        (&seeded.layer_digest, &seeded.layer),
        (&seeded.config_digest, &seeded.config),
    ] {
        let r = http()
            .get(format!("{base}/blobs/{digest}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "docker-content-digest"), *digest);
        assert_eq!(r.bytes().await.unwrap().as_ref(), content.as_slice());
        let r = http()
            .head(format!("{base}/blobs/{digest}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-length"), content.len().to_string());
        assert_eq!(header(&r, "docker-content-digest"), *digest);
    }

    let client = client(&server);
    let reference = Reference::with_tag(server.host(), "library/app".into(), "latest".into());
    let pulled = client
        .pull(
            &reference,
            &RegistryAuth::Anonymous,
            vec![IMAGE_DOCKER_LAYER_GZIP_MEDIA_TYPE],
        )
        .await
        .expect("pull a distribution-written image");
    assert_eq!(
        pulled.digest.as_deref(),
        Some(seeded.manifest_digest.as_str())
    );
    assert_eq!(pulled.config.media_type, DOCKER_CONFIG);
    assert_eq!(pulled.config.data, seeded.config);
    assert_eq!(pulled.layers.len(), 1);
    assert_eq!(pulled.layers[0].data, seeded.layer);

    // distribution's unfinished upload reports its size.
    let upload_url = format!("{base}/blobs/uploads/{}", seeded.upload_id);
    let r = http().get(&upload_url).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        header(&r, "range"),
        format!("0-{}", seeded.upload_data.len() - 1)
    );
    assert_eq!(header(&r, "docker-upload-uuid"), seeded.upload_id);

    assert!(files(root) == before, "reading changed the tree");

    // ...and can be finished.
    let tail = noise(104, 500);
    let mut whole = seeded.upload_data.clone();
    whole.extend_from_slice(&tail);
    let digest = sha256(&whole);
    let r = http()
        .put(format!("{upload_url}?digest={digest}"))
        .header("Content-Range", format!("1000-{}", whole.len() - 1))
        .body(tail)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "docker-content-digest"), digest);
    assert_eq!(std::fs::read(root.join(blob_path(&digest))).unwrap(), whole);
    assert_eq!(
        std::fs::read(root.join(layer_link("library/app", &digest))).unwrap(),
        digest.as_bytes()
    );
    assert!(!root
        .join(format!(
            "{}/_uploads/{}",
            repo_path("library/app"),
            seeded.upload_id
        ))
        .exists());
    server.stop().await;
}

/// A push over raw HTTP (chunked upload, monolithic upload, manifest by tag) leaves exactly
/// distribution's files once the server has stopped: blob data including the manifest's, `_layers`,
/// revision and tag links holding the bare digest, no upload directory, no temporary file, and none
/// of Wharf's own (its writer record, there while it runs, goes at shutdown).
#[tokio::test(flavor = "multi_thread")]
async fn writes_the_distribution_layout() {
    let server = TestServer::start().await;
    let root = server.root.clone();
    let repo = "team/app";
    let base = format!("{}/v2/{repo}", server.url);

    // Layer: POST, PATCH, PATCH, PUT with the last chunk.
    let (layer, diff_id) = tar_gz_layer(201, 300 * 1024);
    let layer_digest = sha256(&layer);
    let r = http()
        .post(format!("{base}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let upload_id = header(&r, "docker-upload-uuid");
    let mut location = header(&r, "location");
    assert!(root
        .join(format!(
            "{}/_uploads/{upload_id}/startedat",
            repo_path(repo)
        ))
        .is_file());
    let cuts = [0, 100 * 1024, 250 * 1024];
    for pair in cuts.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        let r = http()
            .patch(&location)
            .header("Content-Range", format!("{start}-{}", end - 1))
            .header("Content-Type", "application/octet-stream")
            .body(layer[start..end].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        assert_eq!(header(&r, "range"), format!("0-{}", end - 1));
        location = header(&r, "location");
    }
    let mut url = reqwest::Url::parse(&location).unwrap();
    url.query_pairs_mut().append_pair("digest", &layer_digest);
    let r = http()
        .put(url)
        .header("Content-Range", format!("{}-{}", cuts[2], layer.len() - 1))
        .body(layer[cuts[2]..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "docker-content-digest"), layer_digest);

    // Config: one monolithic POST.
    let config = serde_json::to_vec(&json!({
        "architecture": "arm64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}
    }))
    .unwrap();
    let config_digest = sha256(&config);
    let r = http()
        .post(format!("{base}/blobs/uploads/?digest={config_digest}"))
        .header("Content-Type", "application/octet-stream")
        .body(config.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": IMAGE_LAYER_GZIP_MEDIA_TYPE, "digest": layer_digest, "size": layer.len()}]
    }))
    .unwrap();
    let manifest_digest = sha256(&manifest);
    let r = http()
        .put(format!("{base}/manifests/v1"))
        .header("Content-Type", OCI_MANIFEST)
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "docker-content-digest"), manifest_digest);

    let running = files(&root);
    let wharf_own: Vec<&String> = running.keys().filter(|k| k.contains("/_wharf/")).collect();
    assert_eq!(wharf_own.len(), 1, "{wharf_own:?}");
    assert!(wharf_own[0].starts_with("docker/registry/v2/_wharf/gc/writers/"));
    let _dir = server.stop_keep_dir().await;
    let on_disk = files(&root);
    let expected: BTreeMap<String, Vec<u8>> = [
        (blob_path(&layer_digest), layer.clone()),
        (blob_path(&config_digest), config.clone()),
        (blob_path(&manifest_digest), manifest.clone()),
        (
            layer_link(repo, &layer_digest),
            layer_digest.clone().into_bytes(),
        ),
        (
            layer_link(repo, &config_digest),
            config_digest.clone().into_bytes(),
        ),
        (
            revision_link(repo, &manifest_digest),
            manifest_digest.clone().into_bytes(),
        ),
        (
            tag_current_link(repo, "v1"),
            manifest_digest.clone().into_bytes(),
        ),
        (
            tag_index_link(repo, "v1", &manifest_digest),
            manifest_digest.clone().into_bytes(),
        ),
    ]
    .into_iter()
    .collect();
    let listed: Vec<&String> = on_disk.keys().collect();
    let wanted: Vec<&String> = expected.keys().collect();
    assert_eq!(listed, wanted, "files on disk");
    for (path, content) in &expected {
        assert!(on_disk[path] == *content, "content of {path}");
    }
    for (path, content) in &on_disk {
        if path.ends_with("/link") {
            assert!(!content.ends_with(b"\n"), "{path} ends with a newline");
            assert!(
                content.starts_with(b"sha256:") && content.len() == 71,
                "{path}"
            );
        }
    }
    assert!(!root
        .join(format!("{}/_uploads/{upload_id}", repo_path(repo)))
        .exists());
    assert_eq!(tmp_entries(&root), Vec::<PathBuf>::new());
}

/// A half-finished chunked upload and a pushed image survive a restart over the same root: the new
/// process reports the upload's `Range`, accepts the rest and verifies the digest, and serves the
/// image byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn survives_a_restart() {
    let server = TestServer::start().await;
    let repo = "restart/app";
    let base = format!("{}/v2/{repo}", server.url);

    let blob = noise(301, 400 * 1024 + 5);
    let cut = 123 * 1024;
    let r = http()
        .post(format!("{base}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = header(&r, "location");
    let upload_id = header(&r, "docker-upload-uuid");
    let r = http()
        .patch(&location)
        .header("Content-Range", format!("0-{}", cut - 1))
        .body(blob[..cut].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let upload_path = path_of(&header(&r, "location"));

    let (l1, diff1) = tar_gz_layer(302, 200 * 1024);
    let (l2, diff2) = tar_gz_layer(303, 150 * 1024 + 1);
    let config = Config::oci_v1(
        serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff1, diff2]}
        }))
        .unwrap(),
        None,
    );
    let layers = vec![
        ImageLayer::oci_v1_gzip(l1, None),
        ImageLayer::oci_v1_gzip(l2, None),
    ];
    let oci = client(&server);
    let reference = Reference::with_tag(server.host(), repo.into(), "v1".into());
    oci.push(
        &reference,
        &layers,
        config.clone(),
        &RegistryAuth::Anonymous,
        None,
    )
    .await
    .expect("push image");
    let r = http()
        .get(format!("{base}/manifests/v1"))
        .header("Accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let manifest_digest = header(&r, "docker-content-digest");
    let manifest = r.bytes().await.unwrap();
    drop(oci);

    let dir = server.stop_keep_dir().await;
    let server = TestServer::start_at(dir.path(), &[]).await;
    let base = format!("{}/v2/{repo}", server.url);

    let r = http()
        .get(format!("{}{upload_path}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "range"), format!("0-{}", cut - 1));
    assert_eq!(header(&r, "docker-upload-uuid"), upload_id);
    let location = header(&r, "location");
    assert!(location.starts_with(&server.url), "{location}");

    let r = http()
        .patch(&location)
        .header("Content-Range", format!("{cut}-{}", blob.len() - 1))
        .body(blob[cut..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "range"), format!("0-{}", blob.len() - 1));
    let digest = sha256(&blob);
    let mut url = reqwest::Url::parse(&header(&r, "location")).unwrap();
    url.query_pairs_mut().append_pair("digest", &digest);
    let r = http().put(url).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "docker-content-digest"), digest);
    let r = http()
        .get(format!("{base}/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.bytes().await.unwrap().as_ref() == blob.as_slice(),
        "resumed blob bytes"
    );

    // The image pushed before the restart.
    let r = http()
        .get(format!("{base}/manifests/v1"))
        .header("Accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "docker-content-digest"), manifest_digest);
    assert_eq!(r.bytes().await.unwrap(), manifest);
    let oci = client(&server);
    let reference = Reference::with_tag(server.host(), repo.into(), "v1".into());
    let pulled = oci
        .pull(
            &reference,
            &RegistryAuth::Anonymous,
            vec![IMAGE_LAYER_GZIP_MEDIA_TYPE],
        )
        .await
        .expect("pull after restart");
    assert_eq!(pulled.digest.as_deref(), Some(manifest_digest.as_str()));
    assert_eq!(pulled.config.data, config.data);
    for layer in &layers {
        let digest = layer.sha256_digest();
        let r = http()
            .get(format!("{base}/blobs/{digest}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.bytes().await.unwrap() == layer.data, "layer {digest}");
        let got = pulled
            .layers
            .iter()
            .find(|l| l.sha256_digest() == digest)
            .expect("layer pulled");
        assert!(got.data == layer.data, "pulled layer {digest}");
    }
    server.stop().await;
    drop(dir);
}

//! Shared by the web UI tests: a running `wharf ui` on `127.0.0.1:0`, and a fixture of images pushed
//! with plain registry HTTP calls (two-step uploads, as every registry supports, registry:2 included):
//! several repositories with nested names, tags sharing a digest, a multi-arch index and a referrer.
#![allow(dead_code)]

use std::net::SocketAddr;

use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wharf::ui::UiConfig;

/// OCI media types used by the fixture.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The referrer's artifact type.
pub const SBOM_TYPE: &str = "application/vnd.example.sbom.v1+json";
/// A label value that must come out escaped.
pub const HOSTILE_LABEL: &str = "<script>alert('x')</script>";

/// A running UI.
pub struct UiServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The bound address.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl UiServer {
    /// Starts `wharf ui` with these settings.
    pub async fn start(config: UiConfig) -> UiServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(wharf::ui::serve_ui(listener, config, async move {
            let _ = stopped.await;
        }));
        UiServer {
            url: format!("http://{addr}"),
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the UI and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("ui task").expect("ui result");
        }
    }
}

/// UI settings for tests: deletes and digests shown.
pub fn test_config(upstream: &str) -> UiConfig {
    let mut config = UiConfig::new(upstream);
    config.delete_enabled = true;
    config.show_content_digest = true;
    config
}

/// A plain HTTP client (no redirects followed).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// GETs a page; returns status and body.
pub async fn get(url: &str) -> (u16, String) {
    let r = client().get(url).send().await.expect("GET");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

/// sha256 digest string of bytes.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Deterministic bytes unique to `seed`.
pub fn noise(seed: &str, len: usize) -> Vec<u8> {
    let mut x = u64::from_le_bytes(
        sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(seed))[..8]
            .try_into()
            .unwrap(),
    ) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Uploads a blob with `POST` then `PUT ?digest=`; returns its descriptor.
pub async fn push_blob(base: &str, repo: &str, bytes: &[u8], media_type: &str) -> Value {
    let digest = sha256(bytes);
    let r = client()
        .post(format!("{base}/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .expect("start upload");
    assert_eq!(r.status(), 202, "start upload to {repo}");
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let location = if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let r = client()
        .put(format!("{location}{sep}digest={digest}"))
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .expect("finish upload");
    assert_eq!(r.status(), 201, "finish upload to {repo}");
    json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
}

/// PUTs a manifest; returns its descriptor.
pub async fn put_manifest(base: &str, repo: &str, reference: &str, manifest: &Value) -> Value {
    let bytes = serde_json::to_vec(manifest).unwrap();
    let media_type = manifest["mediaType"].as_str().unwrap().to_string();
    let r = client()
        .put(format!("{base}/v2/{repo}/manifests/{reference}"))
        .header("content-type", &media_type)
        .body(bytes.clone())
        .send()
        .await
        .expect("manifest PUT");
    let status = r.status();
    assert_eq!(
        status,
        201,
        "manifest {repo}:{reference}: {}",
        r.text().await.unwrap_or_default()
    );
    json!({"mediaType": media_type, "digest": sha256(&bytes), "size": bytes.len()})
}

/// What an image of the fixture is made of.
pub struct ImageSpec<'a> {
    /// Unique seed for its bytes.
    pub seed: &'a str,
    /// Config `created`.
    pub created: &'a str,
    /// Architecture.
    pub arch: &'a str,
    /// Layer size in bytes.
    pub layer_len: usize,
    /// Labels.
    pub labels: Value,
    /// `created_by` of each history entry.
    pub history: &'a [&'a str],
}

/// Pushes an image's blobs and manifest by digest; returns the manifest descriptor.
pub async fn push_image(base: &str, repo: &str, spec: &ImageSpec<'_>) -> Value {
    let layer = noise(spec.seed, spec.layer_len);
    let layer_desc = push_blob(
        base,
        repo,
        &layer,
        "application/vnd.oci.image.layer.v1.tar+gzip",
    )
    .await;
    let history: Vec<Value> = spec
        .history
        .iter()
        .map(|h| json!({"created": spec.created, "created_by": h}))
        .collect();
    let config = json!({
        "created": spec.created,
        "architecture": spec.arch,
        "os": "linux",
        "config": {"Labels": spec.labels, "Env": ["PATH=/usr/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(spec.seed.as_bytes())]},
        "history": history,
    });
    let config_desc = push_blob(
        base,
        repo,
        &serde_json::to_vec(&config).unwrap(),
        "application/vnd.oci.image.config.v1+json",
    )
    .await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_desc,
        "layers": [layer_desc],
    });
    let digest = sha256(&serde_json::to_vec(&manifest).unwrap());
    put_manifest(base, repo, &digest, &manifest).await
}

/// Tags an already pushed manifest.
pub async fn tag(base: &str, repo: &str, tag: &str, descriptor: &Value) {
    let digest = descriptor["digest"].as_str().unwrap();
    let r = client()
        .get(format!("{base}/v2/{repo}/manifests/{digest}"))
        .header("accept", descriptor["mediaType"].as_str().unwrap())
        .send()
        .await
        .expect("manifest GET");
    assert_eq!(r.status(), 200);
    let manifest: Value = r.json().await.unwrap();
    put_manifest(base, repo, tag, &manifest).await;
}

/// Digests of the fixture's content.
pub struct Fixture {
    /// `alpine` image tagged `3.19`, `latest` and `stable`.
    pub alpine_current: String,
    /// `alpine:3.18`.
    pub alpine_old: String,
    /// `multi:1.0`, an index.
    pub multi_index: String,
    /// The amd64 and arm64 manifests of `multi:1.0`.
    pub multi_children: [String; 2],
    /// The SBOM referring to `alpine_current`, when pushed.
    pub referrer: Option<String>,
}

fn spec<'a>(seed: &'a str, created: &'a str, arch: &'a str, layer_len: usize) -> ImageSpec<'a> {
    ImageSpec {
        seed,
        created,
        arch,
        layer_len,
        labels: json!({"org.opencontainers.image.title": seed}),
        history: &["/bin/sh -c #(nop) ADD file:rootfs in /"],
    }
}

/// Pushes the fixture to the registry at `base`; `with_referrer` adds an OCI 1.1 SBOM artifact.
pub async fn seed(base: &str, with_referrer: bool) -> Fixture {
    let alpine = ImageSpec {
        seed: "alpine-3.19",
        created: "2024-01-15T10:00:00Z",
        arch: "amd64",
        layer_len: 3_000,
        labels: json!({"org.opencontainers.image.title": "alpine", "maintainer": HOSTILE_LABEL}),
        history: &[
            "/bin/sh -c #(nop) ADD file:d0d2 in / ",
            "/bin/sh -c apk add --no-cache curl",
            "/bin/sh -c #(nop)  CMD [\"/bin/sh\"]",
        ],
    };
    let current = push_image(base, "alpine", &alpine).await;
    for t in ["3.19", "latest", "stable"] {
        tag(base, "alpine", t, &current).await;
    }
    let old = push_image(
        base,
        "alpine",
        &spec("alpine-3.18", "2023-06-01T08:00:00Z", "amd64", 2_000),
    )
    .await;
    tag(base, "alpine", "3.18", &old).await;

    let v2 = push_image(
        base,
        "team/app",
        &spec("app-v2", "2024-05-01T00:00:00Z", "amd64", 1_200),
    )
    .await;
    tag(base, "team/app", "v2", &v2).await;
    let v1 = push_image(
        base,
        "team/app",
        &spec("app-v1", "2022-01-01T00:00:00Z", "amd64", 1_100),
    )
    .await;
    tag(base, "team/app", "v1", &v1).await;
    let cli = push_image(
        base,
        "team/tools/cli",
        &spec("cli", "2024-03-03T00:00:00Z", "amd64", 900),
    )
    .await;
    tag(base, "team/tools/cli", "1.0", &cli).await;

    let amd = push_image(
        base,
        "multi",
        &spec("multi-amd64", "2024-02-01T00:00:00Z", "amd64", 1_000),
    )
    .await;
    let arm = push_image(
        base,
        "multi",
        &spec("multi-arm64", "2024-02-02T00:00:00Z", "arm64", 1_500),
    )
    .await;
    let mut amd_entry = amd.clone();
    amd_entry["platform"] = json!({"architecture": "amd64", "os": "linux"});
    let mut arm_entry = arm.clone();
    arm_entry["platform"] = json!({"architecture": "arm64", "os": "linux", "variant": "v8"});
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [amd_entry, arm_entry],
    });
    let index_desc = put_manifest(base, "multi", "1.0", &index).await;

    let referrer = if with_referrer {
        let empty = push_blob(base, "alpine", b"{}", "application/vnd.oci.empty.v1+json").await;
        let sbom = push_blob(base, "alpine", br#"{"packages":["curl"]}"#, SBOM_TYPE).await;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SBOM_TYPE,
            "config": empty,
            "layers": [sbom],
            "subject": current,
            "annotations": {"org.opencontainers.image.created": "2024-01-16T00:00:00Z"},
        });
        let digest = sha256(&serde_json::to_vec(&manifest).unwrap());
        put_manifest(base, "alpine", &digest, &manifest).await;
        Some(digest)
    } else {
        None
    };
    Fixture {
        alpine_current: current["digest"].as_str().unwrap().to_string(),
        alpine_old: old["digest"].as_str().unwrap().to_string(),
        multi_index: index_desc["digest"].as_str().unwrap().to_string(),
        multi_children: [
            amd["digest"].as_str().unwrap().to_string(),
            arm["digest"].as_str().unwrap().to_string(),
        ],
        referrer,
    }
}

/// The tags of `repo` as the registry lists them.
pub async fn registry_tags(base: &str, repo: &str) -> Vec<String> {
    let r = client()
        .get(format!("{base}/v2/{repo}/tags/list"))
        .send()
        .await
        .expect("tags/list");
    if r.status() == 404 {
        return Vec::new();
    }
    let body: Value = r.json().await.expect("tags JSON");
    let mut tags: Vec<String> = body["tags"]
        .as_array()
        .map(|a| a.iter().map(|t| t.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    tags.sort();
    tags
}

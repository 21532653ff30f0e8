//! Builds OCI image layouts on disk (`oci-layout`, `index.json`, `blobs/sha256/...`) for interop
//! tests with tools that read and write them, and reads layouts back for byte-level comparison.
//!
//! Every layer is a real gzip-compressed tar holding one file whose content is unique to the test,
//! the process, the moment and a counter, so no two images built by any run share a blob.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI gzip-compressed layer media type.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The `index.json` annotation naming a tag.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The label every built image carries; its value is the image's name.
pub const LABEL: &str = "org.wharf.interop.image";

/// Fixed creation time of every config and history entry.
const CREATED: &str = "2024-01-01T00:00:00Z";

/// A content-addressed blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// `sha256:<hex>` of `bytes`.
    pub digest: String,
    /// The content.
    pub bytes: Vec<u8>,
}

impl Blob {
    /// A blob of `bytes`, with its digest computed.
    pub fn new(bytes: Vec<u8>) -> Blob {
        Blob {
            digest: sha256(&bytes),
            bytes,
        }
    }

    /// The hex part of the digest: the blob's file name in `blobs/sha256` or a `dir:` copy.
    pub fn hex(&self) -> &str {
        self.digest.strip_prefix("sha256:").expect("sha256 digest")
    }

    /// An OCI descriptor of this blob.
    pub fn descriptor(&self, media_type: &str) -> Value {
        json!({ "mediaType": media_type, "digest": self.digest, "size": self.bytes.len() })
    }
}

/// A platform an image is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    /// GOARCH-style architecture (`amd64`, `arm64`).
    pub architecture: &'static str,
    /// GOOS-style operating system.
    pub os: &'static str,
    /// CPU variant, if any.
    pub variant: Option<&'static str>,
}

/// linux/amd64.
pub const LINUX_AMD64: Platform = Platform {
    architecture: "amd64",
    os: "linux",
    variant: None,
};
/// linux/arm64/v8.
pub const LINUX_ARM64: Platform = Platform {
    architecture: "arm64",
    os: "linux",
    variant: Some("v8"),
};

impl Platform {
    /// The platform as an OCI `platform` object.
    pub fn to_json(self) -> Value {
        let mut p = json!({ "architecture": self.architecture, "os": self.os });
        if let Some(v) = self.variant {
            p["variant"] = json!(v);
        }
        p
    }
}

/// An image written into a layout.
#[derive(Debug, Clone)]
pub struct Image {
    /// The image's name, also the value of its [`LABEL`].
    pub name: String,
    /// What it runs on.
    pub platform: Platform,
    /// The OCI image manifest.
    pub manifest: Blob,
    /// The image config.
    pub config: Blob,
    /// The gzip-compressed layers, in order.
    pub layers: Vec<Blob>,
    /// sha256 of each uncompressed layer tar.
    pub diff_ids: Vec<String>,
}

/// An OCI image layout being built in a directory.
pub struct OciLayout {
    root: PathBuf,
    refs: Vec<Value>,
}

impl OciLayout {
    /// Creates an empty layout at `root` (created if missing).
    pub fn create(root: &Path) -> OciLayout {
        std::fs::create_dir_all(root.join("blobs/sha256")).expect("create layout blobs dir");
        let marker =
            serde_json::to_vec(&json!({ "imageLayoutVersion": "1.0.0" })).expect("oci-layout JSON");
        std::fs::write(root.join("oci-layout"), marker).expect("write oci-layout");
        let layout = OciLayout {
            root: root.to_path_buf(),
            refs: Vec::new(),
        };
        layout.write_index_json();
        layout
    }

    /// The layout's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Builds an image with `layers` unique layers for `platform` and writes its blobs.
    pub fn add_image(&mut self, name: &str, platform: Platform, layers: usize) -> Image {
        let mut compressed = Vec::with_capacity(layers);
        let mut diff_ids = Vec::with_capacity(layers);
        for i in 0..layers {
            let tar = layer_tar(name, i);
            diff_ids.push(sha256(&tar));
            compressed.push(Blob::new(gzip(&tar)));
        }
        let history: Vec<Value> = (0..layers)
            .map(|i| {
                json!({
                    "created": CREATED,
                    "created_by": format!("wharf interop test: layer {i} of {name}"),
                    "comment": "built by tests/common/oci_layout.rs",
                })
            })
            .collect();
        let mut config = json!({
            "created": CREATED,
            "architecture": platform.architecture,
            "os": platform.os,
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["/bin/sh"],
                "Labels": { LABEL: name },
            },
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
            "history": history,
        });
        if let Some(v) = platform.variant {
            config["variant"] = json!(v);
        }
        let config = Blob::new(serde_json::to_vec(&config).expect("config JSON"));
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.descriptor(OCI_CONFIG),
            "layers": compressed.iter().map(|l| l.descriptor(OCI_LAYER_GZIP)).collect::<Vec<_>>(),
        });
        let manifest = Blob::new(serde_json::to_vec(&manifest).expect("manifest JSON"));
        for blob in compressed.iter().chain([&config, &manifest]) {
            self.write_blob(blob);
        }
        Image {
            name: name.to_string(),
            platform,
            manifest,
            config,
            layers: compressed,
            diff_ids,
        }
    }

    /// Writes an OCI image index over `images`, each with its platform, and returns it.
    pub fn add_index(&mut self, images: &[&Image]) -> Blob {
        let manifests: Vec<Value> = images
            .iter()
            .map(|image| {
                let mut d = image.manifest.descriptor(OCI_MANIFEST);
                d["platform"] = image.platform.to_json();
                d
            })
            .collect();
        let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
        let index = Blob::new(serde_json::to_vec(&index).expect("index JSON"));
        self.write_blob(&index);
        index
    }

    /// Tags `blob` (a manifest or index of `media_type`) as `tag` in `index.json`.
    pub fn tag(&mut self, tag: &str, media_type: &str, blob: &Blob) {
        let mut d = blob.descriptor(media_type);
        d["annotations"] = json!({ REF_NAME: tag });
        self.refs.push(d);
        self.write_index_json();
    }

    fn write_blob(&self, blob: &Blob) {
        std::fs::write(self.root.join("blobs/sha256").join(blob.hex()), &blob.bytes)
            .expect("write blob");
    }

    fn write_index_json(&self) {
        let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.refs });
        let bytes = serde_json::to_vec(&index).expect("index.json JSON");
        std::fs::write(self.root.join("index.json"), bytes).expect("write index.json");
    }
}

/// A layout at `root` holding one linux/amd64 image with `layers` layers, tagged `tag`.
pub fn single_image(root: &Path, name: &str, tag: &str, layers: usize) -> Image {
    let mut layout = OciLayout::create(root);
    let image = layout.add_image(name, LINUX_AMD64, layers);
    layout.tag(tag, OCI_MANIFEST, &image.manifest);
    image
}

/// Every blob of the layout at `root`, keyed by digest. Panics if a file's content does not match
/// its name, so a layout read back is known to be well-formed.
pub fn blobs(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let dir = root.join("blobs/sha256");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let entry = entry.expect("directory entry");
        let name = entry.file_name().into_string().expect("UTF-8 blob name");
        let bytes = std::fs::read(entry.path()).expect("read blob");
        let digest = format!("sha256:{name}");
        assert_eq!(
            sha256(&bytes),
            digest,
            "blob file {} holds other content",
            entry.path().display()
        );
        out.insert(digest, bytes);
    }
    out
}

/// The media type and blob that `index.json` of the layout at `root` tags as `tag`.
pub fn resolve(root: &Path, tag: &str) -> (String, Blob) {
    let bytes = std::fs::read(root.join("index.json")).expect("read index.json");
    let index: Value = serde_json::from_slice(&bytes).expect("index.json is JSON");
    let manifests = index["manifests"].as_array().expect("index.json manifests");
    let entry = manifests
        .iter()
        .find(|d| d["annotations"][REF_NAME] == tag)
        .unwrap_or_else(|| panic!("index.json has no {tag:?}: {index}"));
    let digest = entry["digest"].as_str().expect("digest");
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    let blob =
        Blob::new(std::fs::read(root.join("blobs/sha256").join(hex)).expect("read tagged blob"));
    assert_eq!(blob.digest, digest, "tagged blob content");
    assert_eq!(
        entry["size"].as_u64(),
        Some(blob.bytes.len() as u64),
        "tagged blob size"
    );
    let media_type = entry["mediaType"].as_str().expect("mediaType").to_string();
    (media_type, blob)
}

/// `sha256:<hex>` of bytes.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Text no other call, test, process or run produces.
fn unique_text(name: &str, layer: usize) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!(
        "image {name}, layer {layer}, counter {n}, pid {}, time {nanos}\n",
        std::process::id()
    )
}

/// An uncompressed tar holding one regular file with unique content.
fn layer_tar(name: &str, layer: usize) -> Vec<u8> {
    let content = unique_text(name, layer).repeat(64);
    let mut header = tar::Header::new_ustar();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_704_067_200);
    header.set_entry_type(tar::EntryType::Regular);
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_data(
            &mut header,
            format!("wharf/{name}/layer-{layer}.txt"),
            content.as_bytes(),
        )
        .expect("append tar entry");
    builder.into_inner().expect("finish tar")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("finish gzip")
}

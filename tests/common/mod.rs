//! Test harness shared by the integration tests: a real Wharf server on `127.0.0.1:0` over a temporary
//! directory, configured through the same loader as the binary.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub mod binary;
pub mod layers;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wharf::config::{Config, RegistryEnv};
use wharf::ops::ServeOptions;

/// A running server and the directory it stores into.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`, or `https://` when TLS is configured.
    pub url: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// The storage root (`storage.filesystem.rootdirectory`).
    pub root: PathBuf,
    _dir: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// A server with deletes enabled over a fresh temporary directory.
    pub async fn start() -> TestServer {
        Self::start_env(&[("REGISTRY_STORAGE_DELETE_ENABLED", "true")]).await
    }

    /// A server over a fresh temporary directory with extra `REGISTRY_*` variables.
    pub async fn start_env(vars: &[(&str, &str)]) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        let mut server = Self::start_at(&root, vars).await;
        server._dir = Some(dir);
        server
    }

    /// A server over a fresh temporary directory with extra variables and serve options (a debug
    /// listener, no purge jitter).
    pub async fn start_with(vars: &[(&str, &str)], options: ServeOptions) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        let mut server = Self::start_at_with(&root, vars, options).await;
        server._dir = Some(dir);
        server
    }

    /// A server over an existing root directory (kept when the server stops).
    pub async fn start_at(root: &Path, vars: &[(&str, &str)]) -> TestServer {
        Self::start_at_with(root, vars, ServeOptions::default()).await
    }

    /// [`TestServer::start_at`] with serve options.
    pub async fn start_at_with(
        root: &Path,
        vars: &[(&str, &str)],
        options: ServeOptions,
    ) -> TestServer {
        // A test selecting another driver (`REGISTRY_STORAGE=s3`) gets no filesystem root.
        let mut all: Vec<(String, String)> = Vec::new();
        if !vars.iter().any(|(k, _)| *k == "REGISTRY_STORAGE") {
            all.push((
                "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY".into(),
                root.display().to_string(),
            ));
        }
        all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = Config::load(None, RegistryEnv::from_vars(all)).expect("valid test config");
        let tls = vars
            .iter()
            .any(|(k, _)| *k == "REGISTRY_HTTP_TLS_CERTIFICATE");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(wharf::server::serve_with(
            listener,
            config,
            options,
            async move {
                let _ = stopped.await;
            },
        ));
        TestServer {
            url: format!("{}://{addr}", if tls { "https" } else { "http" }),
            addr,
            root: root.to_path_buf(),
            _dir: None,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A handle on a server started elsewhere (to share with spawned tasks); stopping it does nothing.
    pub fn attach(url: &str, root: &Path) -> TestServer {
        TestServer {
            url: url.to_string(),
            addr: url
                .trim_start_matches("http://")
                .parse()
                .expect("url of a test server"),
            root: root.to_path_buf(),
            _dir: None,
            stop: None,
            task: None,
        }
    }

    /// `host:port`, as registry clients want it.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Stops the server and waits until it has shut down.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server result");
        }
    }

    /// Stops the server but keeps its temporary directory alive, returning it, for restart tests.
    pub async fn stop_keep_dir(mut self) -> tempfile::TempDir {
        self.shutdown().await;
        self._dir.take().expect("server owns its directory")
    }
}

impl TestServer {
    /// [`TestServer::start_env`] with the debug server on a listener of its own; returns the server
    /// and the debug server's base URL.
    pub async fn start_with_debug(vars: &[(&str, &str)]) -> (TestServer, String) {
        let (listener, debug) = debug_listener().await;
        let options = ServeOptions {
            debug_listener: Some(listener),
            ..ServeOptions::default()
        };
        (Self::start_with(vars, options).await, debug)
    }
}

/// A listener on `127.0.0.1:0` for the debug server, and its base URL.
pub async fn debug_listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind debug");
    let url = format!("http://{}", listener.local_addr().expect("debug addr"));
    (listener, url)
}

/// A command for `name`, a tool `./scripts/test` installs; fails the test naming the tool when it is
/// not there.
pub fn installed_tool(name: &str) -> std::process::Command {
    let found = std::process::Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{name} not found: run ./scripts/test (it installs it)"
    );
    std::process::Command::new(name)
}

/// sha256 digest string of bytes.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// An HTTP client for raw API calls.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// Sets the modification time of `path` to `hours` ago (a tag's push time, a blob's age).
pub fn age(path: &std::path::Path, hours: u32) {
    let ok = std::process::Command::new("touch")
        .arg("-d")
        .arg(format!("{hours} hours ago"))
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "touch {}", path.display());
}

/// The tags of a trash listing (`wharf trash list --json`, `GET /v2/_wharf/trash`), in its order.
pub fn trash_tags(trash: &serde_json::Value) -> Vec<&str> {
    trash
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["tag"].as_str().unwrap())
        .collect()
}

/// The Prometheus text of the debug server at `debug`.
pub async fn metrics_text(debug: &str) -> String {
    http()
        .get(format!("{debug}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The OCI error code of an error response body.
pub async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.expect("OCI error body is JSON");
    body["errors"][0]["code"]
        .as_str()
        .expect("errors[0].code")
        .to_string()
}

/// Uploads `bytes` to `repo` in one `POST ?digest=` and returns the digest.
pub async fn push_blob(server: &TestServer, repo: &str, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let r = http()
        .post(format!(
            "{}/v2/{repo}/blobs/uploads/?digest={digest}",
            server.url
        ))
        .body(bytes.to_vec())
        .send()
        .await
        .expect("blob upload");
    assert_eq!(r.status(), 201, "blob push to {repo}");
    digest
}

/// An OCI image manifest over a config and layers already pushed, as JSON bytes.
pub fn image_manifest(config: &[u8], layers: &[&[u8]]) -> Vec<u8> {
    let layer_descs: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| {
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": sha256(l),
                "size": l.len(),
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256(config),
            "size": config.len(),
        },
        "layers": layer_descs,
    }))
    .expect("manifest JSON")
}

/// Pushes a small image (config + one layer, both unique to `seed`) under `reference`; returns the
/// manifest bytes and digest.
pub async fn push_image(
    server: &TestServer,
    repo: &str,
    reference: &str,
    seed: &str,
) -> (Vec<u8>, String) {
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {"Labels": {"seed": seed}},
        "rootfs": {"type": "layers", "diff_ids": []},
    }))
    .expect("config JSON");
    let layer = format!("layer bytes for {seed}").into_bytes();
    push_blob(server, repo, &config).await;
    push_blob(server, repo, &layer).await;
    let manifest = image_manifest(&config, &[&layer]);
    let r = put_manifest(
        server,
        repo,
        reference,
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    )
    .await;
    assert_eq!(r.status(), 201, "manifest push {repo}:{reference}");
    let digest = sha256(&manifest);
    (manifest, digest)
}

/// `PUT /v2/<repo>/manifests/<reference>` with a content type.
pub async fn put_manifest(
    server: &TestServer,
    repo: &str,
    reference: &str,
    media_type: &str,
    body: &[u8],
) -> reqwest::Response {
    http()
        .put(format!("{}/v2/{repo}/manifests/{reference}", server.url))
        .header("content-type", media_type)
        .body(body.to_vec())
        .send()
        .await
        .expect("manifest PUT")
}

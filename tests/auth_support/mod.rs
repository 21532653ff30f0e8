//! Helpers for the authentication tests: htpasswd files, servers started with `REGISTRY_AUTH_*`
//! variables, and raw API calls with or without Basic credentials.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{self, sha256, TestServer};

/// The realm every test server announces.
pub const REALM: &str = "Wharf Test";

/// An htpasswd entry for `user`/`password`, at the lowest cost so tests stay fast.
pub fn entry(user: &str, password: &str) -> String {
    wharf::auth::htpasswd::entry(user, password, 4).expect("htpasswd entry")
}

/// Writes an htpasswd file of `users` (user, password) at `path`.
pub fn write_users(path: &Path, users: &[(&str, &str)]) {
    let text: String = users.iter().map(|(u, p)| entry(u, p) + "\n").collect();
    std::fs::write(path, text).expect("write htpasswd");
}

/// A temporary directory holding `htpasswd` with `users`; returns the directory and the file.
pub fn users_dir(users: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("htpasswd");
    write_users(&path, users);
    (dir, path)
}

/// A server with htpasswd authentication from `path`, plus `extra` variables.
pub async fn start(path: &Path, extra: &[(&str, &str)]) -> TestServer {
    let path = path.display().to_string();
    let mut vars = vec![
        ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
        ("REGISTRY_AUTH", "htpasswd"),
        ("REGISTRY_AUTH_HTPASSWD_PATH", path.as_str()),
        ("REGISTRY_AUTH_HTPASSWD_REALM", REALM),
    ];
    vars.extend_from_slice(extra);
    TestServer::start_env(&vars).await
}

/// A request to `server` at `path`, with Basic credentials when `creds` is given.
pub fn request(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    creds: Option<(&str, &str)>,
) -> reqwest::RequestBuilder {
    let r = common::http().request(method, format!("{}{path}", server.url));
    match creds {
        Some((user, password)) => r.basic_auth(user, Some(password)),
        None => r,
    }
}

/// `GET path` and its status.
pub async fn get_status(server: &TestServer, path: &str, creds: Option<(&str, &str)>) -> u16 {
    request(server, reqwest::Method::GET, path, creds)
        .send()
        .await
        .expect("GET")
        .status()
        .as_u16()
}

/// Pushes a one-layer image to `repo:tag` as `creds`; returns the status of the first refused
/// step, or of the manifest `PUT` (201) when every step passed.
pub async fn push_image(
    server: &TestServer,
    repo: &str,
    tag: &str,
    creds: Option<(&str, &str)>,
) -> u16 {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{repo}:{tag}"}}"#);
    let layer = format!("layer of {repo}:{tag}");
    for blob in [config.as_bytes(), layer.as_bytes()] {
        let r = request(
            server,
            reqwest::Method::POST,
            &format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(blob)),
            creds,
        )
        .body(blob.to_vec())
        .send()
        .await
        .expect("blob POST");
        if r.status() != 201 {
            return r.status().as_u16();
        }
    }
    let manifest = common::image_manifest(config.as_bytes(), &[layer.as_bytes()]);
    request(
        server,
        reqwest::Method::PUT,
        &format!("/v2/{repo}/manifests/{tag}"),
        creds,
    )
    .header("content-type", "application/vnd.oci.image.manifest.v1+json")
    .body(manifest)
    .send()
    .await
    .expect("manifest PUT")
    .status()
    .as_u16()
}

/// Polls `check` every 100 ms until it holds or `within` passes; returns whether it held.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

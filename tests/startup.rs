//! What `wharf serve` does before it serves, through the real binary: `:PORT` listens on IPv6 and
//! IPv4; started as root with `WHARF_USER` (as the image starts), it hands a root-owned storage tree
//! (registry:2's volume) and htpasswd file to that user and runs as it; storage it cannot write stops
//! it at start with exit 2 and the fix; storage that stops being writable later fails the health
//! check while pulls are still served.
//!
//! The ownership tests need root, as `./scripts/test` runs in CI.

mod common;

use common::binary::{command, free_port, serve};

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::TestServer;

/// The unprivileged user the tests hand storage to (`nobody`).
const NOBODY: u32 = 65534;

fn require_root() {
    assert!(
        is_root(),
        "this test changes file owners: run it as root (./scripts/test does in CI)"
    );
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// A temporary directory others may traverse (a `TempDir` is 0700), for a server that is not root.
fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Every entry under `root` (and `root`), with its owner.
fn owners(root: &Path) -> Vec<(std::path::PathBuf, u32)> {
    let mut out = vec![(
        root.to_path_buf(),
        std::fs::symlink_metadata(root).unwrap().uid(),
    )];
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                dirs.push(path.clone());
            }
            out.push((path, meta.uid()));
        }
    }
    out
}

fn chown_tree(root: &Path, uid: u32) {
    for (path, _) in owners(root) {
        std::os::unix::fs::lchown(&path, Some(uid), Some(uid)).unwrap();
    }
}

/// `:PORT` (an empty host, as in the image's config) accepts clients over IPv6 and IPv4.
#[tokio::test(flavor = "multi_thread")]
async fn empty_host_listens_on_ipv6_and_ipv4() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let served = serve(command(dir.path(), port, &[]), port).await;
    for url in [
        format!("http://127.0.0.1:{port}/v2/"),
        format!("http://[::1]:{port}/v2/"),
    ] {
        let r = common::http().get(&url).send().await.expect(&url);
        assert_eq!(r.status(), 200, "{url}");
    }
    drop(served);
}

/// Storage registry:2 wrote as root, and its htpasswd file, are handed to `WHARF_USER` at start; the
/// server then runs as that user only, serves the old image and accepts a new push.
#[tokio::test(flavor = "multi_thread")]
async fn root_owned_storage_is_handed_over() {
    require_root();
    let dir = open_tempdir();
    let (root, auth) = (dir.path().join("registry"), dir.path().join("auth"));
    let old = TestServer::start_at(&root, &[]).await;
    let (old_manifest, _) = common::push_image(&old, "old/app", "1", "before").await;
    old.stop().await;
    std::fs::create_dir(&auth).unwrap();
    let htpasswd = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["htpasswd", "-Bbc"])
        .arg(auth.join("htpasswd"))
        .args(["alice", "alice-password"])
        .output()
        .unwrap();
    assert!(htpasswd.status.success());
    std::fs::set_permissions(
        auth.join("htpasswd"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    assert!(owners(&root).iter().all(|(_, uid)| *uid == 0));

    let port = free_port();
    let user = format!("{NOBODY}:{NOBODY}");
    let auth_path = auth.join("htpasswd").display().to_string();
    let env = [
        ("WHARF_USER", user.as_str()),
        ("REGISTRY_AUTH", "htpasswd"),
        ("REGISTRY_AUTH_HTPASSWD_REALM", "test"),
        ("REGISTRY_AUTH_HTPASSWD_PATH", auth_path.as_str()),
        ("REGISTRY_AUTH_HTPASSWD_ANONYMOUSREAD", "true"),
    ];
    let served = serve(command(&root, port, &env), port).await;
    assert_eq!(served.uids(), [NOBODY; 4], "runs as the service user only");
    let wrong: Vec<_> = owners(&root)
        .into_iter()
        .filter(|(_, uid)| *uid != NOBODY)
        .collect();
    assert!(wrong.is_empty(), "not handed over: {wrong:?}");
    assert_eq!(
        std::fs::metadata(auth.join("htpasswd")).unwrap().uid(),
        NOBODY
    );

    let server = served.handle(&root);
    let pulled = common::http()
        .get(format!("{}/v2/old/app/manifests/1", server.url))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    assert_eq!(pulled.status(), 200);
    assert_eq!(pulled.bytes().await.unwrap(), old_manifest);
    let upload = common::http()
        .post(format!(
            "{}/v2/new/app/blobs/uploads/?digest={}",
            server.url,
            common::sha256(b"new layer")
        ))
        .basic_auth("alice", Some("alice-password"))
        .body(&b"new layer"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 201, "a push after the hand-over");
    let log = served.stop();
    assert!(
        log.contains(&format!("handed {} to uid {NOBODY}", root.display())),
        "{log}"
    );
}

/// Storage the process cannot write stops start-up with exit 2 and one line naming the directory,
/// the user id and the fix.
#[test]
fn unwritable_storage_stops_start_up() {
    require_root();
    let dir = open_tempdir();
    let root = dir.path().join("registry");
    std::fs::create_dir(&root).unwrap();
    let port = free_port();
    let out = command(&root, port, &[])
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("wharf: "))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    for part in [
        root.display().to_string(),
        format!("uid {NOBODY}"),
        "chown".into(),
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY".into(),
    ] {
        assert!(line.contains(&part), "{part:?} missing from {line}");
    }
}

/// When the storage stops being writable, `GET /` and `wharf healthcheck` report it while pulls are
/// still served; when it is writable again, the check recovers.
#[tokio::test(flavor = "multi_thread")]
async fn unwritable_later_fails_the_health_check_not_pulls() {
    require_root();
    let dir = open_tempdir();
    let root = dir.path().join("registry");
    let port = free_port();
    let user = format!("{NOBODY}:{NOBODY}");
    let env = [
        ("WHARF_USER", user.as_str()),
        ("REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL", "100ms"),
        ("REGISTRY_HEALTH_STORAGEDRIVER_THRESHOLD", "1"),
    ];
    let served = serve(command(&root, port, &env), port).await;
    let server = served.handle(&root);
    let (manifest, _) = common::push_image(&server, "app", "1", "kept").await;

    chown_tree(&root, 0);
    let health = |expect: u16| {
        let url = served.url();
        async move {
            let start = Instant::now();
            loop {
                let r = common::http().get(format!("{url}/")).send().await.unwrap();
                if r.status() == expect {
                    return r.text().await.unwrap();
                }
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "GET / never answered {expect}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let body = health(503).await;
    assert!(body.contains("cannot be written"), "{body}");
    let probe = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["healthcheck", "--url", &format!("{}/", served.url())])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&probe.stdout);
    assert_eq!(probe.status.code(), Some(1), "{said}");
    assert!(said.contains("cannot be written"), "{said}");
    let pulled = common::http()
        .get(format!("{}/v2/app/manifests/1", server.url))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    assert_eq!(pulled.status(), 200, "pulls are served");
    assert_eq!(pulled.bytes().await.unwrap(), manifest);

    chown_tree(&root, NOBODY);
    health(200).await;
    drop(served);
}

/// A port below 1024 without the privilege to bind it stops start-up with one line saying what to do.
#[test]
fn privileged_port_without_privilege_says_what_to_do() {
    require_root();
    let dir = open_tempdir();
    let mut cmd = command(dir.path(), 0, &[]);
    cmd.env("REGISTRY_HTTP_ADDR", "127.0.0.1:1")
        .uid(NOBODY)
        .gid(NOBODY);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("below 1024").count(), 1, "{stderr}");
    assert!(stderr.contains("REGISTRY_HTTP_ADDR"), "{stderr}");
}

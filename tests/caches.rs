//! The registry's caches over storage: tag listings and the directories of the catalog walk (reused
//! while a directory is unchanged) and manifest content (by digest). These tests prove the caches are
//! used, and that tags, repositories and manifests added or deleted through the API or behind the
//! server's back are seen.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::{http, push_image, sha256, TestServer};

fn tags_dir(server: &TestServer, repo: &str) -> PathBuf {
    server
        .root
        .join("docker/registry/v2/repositories")
        .join(repo)
        .join("_manifests/tags")
}

/// Sets a directory's mtime, as time passing would (a listing is cached only once it has settled).
fn set_mtime(dir: &Path, time: SystemTime) {
    std::fs::File::open(dir)
        .and_then(|d| d.set_modified(time))
        .expect("set the tags directory's mtime");
}

fn ago(secs: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(secs)
}

async fn tags(server: &TestServer, repo: &str, query: &str) -> Vec<String> {
    let r = http()
        .get(format!("{}/v2/{repo}/tags/list{query}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    body["tags"]
        .as_array()
        .expect("tags array")
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

/// Tags added and deleted through the API, and removed on disk by another process, show in the next
/// listing, cached or not; pages of a cached listing are right.
#[tokio::test]
async fn cached_listing_sees_every_change() {
    let server = TestServer::start_env(&[("REGISTRY_STORAGE_DELETE_ENABLED", "true")]).await;
    for t in ["t0", "t1", "t2"] {
        push_image(&server, "r", t, "seed").await;
    }
    let dir = tags_dir(&server, "r");
    set_mtime(&dir, ago(60));
    assert_eq!(tags(&server, "r", "").await, ["t0", "t1", "t2"]);
    assert_eq!(tags(&server, "r", "?n=2&last=t0").await, ["t1", "t2"]);

    push_image(&server, "r", "t3", "seed").await;
    assert_eq!(tags(&server, "r", "").await, ["t0", "t1", "t2", "t3"]);

    set_mtime(&dir, ago(50));
    assert_eq!(tags(&server, "r", "?n=2").await, ["t0", "t1"]);
    std::fs::remove_dir_all(dir.join("t1")).unwrap();
    set_mtime(&dir, ago(40));
    assert_eq!(tags(&server, "r", "?n=2").await, ["t0", "t2"]);

    let r = http()
        .delete(format!("{}/v2/r/manifests/t2", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(tags(&server, "r", "").await, ["t0", "t3"]);
    server.stop().await;
}

/// A listing whose directory keeps its inode and settled mtime is served from the cache: a rename made
/// behind the server's back, with the mtime put back, is not seen until the mtime moves.
#[tokio::test]
async fn unchanged_directory_is_served_from_the_cache() {
    let server = TestServer::start().await;
    for t in ["a", "b"] {
        push_image(&server, "r", t, "seed").await;
    }
    let dir = tags_dir(&server, "r");
    let settled = ago(60);
    set_mtime(&dir, settled);
    assert_eq!(tags(&server, "r", "").await, ["a", "b"]);

    std::fs::rename(dir.join("b"), dir.join("c")).unwrap();
    set_mtime(&dir, settled);
    assert_eq!(tags(&server, "r", "").await, ["a", "b"], "from the cache");

    set_mtime(&dir, settled + Duration::from_nanos(1));
    assert_eq!(tags(&server, "r", "").await, ["a", "c"], "listed afresh");
    server.stop().await;
}

fn repositories_dir(server: &TestServer) -> PathBuf {
    server.root.join("docker/registry/v2/repositories")
}

/// Every page of `_catalog` with `n`, following `Link`.
async fn catalog(server: &TestServer, n: usize) -> Vec<String> {
    let mut names = Vec::new();
    let mut url = format!("{}/v2/_catalog?n={n}", server.url);
    loop {
        let r = http().get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let next = r.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            format!("{}{}", server.url, &l[1..l.find('>').unwrap()])
        });
        let body: serde_json::Value = r.json().await.unwrap();
        names.extend(
            body["repositories"]
                .as_array()
                .expect("repositories array")
                .iter()
                .map(|t| t.as_str().unwrap().to_string()),
        );
        match next {
            Some(next) => url = next,
            None => return names,
        }
    }
}

/// Repositories pushed, nested under another, or removed on disk by another process show in the next
/// catalog, every page of it, while the walk's directories are cached.
#[tokio::test]
async fn cached_catalog_sees_every_change() {
    let server = TestServer::start().await;
    for repo in ["a/x", "a/y", "b"] {
        push_image(&server, repo, "latest", "seed").await;
    }
    let root = repositories_dir(&server);
    for dir in [root.join("a"), root.clone()] {
        set_mtime(&dir, ago(60));
    }
    assert_eq!(catalog(&server, 1).await, ["a/x", "a/y", "b"]);

    push_image(&server, "a/w", "latest", "seed").await;
    push_image(&server, "a/x/deeper", "latest", "seed").await;
    assert_eq!(
        catalog(&server, 2).await,
        ["a/w", "a/x", "a/x/deeper", "a/y", "b"]
    );

    for dir in [root.join("a"), root.join("a/x"), root.clone()] {
        set_mtime(&dir, ago(50));
    }
    assert_eq!(
        catalog(&server, 2).await,
        ["a/w", "a/x", "a/x/deeper", "a/y", "b"]
    );
    std::fs::remove_dir_all(root.join("a/y")).unwrap();
    std::fs::remove_dir_all(root.join("b")).unwrap();
    assert_eq!(catalog(&server, 2).await, ["a/w", "a/x", "a/x/deeper"]);
    server.stop().await;
}

/// The catalog walk reuses a directory's listing while it keeps its inode and settled mtime: a
/// repository renamed behind the server's back, with the mtime put back, keeps its old name until the
/// mtime moves.
#[tokio::test]
async fn unchanged_catalog_directory_is_served_from_the_cache() {
    let server = TestServer::start().await;
    for repo in ["p/one", "p/two"] {
        push_image(&server, repo, "latest", "seed").await;
    }
    let dir = repositories_dir(&server).join("p");
    let settled = ago(60);
    set_mtime(&dir, settled);
    assert_eq!(catalog(&server, 100).await, ["p/one", "p/two"]);

    std::fs::rename(dir.join("two"), dir.join("three")).unwrap();
    set_mtime(&dir, settled);
    let listed = catalog(&server, 100).await;
    assert_eq!(
        listed,
        ["p/one"],
        "the cached name, which no longer has _manifests, is not a repository"
    );

    set_mtime(&dir, settled + Duration::from_nanos(1));
    assert_eq!(
        catalog(&server, 100).await,
        ["p/one", "p/three"],
        "listed afresh"
    );
    server.stop().await;
}

async fn get_manifest(server: &TestServer, reference: &str) -> reqwest::Response {
    http()
        .get(format!("{}/v2/r/manifests/{reference}", server.url))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap()
}

async fn manifest_status(server: &TestServer, reference: &str) -> u16 {
    get_manifest(server, reference).await.status().as_u16()
}

async fn manifest_body(server: &TestServer, reference: &str) -> Vec<u8> {
    let r = get_manifest(server, reference).await;
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

/// A pulled (so cached) manifest deleted through the API, or unlinked on disk by another process, is
/// unknown at once; pushed again, it is served again with the same bytes.
#[tokio::test]
async fn cached_manifest_follows_deletes() {
    let server = TestServer::start_env(&[("REGISTRY_STORAGE_DELETE_ENABLED", "true")]).await;
    let (manifest, digest) = push_image(&server, "r", "v1", "seed").await;
    assert_eq!(manifest_status(&server, "v1").await, 200);
    let r = http()
        .delete(format!("{}/v2/r/manifests/{digest}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(manifest_status(&server, &digest).await, 404);
    assert_eq!(manifest_status(&server, "v1").await, 404);

    push_image(&server, "r", "v1", "seed").await;
    let body = manifest_body(&server, "v1").await;
    assert_eq!(body, manifest);
    assert_eq!(sha256(&body), digest);

    let revision = server
        .root
        .join("docker/registry/v2/repositories/r/_manifests/revisions/sha256")
        .join(digest.trim_start_matches("sha256:"));
    std::fs::remove_dir_all(revision).unwrap();
    assert_eq!(manifest_status(&server, &digest).await, 404);
    assert_eq!(manifest_status(&server, "v1").await, 404);
    server.stop().await;
}

/// After the first pull a manifest's content comes from memory, not its file: replacing the file's
/// bytes on disk changes nothing served, and content is addressed by digest, so it cannot go stale.
#[tokio::test]
async fn pulled_manifest_is_served_from_the_cache() {
    let server = TestServer::start().await;
    let (manifest, digest) = push_image(&server, "r", "v1", "seed").await;
    assert_eq!(manifest_status(&server, "v1").await, 200);
    let hex = digest.trim_start_matches("sha256:");
    let data = server
        .root
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    std::fs::write(&data, b"{}").unwrap();
    let body = manifest_body(&server, &digest).await;
    assert_eq!(body, manifest);
    server.stop().await;
}

//! Tag listings come from a cache while the tags directory is unchanged; these tests prove the cache is
//! used, and that tags added or deleted through the API or behind the server's back are seen.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::{http, push_image, TestServer};

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

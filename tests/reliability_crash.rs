//! Crash safety of the real `wharf serve` binary on a filesystem root: concurrent pushes from
//! `oci-client`, SIGKILL at a random point (after a random number of acknowledged pushes and a random
//! delay), restart over the same root; every image whose manifest PUT was acknowledged is then served
//! byte for byte (manifest by tag and by digest, every blob, digests verified), and the on-disk layout
//! is sane (every `data` file matches its digest path, every link names a digest whose `data`
//! exists). Four cycles by default; `WHARF_RELIABILITY_LONG=1` runs 50 (or `WHARF_CRASH_CYCLES=<n>`).
mod common;
#[path = "common/wharf_process.rs"]
mod wharf_process;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::layers::{noise, tar_gz_layer};
use common::sha256;
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use wharf_process::WharfProcess;

/// Concurrent pushers per cycle.
const PUSHERS: usize = 8;
const V2: &str = "docker/registry/v2";

/// An image whose manifest PUT was acknowledged.
#[derive(Clone)]
struct Acked {
    repo: String,
    tag: String,
    manifest_digest: String,
    blobs: Vec<Vec<u8>>,
}

/// A small xorshift generator; the seed is printed so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn cycles() -> usize {
    if let Ok(n) = std::env::var("WHARF_CRASH_CYCLES") {
        return n.parse().expect("WHARF_CRASH_CYCLES is a number");
    }
    if std::env::var("WHARF_RELIABILITY_LONG").is_ok_and(|v| v == "1") {
        50
    } else {
        4
    }
}

/// Pushes images to `crash/p<pusher>` until the task is aborted or a push fails; records each
/// acknowledged one.
async fn pusher(
    host: String,
    cycle: usize,
    pusher: usize,
    seed: u64,
    acked: Arc<Mutex<Vec<Acked>>>,
) {
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(vec![host.clone()]),
        ..Default::default()
    });
    let repo = format!("crash/p{pusher}");
    for n in 0.. {
        let seed = seed.wrapping_add(n * 1_000);
        // Layers from 1 KiB to 750 KiB, so that kills land in uploads as well as between them.
        let (l1, diff1) = tar_gz_layer(seed, 1024 + (seed % 768_000) as usize);
        let l2 = noise(seed + 1, 512 + (seed % 70_000) as usize);
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Labels": {"cycle": cycle.to_string(), "seed": seed.to_string()}},
            "rootfs": {"type": "layers", "diff_ids": [diff1]},
        }))
        .expect("config JSON");
        let layers = vec![
            ImageLayer::oci_v1_gzip(l1.clone(), None),
            ImageLayer::oci_v1(l2.clone(), None),
        ];
        let tag = format!("c{cycle}-{n}");
        let reference = Reference::with_tag(host.clone(), repo.clone(), tag.clone());
        let pushed = client
            .push(
                &reference,
                &layers,
                Config::oci_v1(config.clone(), None),
                &RegistryAuth::Anonymous,
                None,
            )
            .await;
        let Ok(pushed) = pushed else {
            return;
        };
        let (_, digest) = pushed
            .manifest_url
            .rsplit_once("/manifests/")
            .expect("manifest URL");
        acked.lock().expect("acked").push(Acked {
            repo: repo.clone(),
            tag,
            manifest_digest: digest.to_string(),
            blobs: vec![config, l1, l2],
        });
    }
}

/// GETs `path` and returns the status and body.
async fn get(client: &reqwest::Client, url: &str, path: &str) -> (u16, Vec<u8>) {
    let r = client
        .get(format!("{url}{path}"))
        .header(
            "accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = r.status().as_u16();
    (status, r.bytes().await.expect("body").to_vec())
}

/// Every acknowledged image is served byte for byte with verified digests.
async fn verify_acked(server: &WharfProcess, acked: &[Acked]) {
    let client = reqwest::Client::new();
    for image in acked {
        let by_tag = get(
            &client,
            &server.url,
            &format!("/v2/{}/manifests/{}", image.repo, image.tag),
        )
        .await;
        assert_eq!(by_tag.0, 200, "{}:{} lost", image.repo, image.tag);
        assert_eq!(
            sha256(&by_tag.1),
            image.manifest_digest,
            "{}:{}",
            image.repo,
            image.tag
        );
        let by_digest = get(
            &client,
            &server.url,
            &format!("/v2/{}/manifests/{}", image.repo, image.manifest_digest),
        )
        .await;
        assert_eq!(by_digest, (200, by_tag.1.clone()));
        let manifest: serde_json::Value = serde_json::from_slice(&by_tag.1).expect("manifest JSON");
        let mut referenced = vec![manifest["config"]["digest"]
            .as_str()
            .expect("config digest")];
        for layer in manifest["layers"].as_array().expect("layers") {
            referenced.push(layer["digest"].as_str().expect("layer digest"));
        }
        assert_eq!(referenced.len(), image.blobs.len());
        for (digest, want) in referenced.iter().zip(&image.blobs) {
            assert_eq!(*digest, sha256(want), "pushed blob order");
            let (status, body) = get(
                &client,
                &server.url,
                &format!("/v2/{}/blobs/{digest}", image.repo),
            )
            .await;
            assert_eq!(status, 200, "{}: blob {digest} lost", image.repo);
            assert_eq!(sha256(&body), *digest);
            assert!(body == *want, "{}: blob {digest} differs", image.repo);
        }
    }
}

/// Every file under `dir`.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Checks the on-disk layout; returns the number of blob `data` files and links checked.
fn verify_layout(root: &Path) -> (usize, usize) {
    let blobs = root.join(V2).join("blobs/sha256");
    let mut data_files = 0;
    for path in files_under(&blobs) {
        if path.file_name().is_some_and(|n| n == "data") {
            let hex = path
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap();
            let prefix = path
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap();
            assert_eq!(&hex[..2], prefix, "{}", path.display());
            let content = std::fs::read(&path).expect("read data");
            assert_eq!(
                sha256(&content),
                format!("sha256:{hex}"),
                "{} does not match its digest",
                path.display()
            );
            data_files += 1;
        }
    }
    let mut links = 0;
    for path in files_under(&root.join(V2).join("repositories")) {
        if path.file_name().is_some_and(|n| n == "link") {
            let target = std::fs::read_to_string(&path).expect("read link");
            let hex = target
                .strip_prefix("sha256:")
                .unwrap_or_else(|| panic!("{} holds {target:?}", path.display()));
            assert!(
                hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}",
                path.display()
            );
            let data = blobs.join(&hex[..2]).join(hex).join("data");
            assert!(
                data.is_file(),
                "{} names {target} whose data is missing",
                path.display()
            );
            links += 1;
        }
    }
    (data_files, links)
}

/// SIGKILL at random points during concurrent pushes loses no acknowledged image: after each restart
/// over the same root the images acknowledged in that cycle are served byte for byte and the layout is
/// sane; after the last, every image acknowledged in any cycle is, and the server accepts a new push.
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_pushes_loses_no_acknowledged_image() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut all_acked: Vec<Acked> = Vec::new();
    let cycles = cycles();
    let mut interrupted = 0;
    for cycle in 0..cycles {
        let server = WharfProcess::start(dir.path(), &[]).await;
        let acked = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..PUSHERS)
            .map(|p| {
                tokio::spawn(pusher(
                    server.host.clone(),
                    cycle,
                    p,
                    rng.next(),
                    acked.clone(),
                ))
            })
            .collect();
        // The kill lands at a random point: after a random number of acknowledged pushes, plus a
        // random delay, so that it interrupts blob uploads, manifest PUTs and commits alike.
        let wanted = 1 + rng.below(2 * PUSHERS as u64) as usize;
        let deadline = Instant::now() + Duration::from_secs(300);
        while acked.lock().expect("acked").len() < wanted {
            assert!(
                Instant::now() < deadline,
                "cycle {cycle}: {wanted} pushes were not acknowledged"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.below(500))).await;
        server.kill();
        for task in &tasks {
            if !task.is_finished() {
                interrupted += 1;
            }
        }
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
        let cycle_acked = acked.lock().expect("acked").clone();
        all_acked.extend(cycle_acked.iter().cloned());

        let server = WharfProcess::start(dir.path(), &[]).await;
        verify_acked(&server, &cycle_acked).await;
        let (data_files, links) = verify_layout(dir.path());
        eprintln!(
            "cycle {cycle}: {} images acknowledged and verified ({} in all), {data_files} blob files and {links} links verified",
            cycle_acked.len(),
            all_acked.len()
        );
        server.kill();
    }
    assert!(
        !all_acked.is_empty(),
        "no push was acknowledged in {cycles} cycles"
    );
    assert!(interrupted > 0, "no kill interrupted a push");

    let server = WharfProcess::start(dir.path(), &[]).await;
    verify_acked(&server, &all_acked).await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let task = tokio::spawn(pusher(
        server.host.clone(),
        cycles,
        0,
        rng.next(),
        acked.clone(),
    ));
    while acked.lock().expect("acked").is_empty() {
        assert!(!task.is_finished(), "a push after the crashes failed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    let after = acked.lock().expect("acked").clone();
    verify_acked(&server, &after[..1]).await;
    eprintln!(
        "crash test: {cycles} cycles, {} acknowledged images verified",
        all_acked.len()
    );
}

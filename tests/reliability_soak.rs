//! A soak of the real `wharf serve` binary: 200 concurrent readers (manifest and blob GETs, each body
//! digest-verified) and 20 concurrent pushers (blob uploads and manifest PUTs over raw HTTP) for a
//! bounded time, 20 s by default, 600 s with `WHARF_RELIABILITY_LONG=1` (or `WHARF_SOAK_SECS=<n>`).
//! Every request must succeed, and the server's resident memory and open file descriptors, read from
//! `/proc`, must stay flat: RSS grows by less than 32 MiB from a sample taken after warm-up, and the fd
//! count returns to its idle baseline (plus slack) once the clients disconnect.
mod common;
#[path = "common/wharf_process.rs"]
mod wharf_process;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::layers::noise;
use common::sha256;
use wharf_process::WharfProcess;

const READERS: usize = 200;
const PUSHERS: usize = 20;
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Allowed RSS growth between the warm-up sample and the end of the load.
const RSS_GROWTH_BOUND: u64 = 32 * 1024 * 1024;
/// Allowed extra open fds once every client has disconnected.
const FD_SLACK: usize = 8;

fn soak_duration() -> Duration {
    if let Ok(secs) = std::env::var("WHARF_SOAK_SECS") {
        return Duration::from_secs(secs.parse().expect("WHARF_SOAK_SECS is a number"));
    }
    if std::env::var("WHARF_RELIABILITY_LONG").is_ok_and(|v| v == "1") {
        Duration::from_secs(600)
    } else {
        Duration::from_secs(20)
    }
}

/// An image the readers read: repository, tag, manifest bytes and blobs.
struct Image {
    repo: String,
    manifest: Vec<u8>,
    blobs: Vec<Vec<u8>>,
}

/// Request counts shared by the clients.
#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    errors: AtomicU64,
}

impl Counts {
    /// Counts one request; an `Err` is an error, reported once per kind.
    fn record(&self, outcome: Result<(), String>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Err(why) = outcome {
            if self.errors.fetch_add(1, Ordering::Relaxed) < 5 {
                eprintln!("soak error: {why}");
            }
        }
    }
}

/// Pushes one blob in a single `POST ?digest=`.
async fn push_blob(
    client: &reqwest::Client,
    url: &str,
    repo: &str,
    bytes: &[u8],
) -> Result<(), String> {
    let r = client
        .post(format!(
            "{url}/v2/{repo}/blobs/uploads/?digest={}",
            sha256(bytes)
        ))
        .body(bytes.to_vec())
        .send()
        .await
        .map_err(|e| format!("blob POST: {e}"))?;
    match r.status().as_u16() {
        201 => Ok(()),
        s => Err(format!("blob POST: {s}")),
    }
}

/// Pushes an image of a config and one layer as `repo:tag`; returns it.
async fn push_image(
    client: &reqwest::Client,
    url: &str,
    counts: &Counts,
    repo: &str,
    tag: &str,
    seed: u64,
) -> Option<Image> {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":{seed}}}"#).into_bytes();
    let layer = noise(seed, 32 * 1024 + (seed % 64_000) as usize);
    for blob in [&config, &layer] {
        let outcome = push_blob(client, url, repo, blob).await;
        let failed = outcome.is_err();
        counts.record(outcome);
        if failed {
            return None;
        }
    }
    let manifest = common::image_manifest(&config, &[&layer]);
    let outcome = async {
        let r = client
            .put(format!("{url}/v2/{repo}/manifests/{tag}"))
            .header("content-type", OCI_MANIFEST)
            .body(manifest.clone())
            .send()
            .await
            .map_err(|e| format!("manifest PUT: {e}"))?;
        match r.status().as_u16() {
            201 => Ok(()),
            s => Err(format!("manifest PUT: {s}")),
        }
    }
    .await;
    let ok = outcome.is_ok();
    counts.record(outcome);
    ok.then(|| Image {
        repo: repo.to_string(),
        manifest,
        blobs: vec![config, layer],
    })
}

/// GETs `path` and checks the body is `want`.
async fn read(client: &reqwest::Client, url: &str, path: &str, want: &[u8]) -> Result<(), String> {
    let r = client
        .get(format!("{url}{path}"))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    if r.status() != 200 {
        return Err(format!("GET {path}: {}", r.status()));
    }
    let body = r
        .bytes()
        .await
        .map_err(|e| format!("GET {path} body: {e}"))?;
    if sha256(&body) != sha256(want) {
        return Err(format!("GET {path}: wrong bytes"));
    }
    Ok(())
}

/// A reader: its own client (its own connections), reading the images round robin until stopped.
async fn reader(
    url: String,
    images: Arc<Vec<Image>>,
    start: usize,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
) {
    let client = reqwest::Client::new();
    let mut i = start;
    while !stop.load(Ordering::Relaxed) {
        let image = &images[i % images.len()];
        let digest = sha256(&image.manifest);
        counts.record(
            read(
                &client,
                &url,
                &format!("/v2/{}/manifests/{digest}", image.repo),
                &image.manifest,
            )
            .await,
        );
        let blob = &image.blobs[i % image.blobs.len()];
        counts.record(
            read(
                &client,
                &url,
                &format!("/v2/{}/blobs/{}", image.repo, sha256(blob)),
                blob,
            )
            .await,
        );
        i += 1;
    }
}

/// A pusher: pushes new images to its own repository until stopped, and reads each one back.
async fn pusher(url: String, id: usize, stop: Arc<AtomicBool>, counts: Arc<Counts>) {
    let client = reqwest::Client::new();
    let repo = format!("soak/pusher{id}");
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let seed = (id as u64) << 32 | n;
        if let Some(image) = push_image(&client, &url, &counts, &repo, &format!("t{n}"), seed).await
        {
            counts.record(
                read(
                    &client,
                    &url,
                    &format!("/v2/{repo}/manifests/t{n}"),
                    &image.manifest,
                )
                .await,
            );
        }
        n += 1;
    }
}

/// 200 readers and 20 pushers for the soak duration: no request fails, RSS stays within 32 MiB of its
/// post-warm-up sample, and open fds return to the idle baseline once clients disconnect.
#[tokio::test(flavor = "multi_thread")]
async fn readers_and_pushers_get_no_errors_with_flat_rss_and_fds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = WharfProcess::start(dir.path(), &[]).await;
    let counts = Arc::new(Counts::default());
    let setup = reqwest::Client::new();
    let mut images = Vec::new();
    for i in 0..10u64 {
        let image = push_image(
            &setup,
            &server.url,
            &counts,
            &format!("soak/base{}", i % 3),
            &format!("v{i}"),
            1_000 + i,
        )
        .await
        .expect("setup push");
        images.push(image);
    }
    drop(setup);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_fds = server.fd_count();
    let images = Arc::new(images);
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for r in 0..READERS {
        tasks.push(tokio::spawn(reader(
            server.url.clone(),
            images.clone(),
            r,
            stop.clone(),
            counts.clone(),
        )));
    }
    for p in 0..PUSHERS {
        tasks.push(tokio::spawn(pusher(
            server.url.clone(),
            p,
            stop.clone(),
            counts.clone(),
        )));
    }

    let duration = soak_duration();
    let warm_up = (duration / 4).min(Duration::from_secs(30));
    let started = Instant::now();
    tokio::time::sleep(warm_up).await;
    let warm_rss = server.rss_bytes();
    let warm_fds = server.fd_count();
    let mut peak_rss = warm_rss;
    while started.elapsed() < duration {
        tokio::time::sleep(Duration::from_secs(1)).await;
        peak_rss = peak_rss.max(server.rss_bytes());
    }
    let end_rss = server.rss_bytes();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("client task");
    }
    // The clients are dropped with their tasks: their connections close; wait for the server to see it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut end_fds = server.fd_count();
    while end_fds > idle_fds + FD_SLACK && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        end_fds = server.fd_count();
    }
    let requests = counts.requests.load(Ordering::Relaxed);
    let errors = counts.errors.load(Ordering::Relaxed);
    eprintln!(
        "soak: {:?}, {requests} requests, {errors} errors; RSS {} MiB after warm-up, {} MiB peak, {} MiB at the end; \
         fds {idle_fds} idle, {warm_fds} under load, {end_fds} after the clients left",
        duration,
        warm_rss >> 20,
        peak_rss >> 20,
        end_rss >> 20,
    );
    assert_eq!(errors, 0, "{errors} of {requests} requests failed");
    assert!(
        requests > (READERS + PUSHERS) as u64,
        "the clients made {requests} requests"
    );
    assert!(
        end_rss < warm_rss + RSS_GROWTH_BOUND,
        "RSS grew from {warm_rss} to {end_rss} bytes"
    );
    assert!(
        end_fds <= idle_fds + FD_SLACK,
        "fds: {idle_fds} idle, {end_fds} after the load"
    );
}

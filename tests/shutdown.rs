//! Graceful shutdown of the real `wharf` binary: SIGTERM in the middle of a chunked upload lets the
//! chunk being received finish, the process exits cleanly, and after a restart at the same root the
//! upload resumes and completes.
mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{http, sha256};

/// Starts `wharf serve` on a free port over `root`; returns the process and its base URL once it
/// answers. The caller waits for the process ([`wait_exit`]).
#[allow(clippy::zombie_processes)]
async fn start(root: &std::path::Path) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("serve")
        .env("REGISTRY_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", root)
        .env("REGISTRY_HTTP_DRAINTIMEOUT", "10s")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn wharf");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = http().get(format!("{url}/v2/")).send().await {
            if r.status() == 200 {
                return (child, url);
            }
        }
        assert!(Instant::now() < deadline, "wharf did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for the process to exit and returns whether it exited successfully.
async fn wait_exit(mut child: Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        assert!(
            Instant::now() < deadline,
            "wharf did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SIGTERM while a PATCH is still sending: the PATCH completes with 202, wharf exits with status 0,
/// and a restarted wharf over the same root continues the session and stores the blob intact.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_upload_drains_and_upload_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (child, url) = start(dir.path()).await;
    let first: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let second = b"the rest, sent after the restart".to_vec();

    let r = http()
        .post(format!("{url}/v2/drain/app/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let path = r.headers()["location"].to_str().unwrap().to_string();
    let path = path.trim_start_matches(&url).to_string();

    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let patch = tokio::spawn({
        let target = format!("{url}{path}");
        async move { http().patch(target).body(body).send().await }
    });
    tx.send(Ok(Bytes::copy_from_slice(&first[..100_000])))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    tx.send(Ok(Bytes::copy_from_slice(&first[100_000..])))
        .await
        .unwrap();
    drop(tx);
    let patched = patch.await.unwrap().expect("the PATCH in flight completes");
    assert_eq!(patched.status(), 202);
    assert_eq!(
        patched.headers()["range"],
        format!("0-{}", first.len() - 1).as_str()
    );
    assert!(wait_exit(child).await, "wharf exits cleanly after draining");

    let (child, url) = start(dir.path()).await;
    let status = http().get(format!("{url}{path}")).send().await.unwrap();
    assert_eq!(status.status(), 204);
    assert_eq!(
        status.headers()["range"],
        format!("0-{}", first.len() - 1).as_str()
    );
    let whole: Vec<u8> = [first.clone(), second.clone()].concat();
    let digest = sha256(&whole);
    let done = http()
        .put(format!("{url}{path}?digest={digest}"))
        .header(
            "content-range",
            format!("{}-{}", first.len(), whole.len() - 1),
        )
        .body(second)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 201);
    let got = http()
        .get(format!("{url}/v2/drain/app/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().to_vec(), whole);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(wait_exit(child).await);
}

/// A stream over a channel's receiver.
fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

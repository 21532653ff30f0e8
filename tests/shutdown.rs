//! Graceful shutdown: of the real `wharf` binary, where SIGTERM in the middle of a chunked upload lets
//! the chunk being received finish, the process exits cleanly, and after a restart at the same root
//! the upload resumes and completes; and of `serve` in process, which returns only once every
//! connection is gone: finished within the drain timeout, or closed at its deadline, in the middle of
//! a request or of a TLS handshake.
#[path = "common/certs.rs"]
mod certs;
mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{http, sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wharf::config::{Config, RegistryEnv};

/// Starts `wharf serve` on a free port over `root`; returns the process and its base URL once it
/// answers.
// The child is handed to the caller, which waits for it; clippy does not follow it there.
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

/// `serve` in process on `127.0.0.1:0` over `root` with `vars`: its address, the trigger of its
/// shutdown signal, and its task.
async fn serve_in_process(
    root: &std::path::Path,
    vars: &[(&str, &str)],
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    JoinHandle<std::io::Result<()>>,
) {
    let mut all = vec![(
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY".to_string(),
        root.display().to_string(),
    )];
    all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = Config::load(None, RegistryEnv::from_vars(all)).expect("valid test config");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(wharf::server::serve(listener, config, async move {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

/// Waits for `serve` to return, failing the test after `limit`; returns how long it took from `since`.
async fn returned(
    task: JoinHandle<std::io::Result<()>>,
    since: Instant,
    limit: Duration,
) -> Duration {
    tokio::time::timeout(limit, task)
        .await
        .expect("serve returns by the drain deadline")
        .unwrap()
        .expect("serve returns Ok");
    since.elapsed()
}

/// Whether the server has closed `stream`: a read finds the end of the stream or a reset at once,
/// rather than waiting.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // An answer the server wrote before closing: read on to the end.
            Ok(Ok(_)) => continue,
        }
    }
}

/// At the drain deadline, an upload still sending its body is cut off: `serve` holds the drain for
/// it until the deadline, not longer, and when `serve` returns the connection is closed.
#[tokio::test(flavor = "multi_thread")]
async fn the_drain_deadline_cuts_off_a_request_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, stop, task) =
        serve_in_process(dir.path(), &[("REGISTRY_HTTP_DRAINTIMEOUT", "1s")]).await;
    let started = http()
        .post(format!("http://{addr}/v2/drain/cut/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let location = started.headers()["location"].to_str().unwrap().to_string();
    let path = location
        .trim_start_matches(&format!("http://{addr}"))
        .to_string();

    // One request on the connection first, so that the server surely has it before shutdown.
    let mut upload = TcpStream::connect(addr).await.unwrap();
    let probe = format!("GET /v2/ HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    upload.write_all(probe.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"{}") {
        let mut piece = [0u8; 1024];
        let n = upload.read(&mut piece).await.unwrap();
        assert!(n > 0, "the server answers on the connection");
        answer.extend_from_slice(&piece[..n]);
    }
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: 1000000\r\n\r\n"
    );
    upload.write_all(head.as_bytes()).await.unwrap();
    upload.write_all(&[7u8; 10_000]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let since = Instant::now();
    stop.send(()).unwrap();
    let took = returned(task, since, Duration::from_secs(20)).await;
    assert!(
        took >= Duration::from_secs(1),
        "serve waited for the request in flight until the deadline, returned after {took:?}"
    );
    assert!(
        closed_by_server(&mut upload).await,
        "the cut-off connection is closed once serve has returned"
    );
}

/// A TLS connection still in its handshake when the drain deadline comes (a client that never sends
/// its hello, well within the 30 s header timeout) is closed by the time `serve` returns.
#[tokio::test(flavor = "multi_thread")]
async fn the_drain_deadline_closes_a_connection_in_its_tls_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let ca = certs::Ca::new("Test CA");
    let leaf = ca.server(dir.path(), "server");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let (addr, stop, task) = serve_in_process(
        &root,
        &[
            ("REGISTRY_HTTP_TLS_CERTIFICATE", leaf.cert.to_str().unwrap()),
            ("REGISTRY_HTTP_TLS_KEY", leaf.key.to_str().unwrap()),
            ("REGISTRY_HTTP_DRAINTIMEOUT", "1s"),
        ],
    )
    .await;
    let answered = ca
        .client()
        .build()
        .unwrap()
        .get(format!("https://localhost:{}/v2/", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200, "the TLS server is up");

    let mut silent = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let since = Instant::now();
    stop.send(()).unwrap();
    returned(task, since, Duration::from_secs(20)).await;
    assert!(
        closed_by_server(&mut silent).await,
        "the connection in its handshake is closed once serve has returned"
    );
}

/// A request in flight that finishes within the drain timeout completes successfully, and `serve`
/// returns once it has, without waiting out the timeout.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_finishing_within_the_drain_timeout_completes() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, stop, task) =
        serve_in_process(dir.path(), &[("REGISTRY_HTTP_DRAINTIMEOUT", "30s")]).await;
    let url = format!("http://{addr}");
    let started = http()
        .post(format!("{url}/v2/drain/finish/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let location = started.headers()["location"].to_str().unwrap().to_string();

    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let patch = tokio::spawn(async move { http().patch(location).body(body).send().await });
    tx.send(Ok(Bytes::from(vec![1u8; 50_000]))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let since = Instant::now();
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tx.send(Ok(Bytes::from(vec![2u8; 50_000]))).await.unwrap();
    drop(tx);
    let patched = patch.await.unwrap().expect("the PATCH in flight completes");
    assert_eq!(patched.status(), 202);
    assert_eq!(patched.headers()["range"], "0-99999");
    let took = returned(task, since, Duration::from_secs(60)).await;
    assert!(
        took < Duration::from_secs(30),
        "serve returned once the request was done, not at the deadline ({took:?})"
    );
}

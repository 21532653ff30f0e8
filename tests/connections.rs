//! Connection hygiene through the real server, plain and TLS: slow and half-open clients are closed by
//! the header and idle timeouts and cannot crowd out normal clients, while slow body transfers are
//! never cut.
#[path = "common/certs.rs"]
mod certs;
mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{http, sha256, TestServer};
use futures_util::stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Short limits, so the test waits little: every timeout is a second or two.
const SHORT: [(&str, &str); 2] = [
    ("REGISTRY_HTTP_TIMEOUTS_HEADER", "1s"),
    ("REGISTRY_HTTP_TIMEOUTS_IDLE", "2s"),
];

/// Asserts that the server closes every one of `sockets`.
async fn assert_all_closed(sockets: &mut [TcpStream]) {
    for (i, socket) in sockets.iter_mut().enumerate() {
        assert!(
            closed_by_server(socket).await,
            "slow connection {i} stays open"
        );
    }
}

/// Waits until the server closes `socket` (end of stream or reset), reading and dropping whatever it
/// sends first; a guard of a minute turns a connection never closed into a failure, not a hang.
async fn closed_by_server(socket: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let wait = async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .is_ok()
}

/// Opens `n` connections; even ones send the start of a request line and stop, odd ones send nothing.
async fn slow_clients(addr: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut sockets = Vec::with_capacity(n);
    for i in 0..n {
        let mut socket = TcpStream::connect(addr).await.expect("connect");
        if i % 2 == 0 {
            socket.write_all(b"GET /v2/ HT").await.expect("write");
        }
        sockets.push(socket);
    }
    sockets
}

/// Under 1,000 slow or half-open connections (ten times the connection limit), a new client's
/// `GET /v2/` is answered, and every slow connection is closed by the server (to make room for newer
/// ones, or at the header timeout).
#[tokio::test(flavor = "multi_thread")]
async fn slow_clients_do_not_exhaust_the_server() {
    let limit = wharf::connections::raise_fd_limit();
    assert!(
        limit.is_none_or(|n| n > 2500),
        "the test needs more than 2,500 open files, the limit is {limit:?}"
    );
    let mut env = SHORT.to_vec();
    env.push(("REGISTRY_HTTP_MAXCONNECTIONS", "100"));
    let server = TestServer::start_env(&env).await;
    let mut sockets = slow_clients(server.addr, 1000).await;

    let r = http()
        .get(format!("{}/v2/", server.url))
        .send()
        .await
        .expect("a normal client is answered");
    assert_eq!(r.status(), 200);

    assert_all_closed(&mut sockets).await;
    server.stop().await;
}

/// Under the connection limit, a partial request line and a connection that sends nothing are closed
/// by the header timeout, and so is a keep-alive connection after its answer; the answer itself
/// arrives whole.
#[tokio::test(flavor = "multi_thread")]
async fn timeouts_close_slow_and_idle_connections() {
    let server = TestServer::start_env(&SHORT).await;
    let mut sockets = slow_clients(server.addr, 20).await;
    assert_all_closed(&mut sockets).await;

    let mut keep_alive = TcpStream::connect(server.addr).await.unwrap();
    keep_alive
        .write_all(b"GET /v2/ HTTP/1.1\r\nHost: registry\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = keep_alive.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(closed_by_server(&mut keep_alive).await);
    server.stop().await;
}

/// With a header timeout far longer than the test, a keep-alive connection is still closed once it
/// has had no request in flight for the idle timeout.
#[tokio::test(flavor = "multi_thread")]
async fn idle_keep_alive_connections_are_closed() {
    let server = TestServer::start_env(&[
        ("REGISTRY_HTTP_TIMEOUTS_HEADER", "1h"),
        ("REGISTRY_HTTP_TIMEOUTS_IDLE", "1s"),
    ])
    .await;
    let mut keep_alive = TcpStream::connect(server.addr).await.unwrap();
    keep_alive
        .write_all(b"GET /v2/ HTTP/1.1\r\nHost: registry\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = keep_alive.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(closed_by_server(&mut keep_alive).await);
    server.stop().await;
}

/// A blob pushed in a body that pauses longer than both timeouts, and pulled by a reader that pauses
/// as long (with more bytes than the socket buffers hold still to send), arrives whole: bodies in
/// flight are never timed out.
#[tokio::test(flavor = "multi_thread")]
async fn slow_bodies_are_not_cut() {
    let server = TestServer::start_env(&SHORT).await;
    let part: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let parts = 3;
    let whole: Vec<u8> = part.repeat(parts);
    let digest = sha256(&whole);

    let chunks = part.clone();
    let body = stream::unfold(0, move |sent| {
        let chunk = Bytes::from(chunks.clone());
        async move {
            if sent == parts {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(2500)).await;
            Some((Ok::<_, std::io::Error>(chunk), sent + 1))
        }
    });
    let put = http()
        .post(format!(
            "{}/v2/slow/body/blobs/uploads/?digest={digest}",
            server.url
        ))
        .header("content-length", whole.len())
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);

    let mut pull = http()
        .get(format!("{}/v2/slow/body/blobs/{digest}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(pull.status(), 200);
    let mut pulled = Vec::new();
    while let Some(chunk) = pull.chunk().await.unwrap() {
        if pulled.is_empty() {
            tokio::time::sleep(Duration::from_millis(2500)).await;
        }
        pulled.extend_from_slice(&chunk);
    }
    assert!(pulled == whole, "the pulled blob differs");
    server.stop().await;
}

/// On the TLS listener, connections that never complete a handshake are closed by the header timeout
/// and cannot crowd out a normal client beyond the connection limit.
#[tokio::test(flavor = "multi_thread")]
async fn tls_listener_has_the_same_limits() {
    let dir = tempfile::tempdir().unwrap();
    let ca = certs::Ca::new("Test CA");
    let leaf = ca.server(dir.path(), "server");
    let mut env = SHORT.to_vec();
    env.push(("REGISTRY_HTTP_MAXCONNECTIONS", "20"));
    env.push(("REGISTRY_HTTP_TLS_CERTIFICATE", leaf.cert.to_str().unwrap()));
    env.push(("REGISTRY_HTTP_TLS_KEY", leaf.key.to_str().unwrap()));
    let server = TestServer::start_env(&env).await;
    let mut sockets = slow_clients(server.addr, 200).await;
    let r = ca
        .client()
        .build()
        .unwrap()
        .get(format!("{}/v2/", server.url))
        .send()
        .await
        .expect("a normal client is answered");
    assert_eq!(r.status(), 200);
    assert_all_closed(&mut sockets).await;
    server.stop().await;
}

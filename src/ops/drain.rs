//! Graceful shutdown with a drain timeout (`http.draintimeout`), the one shutdown path of plain and
//! TLS listeners. Once the shutdown signal comes, the listener stops accepting and every connection
//! finishes the requests it has in flight, then closes (HTTP/1 without keep-alive, HTTP/2 with a
//! GOAWAY). At the deadline, the connections still open are closed, whether in a request or in their
//! handshake. [`serve`] returns only once every connection's task has ended, so nothing of the
//! server runs after it.
//!
//! axum-server's own drain is not enough for that: at its deadline it tells its connection tasks to
//! stop and returns at once, without waiting for them, and a task still in its TLS handshake does not
//! hear it at all. So the drain here asks axum-server for a graceful shutdown without a deadline,
//! keeps the deadline itself, and waits on [`Connections`], which counts a connection until all it
//! holds is dropped. An upload cut off by the timeout stays resumable: its bytes are on disk and its
//! session is in storage.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum_server::Handle;

use crate::connections::Connections;

/// Runs `server` (the accept loop of `handle`'s server, over `connections`) until `shutdown`
/// completes, then drains it for at most `timeout`. Returns the server's result once every
/// connection is gone.
pub async fn serve(
    server: impl Future<Output = io::Result<()>>,
    handle: Handle<SocketAddr>,
    connections: Connections,
    timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    tokio::pin!(server);
    let failed = tokio::select! {
        result = &mut server => Some(result),
        () = shutdown => None,
    };
    if let Some(result) = failed {
        // The accept loop failed on its own: close what it leaves behind.
        handle.shutdown();
        connections.close_all();
        connections.closed().await;
        return result;
    }
    tracing::info!(
        timeout = %humantime::format_duration(timeout),
        "draining: no new connections, waiting for requests in flight"
    );
    handle.graceful_shutdown(None);
    let mut result = None;
    let drained = tokio::time::timeout(timeout, async {
        result = Some((&mut server).await);
        connections.closed().await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.count(),
            "drain timeout (http.draintimeout) reached: closing connections with requests in flight"
        );
        handle.shutdown();
        connections.close_all();
    }
    let result = match result {
        Some(result) => result,
        None => server.await,
    };
    connections.closed().await;
    result
}

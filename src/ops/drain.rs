//! Graceful shutdown with a drain timeout (`http.draintimeout`): once the shutdown signal comes, the
//! listener stops accepting and in-flight requests may finish for up to the timeout; then the server
//! returns anyway. An upload cut off by the timeout stays resumable: its bytes are on disk and its
//! session is in storage.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

/// Starts draining the server of `handle` when `shutdown` completes, for at most `timeout`.
pub fn on_shutdown(
    handle: axum_server::Handle<SocketAddr>,
    timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!(
            timeout = %humantime::format_duration(timeout),
            "draining: no new connections, waiting for requests in flight"
        );
        handle.graceful_shutdown(Some(timeout));
        tokio::time::sleep(timeout).await;
        if handle.connection_count() > 0 {
            tracing::warn!(
                "drain timeout (http.draintimeout) reached: closing with requests in flight"
            );
        }
    });
}

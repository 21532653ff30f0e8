//! Graceful shutdown with a drain timeout (`http.draintimeout`): once the shutdown signal comes, the
//! listener stops accepting and in-flight requests may finish for up to the timeout; then the server
//! returns anyway. An upload cut off by the timeout stays resumable: its bytes are on disk and its
//! session is in storage.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::zero_copy;

/// Serves `app` on `listener` until `shutdown`, then drains for at most `timeout`. Connections send blob
/// files without copying them ([`zero_copy`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (signalled, on_signal) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(zero_copy::Listener(listener), zero_copy::Connections(app))
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!(
                timeout = %humantime::format_duration(timeout),
                "draining: no new connections, waiting for requests in flight"
            );
            let _ = signalled.send(());
        });
    let deadline = async move {
        match on_signal.await {
            Ok(()) => tokio::time::sleep(timeout).await,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        served = async { server.await } => served,
        () = deadline => {
            tracing::warn!("drain timeout (http.draintimeout) reached: closing with requests in flight");
            Ok(())
        }
    }
}

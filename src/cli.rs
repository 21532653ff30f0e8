//! The `wharf` command line: subcommands and what each runs.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::config::{Config, Driver, RegistryEnv};

/// A private container registry, drop-in compatible with registry:2.
#[derive(Debug, Parser)]
#[command(name = "wharf", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the registry API.
    Serve {
        /// A distribution-format config.yml; defaults to $REGISTRY_CONFIGURATION_PATH, else built-in
        /// defaults (port 5000, filesystem storage).
        config: Option<PathBuf>,
    },
    /// Serve the web UI for a registry and proxy `/v2/` to it.
    Ui(crate::ui::UiArgs),
}

/// Runs the command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Ui(args) => run_ui(args),
        Command::Serve { config } => {
            let path = config
                .or_else(|| std::env::var_os("REGISTRY_CONFIGURATION_PATH").map(PathBuf::from));
            let config = match Config::load(path.as_deref(), RegistryEnv::from_process()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("wharf: {e}");
                    return 2;
                }
            };
            crate::logging::init(&config.log);
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("wharf: cannot start the async runtime: {e}");
                    return 1;
                }
            };
            match runtime.block_on(serve_from_config(config)) {
                Ok(()) => 0,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("wharf: {e}");
                    1
                }
            }
        }
    }
}

fn run_ui(args: crate::ui::UiArgs) -> i32 {
    crate::logging::init(&crate::config::LogConfig::default());
    let addr = args.listen_addr();
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wharf ui: {e}");
            return 2;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wharf ui: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let served = runtime.block_on(async {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr} (--listen / WHARF_UI_LISTEN): {e}"))?;
        tracing::info!(%addr, upstream = %config.upstream, "web UI listening");
        crate::ui::serve_ui(listener, config, shutdown_signal())
            .await
            .map_err(|e| e.to_string())
    });
    match served {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("wharf ui: {e}");
            1
        }
    }
}

async fn serve_from_config(config: Config) -> Result<(), String> {
    let addr = config.listen_addr().map_err(|e| e.to_string())?;
    match config.driver().map_err(|e| e.to_string())? {
        Driver::Filesystem(root) => tracing::info!(root = %root.display(), "filesystem storage"),
        Driver::InMemory => tracing::warn!("in-memory storage: content is lost when wharf stops"),
    }
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} (http.addr / REGISTRY_HTTP_ADDR): {e}"))?;
    tracing::info!(%addr, "listening");
    crate::serve(listener, config, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

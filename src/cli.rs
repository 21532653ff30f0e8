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
    /// Delete blobs no manifest uses (and, with -m, manifests no tag reaches). Safe while a server
    /// runs on the same storage: content younger than the grace period is kept.
    GarbageCollect {
        /// Report what would be deleted without deleting anything.
        #[arg(short = 'd', long)]
        dry_run: bool,
        /// Also delete manifests that no tag reaches (directly, as an index child or as a referrer).
        #[arg(short = 'm', long)]
        delete_untagged: bool,
        /// Print only the summary line.
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Keep content written within this time (Go duration, e.g. 1h or 0s when no server runs);
        /// defaults to storage.gc.graceperiod.
        #[arg(long, value_parser = crate::config::duration::parse)]
        grace_period: Option<std::time::Duration>,
        /// The registry's config.yml; defaults to $REGISTRY_CONFIGURATION_PATH, else built-in defaults.
        config: Option<PathBuf>,
    },
}

/// Loads the configuration from `path`, else `$REGISTRY_CONFIGURATION_PATH`, plus the environment.
fn load_config(path: Option<PathBuf>) -> Result<Config, String> {
    let path = path.or_else(|| std::env::var_os("REGISTRY_CONFIGURATION_PATH").map(PathBuf::from));
    Config::load(path.as_deref(), RegistryEnv::from_process()).map_err(|e| format!("wharf: {e}"))
}

/// Runs the command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::GarbageCollect {
            dry_run,
            delete_untagged,
            quiet,
            grace_period,
            config,
        } => {
            let config = match load_config(config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return 2;
                }
            };
            let command = crate::ops::gc_command::GcCommand {
                options: crate::registry::gc::GcOptions {
                    dry_run,
                    delete_untagged,
                    grace_period: crate::ops::gc_command::grace_period(&config, grace_period),
                },
                quiet,
            };
            crate::ops::gc_command::run(&config, &command, &mut std::io::stdout())
        }
        Command::Serve { config } => {
            let config = match load_config(config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
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

//! The `wharf` command line: subcommands and what each runs.

mod garbage_collect;
mod retention;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::auth::tool::HtpasswdArgs;
use crate::config::{Config, Driver, Loaded, RegistryEnv};

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
    /// Print the effective configuration (secrets redacted) and where each value came from.
    Config {
        /// Only validate: print nothing on success, exit non-zero with the error otherwise.
        #[arg(long)]
        check: bool,
        /// The config.yml to read, as for `serve`.
        config: Option<PathBuf>,
    },
    /// Create and edit htpasswd files (bcrypt), like Apache's htpasswd: `wharf htpasswd -Bbn USER PASS`.
    Htpasswd(HtpasswdArgs),
    /// Serve the web UI for a registry and proxy `/v2/` to it.
    Ui(crate::ui::UiArgs),
    /// Check that the local server (as configured) answers and its storage is healthy: exit 0 or 1
    /// with a one-line reason. Used by the image's HEALTHCHECK.
    Healthcheck {
        /// Probe this URL instead of the configured listen address (e.g. with mutual TLS in front).
        #[arg(long, env = "WHARF_HEALTHCHECK_URL")]
        url: Option<String>,
        /// The config.yml to read, as for `serve`.
        config: Option<PathBuf>,
    },
    /// Apply the retention policies (retention.policies) once: a preview of what they would delete,
    /// per repository with the bytes freed, unless --apply. Safe while servers run.
    Retention {
        /// Delete (tags go to the trash, then garbage collection frees their bytes).
        #[arg(long)]
        apply: bool,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
        /// The registry's config.yml; defaults to $REGISTRY_CONFIGURATION_PATH, else built-in defaults.
        config: Option<PathBuf>,
    },
    /// The tags retention deleted: `list` them, or `restore REPOSITORY:TAG` before they expire.
    Trash {
        /// What to do.
        #[command(subcommand)]
        action: TrashCommand,
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

/// `wharf trash` subcommands.
#[derive(Debug, Subcommand)]
pub enum TrashCommand {
    /// Print every deleted tag still in the trash.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The registry's config.yml; defaults to $REGISTRY_CONFIGURATION_PATH, else built-in defaults.
        config: Option<PathBuf>,
    },
    /// Put a deleted tag back (REPOSITORY:TAG, e.g. team/app:v1).
    Restore {
        /// The tag to restore.
        #[arg(value_name = "REPOSITORY:TAG")]
        tag: String,
        /// The registry's config.yml; defaults to $REGISTRY_CONFIGURATION_PATH, else built-in defaults.
        config: Option<PathBuf>,
    },
}

/// The configuration for a command that works on the storage, after dropping root as `serve` would;
/// the exit code on failure, with the reason printed.
fn storage_command(config: Option<PathBuf>) -> Result<Config, i32> {
    let config = load(config)
        .map_err(|e| {
            eprintln!("wharf: {e}");
            2
        })?
        .config;
    match become_service_user(&config) {
        Ok(outcome) => log_outcome(&outcome, |warn, line| {
            let level = if warn { "warning: " } else { "" };
            eprintln!("wharf: {level}{line}");
        }),
        Err(e) => {
            eprintln!("wharf: {e}");
            return Err(2);
        }
    }
    Ok(config)
}

/// Arguments as registry:2's image entrypoint reads them: a first argument naming a `.yml`/`.yaml` file
/// means `serve` that file, so `docker run IMAGE /etc/config.yml` works with Wharf's image too.
pub fn registry_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    let is_config = args
        .get(1)
        .and_then(|a| a.to_str())
        .is_some_and(|a| a.ends_with(".yml") || a.ends_with(".yaml"));
    if is_config {
        args.insert(1, OsString::from("serve"));
    }
    args
}

/// Loads the configuration the way every subcommand does: the given file, else
/// `$REGISTRY_CONFIGURATION_PATH`, else defaults; then the `REGISTRY_*` environment.
fn load(config: Option<PathBuf>) -> Result<Loaded, String> {
    let path =
        config.or_else(|| std::env::var_os("REGISTRY_CONFIGURATION_PATH").map(PathBuf::from));
    Config::load_with_sources(path.as_deref(), RegistryEnv::from_process())
        .map_err(|e| e.to_string())
}

/// [`load`], then what `serve` and `config --check` check before serving: the TLS files, and the S3
/// endpoint settings as the S3 client will combine them.
fn load_for_serving(config: Option<PathBuf>) -> Result<Loaded, String> {
    let loaded = load(config)?;
    let c = &loaded.config;
    crate::tls::preflight(&c.http.tls, !c.http.http2.disabled)
        .map_err(|(key, message)| c.invalid(key, message).to_string())?;
    if let Some(s3) = &c.storage.s3 {
        crate::storage::s3::check_endpoint(s3)
            .map_err(|e| c.invalid(e.setting, e.message).to_string())?;
    }
    Ok(loaded)
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
            let config = match storage_command(config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let command = garbage_collect::GcCommand {
                options: crate::registry::gc::GcOptions {
                    dry_run,
                    delete_untagged,
                    grace_period: garbage_collect::grace_period(&config, grace_period),
                    retention: None,
                    confirmed: None,
                    pace: crate::registry::gc::Pace::FULL,
                },
                quiet,
            };
            garbage_collect::run(&config, &command, &mut std::io::stdout())
        }
        Command::Retention {
            apply,
            json,
            config,
        } => match storage_command(config) {
            Ok(config) => retention::run(&config, apply, format(json), &mut std::io::stdout()),
            Err(code) => code,
        },
        Command::Trash { action } => {
            let (action, json, config) = match action {
                TrashCommand::List { json, config } => {
                    (Ok(retention::TrashAction::List), json, config)
                }
                TrashCommand::Restore { tag, config } => (
                    retention::repo_tag(&tag).map(|(r, t)| retention::TrashAction::Restore(r, t)),
                    false,
                    config,
                ),
            };
            let action = match action {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("wharf trash: {e}");
                    return 2;
                }
            };
            match storage_command(config) {
                Ok(config) => {
                    retention::trash(&config, &action, format(json), &mut std::io::stdout())
                }
                Err(code) => code,
            }
        }
        Command::Config { check, config } => match load_for_serving(config) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    eprintln!("wharf: warning: {w}");
                }
                if !check {
                    print!("{}", loaded.render());
                }
                0
            }
            Err(e) => {
                eprintln!("wharf: {e}");
                2
            }
        },
        Command::Htpasswd(args) => match crate::auth::tool::run(&args) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("wharf htpasswd: {e}");
                e.exit_code()
            }
        },
        Command::Ui(args) => run_ui(args),
        Command::Healthcheck { url, config } => {
            let ui = crate::healthcheck::ui_probe_url(|k| std::env::var(k).ok());
            let url = match url.or(ui) {
                Some(u) => u,
                None => match load(config).and_then(|l| crate::healthcheck::probe_url(&l.config)) {
                    Ok(u) => u,
                    Err(e) => {
                        eprintln!("wharf healthcheck: {e}");
                        return 1;
                    }
                },
            };
            let outcome = tokio::runtime::Runtime::new()
                .map_err(|e| e.to_string())
                .and_then(|rt| rt.block_on(crate::healthcheck::probe(&url)));
            match outcome {
                Ok(line) => {
                    println!("healthy: {line}");
                    0
                }
                Err(e) => {
                    println!("unhealthy: {e}");
                    1
                }
            }
        }
        Command::Serve { config } => {
            let loaded = match load_for_serving(config) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("wharf: {e}");
                    return 2;
                }
            };
            crate::logging::init(&loaded.config.log);
            for w in &loaded.warnings {
                tracing::warn!("{w}");
            }
            let config = loaded.config;
            let listener = match config.listen_addr() {
                Ok(addr) => crate::listen::bind(addr).map_err(|e| {
                    crate::listen::bind_error(addr, "http.addr / REGISTRY_HTTP_ADDR", &e)
                }),
                Err(e) => {
                    eprintln!("wharf: {e}");
                    return 2;
                }
            };
            let listener = match listener {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("wharf: {e}");
                    return 1;
                }
            };
            match become_service_user(&config) {
                Ok(outcome) => log_outcome(&outcome, |warn, line| match warn {
                    true => tracing::warn!("{line}"),
                    false => tracing::info!("{line}"),
                }),
                Err(e) => {
                    eprintln!("wharf: {e}");
                    return 2;
                }
            }
            let runtime = match runtime("wharf") {
                Ok(r) => r,
                Err(code) => return code,
            };
            match runtime.block_on(serve_from_config(config, listener)) {
                Ok(()) => 0,
                Err(Failure { code, message }) => {
                    eprintln!("wharf: {message}");
                    code
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
    if config.upstream_tls.insecure {
        tracing::warn!(
            upstream = %config.upstream,
            "--upstream-insecure (WHARF_UI_UPSTREAM_INSECURE): the registry's certificate is not verified; anyone on the network path can read and change what the UI sends and shows, passwords included"
        );
    }
    let listener = match crate::listen::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "wharf ui: {}",
                crate::listen::bind_error(addr, "--listen / WHARF_UI_LISTEN", &e)
            );
            return 1;
        }
    };
    let user = crate::privileges::become_service_user(
        std::env::var(crate::privileges::USER_VAR).ok(),
        &crate::privileges::Writable::default(),
    );
    if let Err(e) = user {
        eprintln!("wharf ui: {e}");
        return 2;
    }
    let runtime = match runtime("wharf ui") {
        Ok(r) => r,
        Err(code) => return code,
    };
    let served = runtime.block_on(async {
        let listener = TcpListener::from_std(listener).map_err(|e| e.to_string())?;
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

/// Hands the filesystem storage root and the htpasswd file to the service user and becomes it, when
/// started as root with `WHARF_USER` set (see [`crate::privileges`]).
fn become_service_user(config: &Config) -> Result<crate::privileges::Outcome, String> {
    let mut writable = crate::privileges::Writable::default();
    if let Ok(Driver::Filesystem(root)) = config.driver() {
        writable.trees.push(root);
    }
    if let Some(path) = config.auth.htpasswd.as_ref().and_then(|h| h.path.clone()) {
        writable.files.push(path);
    }
    crate::privileges::become_service_user(
        std::env::var(crate::privileges::USER_VAR).ok(),
        &writable,
    )
}

/// Logs what [`become_service_user`] did.
fn log_outcome(outcome: &crate::privileges::Outcome, log: impl Fn(bool, &str)) {
    use crate::privileges::Outcome;
    match outcome {
        Outcome::Unchanged => {}
        Outcome::Became(user, report) => {
            report.iter().for_each(|line| log(false, line));
            log(
                false,
                &format!("running as uid {} gid {}", user.uid, user.gid),
            );
        }
        Outcome::StayedRoot(reason) => log(true, reason),
    }
}

/// One start-up line with what an operator checks first: authentication, TLS, the embedded UI's path
/// and read-only mode.
fn log_settings(config: &Config) {
    let auth = match (&config.auth.htpasswd, &config.auth.token) {
        (Some(h), _) if h.anonymousread => "htpasswd, anonymous pulls",
        (Some(_), _) => "htpasswd",
        (None, Some(_)) => "token",
        (None, None) => "none: anyone may push and delete",
    };
    let tls = match (&config.http.tls.letsencrypt, config.http.tls.enabled()) {
        (Some(_), _) => "on (Let's Encrypt)",
        (None, true) => "on",
        (None, false) => "off",
    };
    let ui = if config.ui.enabled {
        config.ui.path.as_str()
    } else {
        "off"
    };
    let read_only = config.storage.maintenance.readonly.enabled;
    tracing::info!(auth, tls, ui, read_only, "settings");
}

/// The async runtime, or, when it cannot start, the exit code after saying so as `who`.
fn runtime(who: &str) -> Result<tokio::runtime::Runtime, i32> {
    tokio::runtime::Runtime::new().map_err(|e| {
        eprintln!("{who}: cannot start the async runtime: {e}");
        1
    })
}

/// Why `serve` stopped, with the exit code it owes.
struct Failure {
    code: i32,
    message: String,
}

impl Failure {
    fn setup(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
}

async fn serve_from_config(config: Config, listener: std::net::TcpListener) -> Result<(), Failure> {
    let driver = config.driver().map_err(|e| Failure::setup(e.to_string()))?;
    match &driver {
        Driver::Filesystem(root) => tracing::info!(root = %root.display(), "filesystem storage"),
        Driver::InMemory => tracing::warn!("in-memory storage: content is lost when wharf stops"),
        Driver::S3(s3) => tracing::info!(
            bucket = s3.bucket.as_deref().unwrap_or_default(),
            endpoint = %crate::storage::s3::endpoint_name(s3),
            root = %s3.root_prefix(),
            "S3 storage"
        ),
    }
    log_settings(&config);
    let registry = crate::server::preflight(&config, true)
        .await
        .map_err(|e| Failure::setup(e.to_string()))?;
    let listener = TcpListener::from_std(listener).map_err(|e| Failure {
        code: 1,
        message: e.to_string(),
    })?;
    let addr = listener.local_addr().map_err(|e| Failure {
        code: 1,
        message: e.to_string(),
    })?;
    tracing::info!(%addr, "listening");
    let options = crate::ops::ServeOptions::default();
    crate::server::serve_registry(listener, config, registry, options, shutdown_signal())
        .await
        .map_err(|e| {
            // A setting found unusable while the server is built is a configuration error too.
            let config_error = e
                .get_ref()
                .is_some_and(|inner| inner.is::<crate::config::ConfigError>());
            Failure {
                code: if config_error { 2 } else { 1 },
                message: e.to_string(),
            }
        })
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

/// Tables, or JSON with `--json`.
fn format(json: bool) -> retention::Format {
    if json {
        retention::Format::Json
    } else {
        retention::Format::Table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config file as the first argument means `serve` it; anything else is left alone.
    #[test]
    fn registry_entrypoint_args() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        let cases = [
            (
                args(&["wharf", "/etc/docker/registry/config.yml"]),
                args(&["wharf", "serve", "/etc/docker/registry/config.yml"]),
            ),
            (
                args(&["wharf", "cfg.yaml"]),
                args(&["wharf", "serve", "cfg.yaml"]),
            ),
            (
                args(&["wharf", "serve", "x.yml"]),
                args(&["wharf", "serve", "x.yml"]),
            ),
            (
                args(&["wharf", "garbage-collect", "x.yml"]),
                args(&["wharf", "garbage-collect", "x.yml"]),
            ),
            (args(&["wharf"]), args(&["wharf"])),
        ];
        for (input, want) in cases {
            assert_eq!(registry_args(input.clone()), want, "{input:?}");
        }
    }
}

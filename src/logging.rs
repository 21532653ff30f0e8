//! Log output: `log.level` and `log.formatter` (text or json) from the configuration, overridable with
//! `RUST_LOG` for debugging.

use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

/// Installs the global subscriber (once per process; later calls are ignored).
pub fn init(log: &LogConfig) {
    let level = log.level.to_ascii_lowercase();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},h2=warn,hyper=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let json = matches!(
        log.formatter.to_ascii_lowercase().as_str(),
        "json" | "logstash"
    );
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

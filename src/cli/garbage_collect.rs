//! `wharf garbage-collect`: one collection over the configured storage, printed for an operator.
//!
//! Flags follow `registry garbage-collect` (`--dry-run/-d`, `--delete-untagged/-m`, `--quiet/-q`).
//! It is safe while Wharf servers run on the same storage: the collection announces itself in
//! storage and skips what their writes touch meanwhile (see [`crate::registry::gc::protocol`]), and
//! content younger than the grace period (`storage.gc.graceperiod`, or `--grace-period`) is kept, so
//! pushes in progress lose nothing.

use std::io::Write;
use std::time::Duration;

use crate::config::Config;
use crate::registry::gc::{GcOptions, GcReport, Phase};

/// What to collect and how to report it.
#[derive(Debug, Clone)]
pub struct GcCommand {
    /// The collection's options.
    pub options: GcOptions,
    /// Print only the summary.
    pub quiet: bool,
}

/// Runs the collection and prints its report to `out`; returns the process exit code.
pub fn run(config: &Config, command: &GcCommand, out: &mut dyn Write) -> i32 {
    let registry = match crate::server::registry(config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wharf: {e}");
            return 2;
        }
    };
    let runtime = match super::runtime("wharf") {
        Ok(r) => r,
        Err(code) => return code,
    };
    match runtime.block_on(registry.collect_garbage(&command.options)) {
        Ok(report) => {
            let _ = print_report(&report, command.quiet, out);
            0
        }
        Err(e) => {
            eprintln!("wharf: garbage collection failed: {e}");
            1
        }
    }
}

/// Writes the report: one line per deletion unless `quiet`, then a summary and how long each phase
/// took.
pub fn print_report(report: &GcReport, quiet: bool, out: &mut dyn Write) -> std::io::Result<()> {
    let verb = if report.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    if !quiet {
        for (repo, digest) in &report.manifests_deleted {
            writeln!(out, "{repo}: {verb} untagged manifest {digest}")?;
        }
        for (digest, size) in &report.blobs_deleted {
            writeln!(out, "{verb} blob {digest} ({size} bytes)")?;
        }
        for repo in &report.repositories_removed {
            writeln!(out, "{verb} empty repository {repo}")?;
        }
    }
    writeln!(
        out,
        "{} repositories, {} digests in use; {verb} {} blobs ({} freed), {} untagged manifests, {} layer links, {} empty repositories; kept {} unused blobs younger than the grace period",
        report.repositories,
        report.marked,
        report.blobs_deleted.len(),
        human_bytes(report.bytes_freed),
        report.manifests_deleted.len(),
        report.layer_links_removed,
        report.repositories_removed.len(),
        report.blobs_kept_recent,
    )?;
    let settle_note = match report.writers {
        Some(0) => " (no process writes to this storage)".to_string(),
        Some(n) => format!(
            " (waited for {n} process{} writing to this storage)",
            if n == 1 { "" } else { "es" }
        ),
        None => String::new(),
    };
    let phases: Vec<String> = report
        .phases
        .iter()
        .map(|(phase, took)| {
            let note = match phase {
                Phase::Settle => settle_note.as_str(),
                _ => "",
            };
            format!("{} {:.1} s{note}", phase.name(), took.as_secs_f64())
        })
        .collect();
    let total: Duration = report.phases.iter().map(|(_, took)| *took).sum();
    writeln!(
        out,
        "took {:.1} s: {}",
        total.as_secs_f64(),
        phases.join(", ")
    )
}

/// `1.5 MiB (1572864 bytes)`.
pub(super) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64;
    let mut unit = "";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    format!("{value:.1} {unit} ({n} bytes)")
}

/// The grace period: the flag's if given, else the configuration's.
pub fn grace_period(config: &Config, flag: Option<Duration>) -> Duration {
    flag.unwrap_or(config.storage.gc.graceperiod.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes print in bytes below 1 KiB and with a binary unit above, always with the exact count.
    #[test]
    fn human_bytes_table() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB (1536 bytes)");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB (3145728 bytes)");
    }
}

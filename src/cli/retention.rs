//! `wharf retention` and `wharf trash`: the retention policies run once over the configured storage
//! (a preview unless `--apply`), and the trash of tags they deleted, listed or restored. Both are
//! safe while servers run on the same storage: retention deletes through garbage collection's
//! protocol, and a restore is a push.

use std::io::Write;
use std::sync::Arc;

use serde_json::json;

use super::garbage_collect::human_bytes;
use crate::config::Config;
use crate::registry::gc::{GcOptions, GcReport};
use crate::registry::names::{RepoName, Tag};
use crate::registry::retention::trash::TrashEntry;
use crate::registry::retention::Policies;
use crate::registry::Registry;

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Tables for a person.
    Table,
    /// One JSON document.
    Json,
}

/// What `wharf trash` does.
#[derive(Debug, Clone)]
pub enum TrashAction {
    /// Prints every entry.
    List,
    /// Puts a deleted tag back.
    Restore(RepoName, Tag),
}

/// Parses `REPOSITORY:TAG`.
pub fn repo_tag(text: &str) -> Result<(RepoName, Tag), String> {
    let (repo, tag) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?} is not REPOSITORY:TAG, e.g. team/app:v1"))?;
    let repo = repo.parse().map_err(|e| format!("{repo:?}: {e}"))?;
    let tag = tag.parse().map_err(|e| format!("{tag:?}: {e}"))?;
    Ok((repo, tag))
}

fn open(config: &Config) -> Result<(Registry, tokio::runtime::Runtime), i32> {
    let registry = crate::server::registry(config).map_err(|e| {
        eprintln!("wharf: {e}");
        2
    })?;
    Ok((registry, super::runtime("wharf")?))
}

/// Runs the policies once (deleting only with `apply`) and prints what they delete; returns the
/// exit code.
pub fn run(config: &Config, apply: bool, format: Format, out: &mut dyn Write) -> i32 {
    if config.retention.policies.is_empty() {
        eprintln!("wharf: no retention policies are configured (retention.policies, or REGISTRY_RETENTION_POLICIES); see docs/retention.md");
        return 2;
    }
    let policies = match Policies::new(&config.retention) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("wharf: retention.policies: {e}");
            return 2;
        }
    };
    let (registry, runtime) = match open(config) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let options = GcOptions {
        dry_run: !apply,
        delete_untagged: false,
        grace_period: config.storage.gc.graceperiod.get(),
        retention: Some(policies),
        confirmed: None,
        pace: crate::registry::gc::Pace::FULL,
    };
    match runtime.block_on(registry.collect_garbage(&options)) {
        Ok(report) => {
            let printed = match format {
                Format::Table => print_table(&report, out),
                Format::Json => print_json(report, out),
            };
            i32::from(printed.is_err())
        }
        Err(e) => {
            eprintln!("wharf: retention failed: {e}");
            1
        }
    }
}

fn print_json(report: GcReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "{:#}", json!(report.retention_summary()))
}

fn print_table(report: &GcReport, out: &mut dyn Write) -> std::io::Result<()> {
    let verb = if report.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for repo in &report.retention {
        writeln!(
            out,
            "{} (retention.policies[{}])",
            repo.repository, repo.policy
        )?;
        if repo.skipped_busy {
            writeln!(
                out,
                "  skipped: a push reached it during the run; the next run weighs it again"
            )?;
            continue;
        }
        let rows: Vec<[String; 5]> = repo
            .tags
            .iter()
            .map(|t| {
                [
                    t.tag.to_string(),
                    short(&t.digest.to_string()),
                    t.pushed.clone(),
                    t.pulled.clone().unwrap_or_else(|| "never".into()),
                    t.reason.clone(),
                ]
            })
            .collect();
        table(
            out,
            ["TAG", "DIGEST", "PUSHED", "LAST PULLED", "REASON"],
            &rows,
        )?;
        writeln!(
            out,
            "  {verb} {} tags, {} manifests; frees {}",
            repo.tags.len(),
            repo.manifests.len(),
            human_bytes(repo.bytes_freed)
        )?;
    }
    let tags: usize = report.retention.iter().map(|r| r.tags.len()).sum();
    writeln!(
        out,
        "{verb} {tags} tags in {} repositories and {} manifests; {} blobs ({}) freed in all",
        report
            .retention
            .iter()
            .filter(|r| !r.tags.is_empty())
            .count(),
        report.manifests_deleted.len(),
        report.blobs_deleted.len(),
        human_bytes(report.bytes_freed),
    )?;
    if report.dry_run {
        writeln!(
            out,
            "preview only: nothing was deleted; run `wharf retention --apply` to delete"
        )?;
    }
    Ok(())
}

/// `sha256:0123456789ab…`.
fn short(digest: &str) -> String {
    match digest.split_once(':') {
        Some((alg, hex)) if hex.len() > 12 => format!("{alg}:{}…", &hex[..12]),
        _ => digest.to_string(),
    }
}

/// Writes rows under a header, each column as wide as its widest cell, indented by two spaces.
fn table<const N: usize>(
    out: &mut dyn Write,
    header: [&str; N],
    rows: &[[String; N]],
) -> std::io::Result<()> {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("  {}", padded.join("  ").trim_end())
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// Lists or restores trash entries; returns the exit code.
pub fn trash(config: &Config, action: &TrashAction, format: Format, out: &mut dyn Write) -> i32 {
    let (registry, runtime) = match open(config) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    match action {
        TrashAction::List => match runtime.block_on(registry.trash_entries()) {
            Ok(entries) => i32::from(print_trash(&entries, format, out).is_err()),
            Err(e) => {
                eprintln!("wharf: reading the trash failed: {e}");
                1
            }
        },
        TrashAction::Restore(name, tag) => {
            let restored = runtime.block_on(async {
                let restored = registry.restore_tag(name, tag).await;
                if let Err(e) = registry.retire_writer().await {
                    eprintln!("wharf: removing this command's writer record failed: {e}");
                }
                restored
            });
            match restored {
                Ok(entry) => {
                    let _ = writeln!(out, "restored {name}:{tag} -> {}", entry.digest);
                    0
                }
                Err(e) => {
                    eprintln!("wharf: cannot restore {name}:{tag}: {e}");
                    1
                }
            }
        }
    }
}

fn print_trash(entries: &[TrashEntry], format: Format, out: &mut dyn Write) -> std::io::Result<()> {
    if format == Format::Json {
        return writeln!(out, "{:#}", json!(entries));
    }
    let now = std::time::SystemTime::now();
    let rows: Vec<[String; 5]> = entries
        .iter()
        .map(|e| {
            let until = if e.expired(now) {
                format!("{} (expired)", e.expires)
            } else {
                e.expires.clone()
            };
            [
                format!("{}:{}", e.repository, e.tag),
                short(&e.digest.to_string()),
                e.deleted.clone(),
                until,
                e.reason.clone(),
            ]
        })
        .collect();
    table(
        out,
        ["TAG", "DIGEST", "DELETED", "RESTORABLE UNTIL", "REASON"],
        &rows,
    )?;
    writeln!(
        out,
        "{} tags in the trash; restore one with `wharf trash restore REPOSITORY:TAG`",
        entries.len()
    )
}

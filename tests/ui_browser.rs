//! The web UI in a real browser: headless Chromium (Debian's package) driven by npm's
//! `playwright-core` through `tests/browser/ui_flow.mjs` opens the catalog, filters it, opens a
//! repository and a tag, switches theme and platform, and deletes a tag through the confirmation;
//! `tests/browser/retention_flow.mjs` walks the disk view, the retention preview, applying it, the
//! trash and a restore.
//! Screenshots go to a temporary directory, or to `docs/screenshots/` when
//! `WHARF_UPDATE_SCREENSHOTS=1` (that is how the documentation's pictures are made).
mod common;
#[path = "common/ui_fixture.rs"]
mod ui_fixture;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestServer;
use serde_json::Value;
use ui_fixture::{registry_tags, seed, test_config, UiServer};

const SCREENSHOTS: [&str; 7] = [
    "catalog.png",
    "repository.png",
    "tag.png",
    "tag-dark.png",
    "tag-multiarch.png",
    "delete-confirm.png",
    "tag-mobile.png",
];

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn check_tools() {
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium missing: run ./scripts/test (it installs Debian's chromium)"
    );
    assert!(
        browser_dir().join("node_modules/playwright-core").is_dir(),
        "playwright-core missing: run ./scripts/test (it runs npm ci in tests/browser)"
    );
}

/// Where screenshots go: `docs/screenshots/` with `WHARF_UPDATE_SCREENSHOTS=1`, else `temp`.
fn screenshots(temp: &Path) -> PathBuf {
    if std::env::var_os("WHARF_UPDATE_SCREENSHOTS").is_some() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    } else {
        temp.to_path_buf()
    }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a list, got {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// A person's path through the UI works in Chromium, JavaScript enhancements included, and the
/// tag deleted through the confirmation is gone from the registry while its siblings stay.
#[tokio::test(flavor = "multi_thread")]
async fn browse_filter_and_delete_in_chromium() {
    check_tools();
    let registry = TestServer::start().await;
    seed(&registry.url, true).await;
    let mut config = test_config(&registry.url);
    config.title = "registry.example.com".into();
    config.pull_url = Some("registry.example.com".into());
    let ui = UiServer::start(config).await;

    let temp = tempfile::tempdir().unwrap();
    let shots = screenshots(temp.path());
    let seen = run_flow("ui_flow.mjs", ui.url.clone(), shots.clone()).await;

    assert_eq!(
        strings(&seen["catalog"]),
        ["alpine", "multi", "team/app", "team/tools/cli"]
    );
    assert_eq!(strings(&seen["filtered"]), ["alpine"]);
    assert_eq!(strings(&seen["tags"]), ["3.18", "3.19", "latest", "stable"]);
    assert_eq!(
        seen["selectAllVisible"], true,
        "select-all shown by the script"
    );
    assert_eq!(seen["pull"], "docker pull registry.example.com/alpine:3.19");
    assert_eq!(seen["copyVisible"], true, "copy button shown by the script");
    assert!(strings(&seen["history"]).contains(&"/bin/sh -c apk add --no-cache curl"));
    assert_eq!(seen["theme"], "dark");
    assert_eq!(
        seen["background"], "rgb(18, 22, 28)",
        "dark palette applied"
    );
    assert_eq!(
        strings(&seen["platforms"]),
        ["linux/amd64", "linux/arm64/v8"]
    );
    assert_eq!(seen["selectedPlatform"], "linux/arm64/v8");
    assert_eq!(strings(&seen["siblings"]), ["3.19", "stable"]);
    assert_eq!(seen["result"], "Deleted from alpine");
    assert_eq!(strings(&seen["tagsAfter"]), ["3.18", "3.19", "stable"]);
    assert!(
        strings(&seen["errors"]).is_empty(),
        "no script errors or Content-Security-Policy violations"
    );
    assert_eq!(
        registry_tags(&registry.url, "alpine").await,
        ["3.18", "3.19", "stable"]
    );
    for name in SCREENSHOTS {
        let png = std::fs::read(shots.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 5_000,
            "{name} is a picture"
        );
    }

    ui.stop().await;
    registry.stop().await;
}

/// Runs `tests/browser/<script> UI_URL SHOTS` and parses the JSON line it prints last.
async fn run_flow(script: &str, url: String, shots: PathBuf) -> Value {
    let script = browser_dir().join(script);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .arg(url)
            .arg(shots)
            .output()
            .expect("run node")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "browser flow failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().expect("a JSON line"))
        .unwrap_or_else(|e| panic!("bad output {stdout}: {e}"))
}

/// The disk-space pages in Chromium against a Wharf registry with a retention policy: the disk view
/// lists every repository, the preview names the doomed tag and the bytes it frees, confirming
/// deletes it (gone from the repository page, which shows push times), the trash lists it, and its
/// restore button brings it back, in the registry too.
#[tokio::test(flavor = "multi_thread")]
async fn retention_preview_apply_trash_and_restore_in_chromium() {
    check_tools();
    let registry = TestServer::start_env(&[
        ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
        ("REGISTRY_STORAGE_GC_SETTLEPERIOD", "1s"),
        // Freshly pushed content counts in the preview's bytes only without a grace period.
        ("REGISTRY_STORAGE_GC_GRACEPERIOD", "0s"),
        (
            "REGISTRY_RETENTION_POLICIES",
            r#"[{repositories: [alpine], delete: {tags: ['3\.18']}}]"#,
        ),
    ])
    .await;
    seed(&registry.url, true).await;
    let ui = UiServer::start(test_config(&registry.url)).await;
    let temp = tempfile::tempdir().unwrap();
    let shots = screenshots(temp.path());

    let seen = run_flow("retention_flow.mjs", ui.url.clone(), shots.clone()).await;

    let mut disk = strings(&seen["disk"]);
    disk.sort();
    assert_eq!(disk, ["alpine", "multi", "team/app", "team/tools/cli"]);
    assert!(strings(&seen["diskUnique"])
        .iter()
        .all(|u| u.ends_with('B')));
    assert_eq!(strings(&seen["doomed"]), ["3.18"]);
    assert!(
        strings(&seen["frees"])[0].ends_with('B') && strings(&seen["frees"])[0] != "0 B",
        "{seen}"
    );
    assert_eq!(seen["applied"], "Retention applied");
    assert_eq!(strings(&seen["appliedItems"]), ["alpine:3.18"]);
    assert_eq!(
        strings(&seen["tagsAfterApply"]),
        ["3.19", "latest", "stable"]
    );
    assert!(
        strings(&seen["pushed"]).iter().all(|p| p.len() == 16),
        "push times shown: {seen}"
    );
    assert_eq!(strings(&seen["trash"]), ["alpine:3.18"]);
    assert_eq!(seen["restored"], "Restored alpine:3.18");
    assert_eq!(
        strings(&seen["tagsAfterRestore"]),
        ["3.18", "3.19", "latest", "stable"]
    );
    assert!(
        strings(&seen["errors"]).is_empty(),
        "no script or CSP errors"
    );
    assert_eq!(
        registry_tags(&registry.url, "alpine").await,
        ["3.18", "3.19", "latest", "stable"]
    );
    for name in ["disk.png", "retention-preview.png", "trash.png"] {
        let png = std::fs::read(shots.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(png.starts_with(b"\x89PNG"), "{name} is a picture");
    }

    ui.stop().await;
    registry.stop().await;
}

//! The web UI's disk-space features against a real Wharf: the retention and trash forms refuse
//! cross-site posts and (for retention) a UI whose deletes are off, deleting nothing; the catalog and
//! repository pages sort by size and last push and show push times; pull-through caches are marked
//! in the catalog and the disk view.
mod common;
#[path = "common/ui_fixture.rs"]
mod ui_fixture;

use std::process::Command;

use common::TestServer;
use serde_json::json;
use ui_fixture::{
    client, get, push_image, registry_tags, seed, tag, test_config, ImageSpec, UiServer,
};
use wharf::ui::UiConfig;

const ALL_ALPINE: [&str; 4] = ["3.18", "3.19", "latest", "stable"];

/// Where `needle` is in `page` (panics when absent).
fn position(page: &str, needle: &str) -> usize {
    page.find(needle)
        .unwrap_or_else(|| panic!("{needle} not in the page"))
}

/// POSTs a form to `url`, as from `site` (`Sec-Fetch-Site`); returns the status.
async fn post_from(url: &str, site: &str, form: &[(&str, &str)]) -> u16 {
    client()
        .post(url)
        .header("sec-fetch-site", site)
        .form(form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A cross-site post to the retention or trash form is refused (403); with the UI's deletes off
/// the preview shows no apply button and a same-site post is refused (400); nothing is deleted.
#[tokio::test(flavor = "multi_thread")]
async fn disk_space_forms_refuse_cross_site_and_disabled_deletes() {
    let registry = TestServer::start_env(&[
        ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
        (
            "REGISTRY_RETENTION_POLICIES",
            r#"[{repositories: [alpine], delete: {tags: ['3\.18']}}]"#,
        ),
    ])
    .await;
    seed(&registry.url, false).await;
    let ui = UiServer::start(test_config(&registry.url)).await;
    let retention = format!("{}/retention", ui.url);
    assert_eq!(post_from(&retention, "cross-site", &[]).await, 403);
    let restore = [("repository", "alpine"), ("tag", "3.18")];
    let trash = format!("{}/trash", ui.url);
    assert_eq!(post_from(&trash, "cross-site", &restore).await, 403);
    ui.stop().await;

    let ui = UiServer::start(UiConfig::new(&registry.url)).await;
    let (status, page) = get(&format!("{}/retention", ui.url)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(">3.18</a>"), "the preview names the tag");
    assert!(!page.contains("into the trash</button>"), "no apply button");
    let retention = format!("{}/retention", ui.url);
    assert_eq!(post_from(&retention, "same-origin", &[]).await, 400);
    assert_eq!(registry_tags(&registry.url, "alpine").await, ALL_ALPINE);
    ui.stop().await;
    registry.stop().await;
}

/// The preview's form carries every previewed tag as `repository:tag@digest`; confirming a form that
/// lists only one of the two doomed tags deletes that one and leaves the other (it was not confirmed);
/// a value that is not `repository:tag@digest` is refused (400) and deletes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn confirming_applies_only_the_tags_the_form_carries() {
    let registry = TestServer::start_env(&[
        ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
        (
            "REGISTRY_RETENTION_POLICIES",
            r#"[{repositories: [alpine], delete: {tags: ['3\.18', stable]}}]"#,
        ),
    ])
    .await;
    seed(&registry.url, false).await;
    let ui = UiServer::start(test_config(&registry.url)).await;
    let retention = format!("{}/retention", ui.url);
    let (status, page) = get(&retention).await;
    assert_eq!(status, 200, "{page}");
    let confirms: Vec<&str> = page
        .split(r#"name="confirm" value=""#)
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect();
    assert_eq!(confirms.len(), 2, "{page}");
    let old = confirms
        .iter()
        .find(|c| c.starts_with("alpine:3.18@sha256:"))
        .expect("3.18 is previewed");

    assert_eq!(
        post_from(&retention, "same-origin", &[("confirm", "alpine:3.18")]).await,
        400
    );
    assert_eq!(registry_tags(&registry.url, "alpine").await, ALL_ALPINE);

    let answer = client()
        .post(&retention)
        .header("sec-fetch-site", "same-origin")
        .form(&[("confirm", *old)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.unwrap();
    assert!(text.contains("1 tag went to the trash"), "{text}");
    assert_eq!(
        registry_tags(&registry.url, "alpine").await,
        ["3.19", "latest", "stable"]
    );
    ui.stop().await;
    registry.stop().await;
}

/// The catalog sorts by size within a namespace (`aaa`, the smallest, moves last) and marks the
/// repository pulled through the cache as a mirror, as the disk view does; the repository page
/// shows push times and sorts by last push (an aged tag goes last) and by size.
#[tokio::test(flavor = "multi_thread")]
async fn sorting_push_times_and_the_mirror_mark() {
    let hub = TestServer::start().await;
    let small = ImageSpec {
        seed: "tiny",
        created: "2024-01-01T00:00:00Z",
        arch: "amd64",
        layer_len: 10,
        labels: json!({}),
        history: &[],
    };
    let busybox = push_image(&hub.url, "library/busybox", &small).await;
    tag(&hub.url, "library/busybox", "1", &busybox).await;
    let newer = ImageSpec {
        seed: "newer",
        created: "2024-02-01T00:00:00Z",
        arch: "amd64",
        layer_len: 20,
        labels: json!({}),
        history: &[],
    };
    let uncached = push_image(&hub.url, "library/busybox", &newer).await;
    tag(&hub.url, "library/busybox", "2", &uncached).await;
    let upstreams = format!("[{{prefix: docker.io, remoteurl: '{}'}}]", hub.url);
    let cache = TestServer::start_env(&[
        ("REGISTRY_PROXY_UPSTREAMS", upstreams.as_str()),
        ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
    ])
    .await;
    seed(&cache.url, false).await;
    let aaa = push_image(&cache.url, "aaa", &small).await;
    tag(&cache.url, "aaa", "1", &aaa).await;
    let pulled = client()
        .get(format!(
            "{}/v2/docker.io/library/busybox/manifests/1",
            cache.url
        ))
        .header("accept", busybox["mediaType"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(pulled.status(), 200, "pulled through the cache");
    let link = cache
        .root
        .join("docker/registry/v2/repositories/alpine/_manifests/tags/3.18/current/link");
    assert!(Command::new("touch")
        .args(["-d", "10 hours ago"])
        .arg(&link)
        .status()
        .unwrap()
        .success());
    let ui = UiServer::start(test_config(&cache.url)).await;

    let (_, by_name) = get(&ui.url).await;
    assert!(position(&by_name, ">aaa</a>") < position(&by_name, ">alpine</a>"));
    let (_, by_size) = get(&format!("{}/?sort=size", ui.url)).await;
    assert!(position(&by_size, ">alpine</a>") < position(&by_size, ">multi</a>"));
    assert!(position(&by_size, ">multi</a>") < position(&by_size, ">aaa</a>"));
    let mirror = r#">docker.io/library/busybox</a> <span class="chip mirror""#;
    assert!(by_name.contains(mirror), "{by_name}");
    assert!(!by_name.contains(r#">alpine</a> <span class="chip mirror""#));
    let (_, disk) = get(&format!("{}/disk", ui.url)).await;
    assert!(disk.contains(mirror), "{disk}");
    let (_, cached) = get(&format!("{}/r/docker.io/library/busybox?sort=size", ui.url)).await;
    assert!(cached.contains("/-/tags/1\""), "{cached}");
    assert!(
        !cached.contains("/-/tags/2\""),
        "only the cached tag: {cached}"
    );
    let tags_dir = cache
        .root
        .join("docker/registry/v2/repositories/docker.io/library/busybox/_manifests/tags");
    let stored: Vec<_> = std::fs::read_dir(tags_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(stored, ["1"], "browsing pulled nothing through the cache");
    assert_eq!(
        registry_tags(&cache.url, "docker.io/library/busybox").await,
        ["1", "2"],
        "the tag list itself is the upstream's"
    );

    let (_, repo) = get(&format!("{}/r/alpine", ui.url)).await;
    assert!(repo.contains("<th>Pushed</th><th>Last pulled</th>"));
    assert!(position(&repo, ">3.18</a>") < position(&repo, ">3.19</a>"));
    let (_, pushed) = get(&format!("{}/r/alpine?sort=pushed", ui.url)).await;
    assert!(pushed.contains("<strong>last push</strong>"));
    assert!(position(&pushed, ">3.19</a>") < position(&pushed, ">3.18</a>"));
    let (_, size) = get(&format!("{}/r/alpine?sort=size", ui.url)).await;
    assert!(position(&size, ">3.19</a>") < position(&size, ">3.18</a>"));

    ui.stop().await;
    cache.stop().await;
    hub.stop().await;
}

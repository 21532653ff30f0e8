//! The web UI's pages against a real Wharf holding pushed content: catalog (namespaces, filter,
//! pagination, tag counts, sizes), repository (tags, sizes, dates, platforms, digests, sort,
//! pagination), tag (layers, history, labels, platforms, referrers, pull command), deletes through
//! the confirmation pages, error pages, escaping and Basic credential pass-through.
mod common;
#[path = "common/ui_fixture.rs"]
mod ui_fixture;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use common::TestServer;
use serde_json::Value;
use ui_fixture::{
    client, get, registry_tags, seed, test_config, Fixture, UiServer, HOSTILE_LABEL, SBOM_TYPE,
};
use wharf::ui::UiConfig;

/// A registry with the fixture and a UI in front of it, tuned by `tweak`.
async fn setup(tweak: impl FnOnce(&mut UiConfig)) -> (TestServer, UiServer, Fixture) {
    let registry = TestServer::start().await;
    let fixture = seed(&registry.url, true).await;
    let mut config = test_config(&registry.url);
    tweak(&mut config);
    let ui = UiServer::start(config).await;
    (registry, ui, fixture)
}

async fn teardown(registry: TestServer, ui: UiServer) {
    ui.stop().await;
    registry.stop().await;
}

fn short(digest: &str) -> &str {
    &digest[..19]
}

/// Sum of config and layer sizes of a manifest, read from the registry.
async fn image_bytes(base: &str, repo: &str, digest: &str) -> u64 {
    let m: Value = client()
        .get(format!("{base}/v2/{repo}/manifests/{digest}"))
        .header("accept", ui_fixture::OCI_MANIFEST)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let layers: u64 = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_u64().unwrap())
        .sum();
    layers + m["config"]["size"].as_u64().unwrap()
}

fn position(body: &str, needle: &str) -> usize {
    body.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in page"))
}

async fn post_form(url: &str, form: &[(&str, &str)]) -> (u16, String) {
    let r = client().post(url).form(form).send().await.expect("POST");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

/// The catalog groups repositories by namespace and shows each one's tag count and the bytes of its
/// distinct blobs.
#[tokio::test(flavor = "multi_thread")]
async fn catalog_shows_namespaces_tag_counts_and_sizes() {
    let (registry, ui, f) = setup(|_| {}).await;
    let (status, body) = get(&ui.url).await;
    assert_eq!(status, 200, "{body}");
    for repo in ["alpine", "multi", "team/app", "team/tools/cli"] {
        assert!(
            body.contains(&format!("href=\"/r/{repo}\">{repo}</a>")),
            "{repo} linked"
        );
    }
    assert!(body.contains("(top level)"));
    assert!(body.contains("team/"), "team namespace group");
    assert!(body.contains("4 repositories"));
    let alpine_row = &body[position(&body, ">alpine</a>")..];
    let cells: Vec<&str> = alpine_row.split("<td").take(3).collect();
    assert!(cells[1].contains(">4<"), "alpine has 4 tags: {}", cells[1]);
    let expected = image_bytes(&registry.url, "alpine", &f.alpine_current).await
        + image_bytes(&registry.url, "alpine", &f.alpine_old).await;
    assert!(
        cells[2].contains(&format!("title=\"{expected} bytes\"")),
        "alpine size {expected}: {}",
        cells[2]
    );
    teardown(registry, ui).await;
}

/// `?q=` filters case-insensitively, and the catalog paginates server-side while following the
/// upstream's `_catalog` Link pages.
#[tokio::test(flavor = "multi_thread")]
async fn catalog_filter_and_pagination() {
    let (registry, ui, _) = setup(|c| {
        c.catalog_page_size = 2;
        c.catalog_elements_limit = 1;
    })
    .await;
    let (_, body) = get(&format!("{}/?q=TOOLS", ui.url)).await;
    assert!(body.contains(">team/tools/cli</a>"));
    assert!(!body.contains(">alpine</a>") && !body.contains(">team/app</a>"));
    assert!(body.contains("value=\"TOOLS\""), "filter kept in the form");

    let (_, page1) = get(&ui.url).await;
    assert!(page1.contains(">alpine</a>") && page1.contains(">multi</a>"));
    assert!(!page1.contains(">team/app</a>"));
    assert!(page1.contains("href=\"/?page=2\""), "next link");
    assert!(page1.contains("Page 1 of 2"));
    let (_, page2) = get(&format!("{}/?page=2", ui.url)).await;
    assert!(page2.contains(">team/app</a>") && page2.contains(">team/tools/cli</a>"));
    assert!(!page2.contains(">alpine</a>"));

    let (_, filtered) = get(&format!("{}/?q=team&page=1", ui.url)).await;
    assert!(filtered.contains("2 repositories match"));
    let (_, none) = get(&format!("{}/?q=zzz", ui.url)).await;
    assert!(none.contains("No repository matches"));
    teardown(registry, ui).await;
}

/// The repository page lists tags with compressed size, creation date, platforms and digest, and
/// sorts by name or newest first.
#[tokio::test(flavor = "multi_thread")]
async fn repository_page_lists_tags_with_details_and_sorts() {
    let (registry, ui, f) = setup(|_| {}).await;
    let (status, body) = get(&format!("{}/r/alpine", ui.url)).await;
    assert_eq!(status, 200, "{body}");
    for t in ["3.18", "3.19", "latest", "stable"] {
        assert!(body.contains(&format!("href=\"/r/alpine/-/tags/{t}\">{t}</a>")));
    }
    assert!(body.contains("3.0 kB"), "3.19 layer size");
    assert!(body.contains("2.0 kB"), "3.18 layer size");
    assert!(body.contains("2024-01-15 10:00"));
    assert!(body.contains("2023-06-01 08:00"));
    assert!(body.contains("linux/amd64"));
    assert!(body.contains(short(&f.alpine_current)));
    assert!(body.contains(short(&f.alpine_old)));
    assert!(position(&body, ">3.18</a>") < position(&body, ">3.19</a>"));

    let (_, newest) = get(&format!("{}/r/alpine?sort=newest", ui.url)).await;
    assert!(position(&newest, ">3.19</a>") < position(&newest, ">3.18</a>"));
    assert!(newest.contains("<strong>newest first</strong>"));

    let (_, multi) = get(&format!("{}/r/multi", ui.url)).await;
    assert!(multi.contains("linux/amd64") && multi.contains("linux/arm64/v8"));
    assert!(
        multi.contains("2.5 kB"),
        "index size is both platforms' layers"
    );
    assert!(multi.contains(short(&f.multi_index)));

    let (_, nested) = get(&format!("{}/r/team/tools/cli", ui.url)).await;
    assert!(nested.contains("href=\"/r/team/tools/cli/-/tags/1.0\""));
    teardown(registry, ui).await;
}

/// Tags are paginated `taglist_page_size` at a time.
#[tokio::test(flavor = "multi_thread")]
async fn repository_tags_paginate() {
    let (registry, ui, _) = setup(|c| c.taglist_page_size = 2).await;
    let (_, page1) = get(&format!("{}/r/alpine", ui.url)).await;
    assert!(page1.contains(">3.18</a>") && page1.contains(">3.19</a>"));
    assert!(!page1.contains(">latest</a>"));
    assert!(page1.contains("href=\"/r/alpine?sort=name&#38;page=2\""));
    let (_, page2) = get(&format!("{}/r/alpine?sort=name&page=2", ui.url)).await;
    assert!(page2.contains(">latest</a>") && page2.contains(">stable</a>"));
    assert!(!page2.contains(">3.18</a>"));
    teardown(registry, ui).await;
}

/// The tag page shows digest, layers, history with its Dockerfile view, labels (escaped),
/// referrers and the pull command with the host the browser used.
#[tokio::test(flavor = "multi_thread")]
async fn tag_page_shows_image_details() {
    let (registry, ui, f) = setup(|_| {}).await;
    let (status, body) = get(&format!("{}/r/alpine/-/tags/3.19", ui.url)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&f.alpine_current));
    assert!(body.contains("3.0 kB"));
    assert!(
        body.contains("/bin/sh -c apk add --no-cache curl"),
        "history"
    );
    assert!(
        body.contains("RUN apk add --no-cache curl"),
        "Dockerfile view"
    );
    assert!(body.contains("CMD [&#34;/bin/sh&#34;]"));
    assert!(body.contains("org.opencontainers.image.title"), "labels");
    assert!(!body.contains(HOSTILE_LABEL), "label is escaped");
    assert!(body.contains("&#60;script&#62;alert("));
    assert!(body.contains(SBOM_TYPE), "referrer artifact type");
    assert!(body.contains(short(f.referrer.as_deref().unwrap())));
    assert!(body.contains(&format!("docker pull {}/alpine:3.19", ui.addr)));
    teardown(registry, ui).await;
}

/// `PULL_URL` replaces the host in the pull command.
#[tokio::test(flavor = "multi_thread")]
async fn pull_url_sets_the_pull_host() {
    let (registry, ui, _) =
        setup(|c| c.pull_url = Some("https://registry.example.com/".into())).await;
    let (_, body) = get(&format!("{}/r/team/app/-/tags/v1", ui.url)).await;
    assert!(body.contains("docker pull registry.example.com/team/app:v1"));
    teardown(registry, ui).await;
}

/// An index's tag page offers its platforms and shows the chosen one's layers.
#[tokio::test(flavor = "multi_thread")]
async fn index_tag_page_selects_platforms() {
    let (registry, ui, f) = setup(|_| {}).await;
    let [amd, arm] = &f.multi_children;
    let (_, body) = get(&format!("{}/r/multi/-/tags/1.0", ui.url)).await;
    assert!(body.contains("linux/amd64") && body.contains("linux/arm64/v8"));
    assert!(body.contains(&format!("<option value=\"{arm}\"")));
    assert!(
        body.contains(&format!("Showing <code>{amd}</code>")),
        "amd64 by default"
    );
    assert!(body.contains("1.0 kB") && !body.contains("1.5 kB"));
    let (_, arm_page) = get(&format!("{}/r/multi/-/tags/1.0?platform={arm}", ui.url)).await;
    assert!(arm_page.contains(&format!("Showing <code>{arm}</code>")));
    assert!(arm_page.contains("1.5 kB"), "arm64 layer");
    teardown(registry, ui).await;
}

/// Selecting a tag that shares its digest leads to a confirmation naming every other tag on that
/// image and warning that deleting by digest removes them.
#[tokio::test(flavor = "multi_thread")]
async fn delete_confirmation_lists_sibling_tags() {
    let (registry, ui, f) = setup(|_| {}).await;
    let (status, body) = post_form(
        &format!("{}/r/alpine/-/delete", ui.url),
        &[("step", "confirm"), ("tag", "3.19")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<span class=\"chip warn sibling\">latest</span>"));
    assert!(body.contains("<span class=\"chip warn sibling\">stable</span>"));
    assert!(body.contains("every tag pointing at it"));
    assert!(body.contains(&format!("name=\"digest\" value=\"{}\"", f.alpine_current)));
    assert!(body.contains("Delete 1 image and 3 tags"));
    assert_eq!(
        registry_tags(&registry.url, "alpine").await,
        ["3.18", "3.19", "latest", "stable"],
        "nothing deleted by the confirmation"
    );
    teardown(registry, ui).await;
}

/// "Remove only the selected tags" deletes just that tag; the image stays under its other tags.
#[tokio::test(flavor = "multi_thread")]
async fn delete_single_tag_through_confirmation() {
    let (registry, ui, f) = setup(|_| {}).await;
    let url = format!("{}/r/alpine/-/delete", ui.url);
    let (status, body) = post_form(&url, &[("step", "tags"), ("tag", "latest")]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Deleted from alpine"));
    assert_eq!(
        registry_tags(&registry.url, "alpine").await,
        ["3.18", "3.19", "stable"]
    );
    let r = client()
        .head(format!(
            "{}/v2/alpine/manifests/{}",
            registry.url, f.alpine_current
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the image itself remains");
    let (_, page) = get(&format!("{}/r/alpine", ui.url)).await;
    assert!(!page.contains(">latest</a>"));
    teardown(registry, ui).await;
}

/// "Delete the images" deletes by digest, taking every tag on the image with it.
#[tokio::test(flavor = "multi_thread")]
async fn delete_by_digest_removes_all_its_tags() {
    let (registry, ui, f) = setup(|_| {}).await;
    let url = format!("{}/r/alpine/-/delete", ui.url);
    let (status, body) =
        post_form(&url, &[("step", "digests"), ("digest", &f.alpine_current)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(registry_tags(&registry.url, "alpine").await, ["3.18"]);
    let r = client()
        .head(format!(
            "{}/v2/alpine/manifests/{}",
            registry.url, f.alpine_current
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    teardown(registry, ui).await;
}

/// Deleting a repository confirms with its tags, then deletes every image by digest.
#[tokio::test(flavor = "multi_thread")]
async fn delete_whole_repository() {
    let (registry, ui, _) = setup(|_| {}).await;
    let (status, confirm) = get(&format!("{}/r/team/app/-/delete-repository", ui.url)).await;
    assert_eq!(status, 200, "{confirm}");
    assert!(confirm.contains(">v1</span>") && confirm.contains(">v2</span>"));
    let digests: Vec<(&str, String)> = confirm
        .split("name=\"digest\" value=\"")
        .skip(1)
        .map(|rest| ("digest", rest.split('"').next().unwrap().to_string()))
        .collect();
    assert_eq!(digests.len(), 2);
    let form: Vec<(&str, &str)> = digests.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) =
        post_form(&format!("{}/r/team/app/-/delete-repository", ui.url), &form).await;
    assert_eq!(status, 200, "{body}");
    assert!(registry_tags(&registry.url, "team/app").await.is_empty());
    assert_eq!(
        registry_tags(&registry.url, "team/tools/cli").await,
        ["1.0"]
    );
    teardown(registry, ui).await;
}

/// Deletes are refused when disabled, and forms posted from another site are refused.
#[tokio::test(flavor = "multi_thread")]
async fn deletes_refused_when_disabled_or_cross_site() {
    let (registry, ui, _) = setup(|c| c.delete_enabled = false).await;
    let (_, page) = get(&format!("{}/r/alpine", ui.url)).await;
    assert!(!page.contains("Delete selected"));
    let (status, body) = post_form(
        &format!("{}/r/alpine/-/delete", ui.url),
        &[("step", "tags"), ("tag", "latest")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("DELETE_IMAGES"));
    ui.stop().await;

    let ui = UiServer::start(test_config(&registry.url)).await;
    let r = client()
        .post(format!("{}/r/alpine/-/delete", ui.url))
        .header("sec-fetch-site", "cross-site")
        .form(&[("step", "tags"), ("tag", "latest")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        registry_tags(&registry.url, "alpine").await,
        ["3.18", "3.19", "latest", "stable"]
    );
    teardown(registry, ui).await;
}

/// Unknown repositories, tags and pages, and an unreachable registry, give clear error pages.
#[tokio::test(flavor = "multi_thread")]
async fn errors_are_pages() {
    let (registry, ui, _) = setup(|_| {}).await;
    let (status, body) = get(&format!("{}/r/nothing-here", ui.url)).await;
    assert_eq!(status, 404);
    assert!(body.contains("Not found"));
    let (status, _) = get(&format!("{}/r/alpine/-/tags/nope", ui.url)).await;
    assert_eq!(status, 404);
    let (status, _) = get(&format!("{}/r/Bad_Name", ui.url)).await;
    assert_eq!(status, 404);
    teardown(registry, ui).await;

    let down = UiServer::start(test_config("http://127.0.0.1:1")).await;
    let (status, body) = get(&down.url).await;
    assert_eq!(status, 502);
    assert!(body.contains("cannot reach the registry"));
    down.stop().await;
}

/// The stylesheet and script are served from the binary, and pages carry a strict CSP.
#[tokio::test(flavor = "multi_thread")]
async fn assets_and_security_headers() {
    let (registry, ui, _) = setup(|c| c.theme = wharf::ui::Theme::Dark).await;
    let r = client()
        .get(format!("{}/assets/style.css", ui.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/css; charset=utf-8");
    let etag = r.headers()["etag"].clone();
    assert!(r.text().await.unwrap().contains("prefers-color-scheme"));
    let r = client()
        .get(format!("{}/assets/style.css", ui.url))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let r = client().get(&ui.url).send().await.unwrap();
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    assert!(r.text().await.unwrap().contains("data-theme=\"dark\""));
    teardown(registry, ui).await;
}

/// A stand-in upstream that wants Basic credentials `user:pass`.
async fn basic_auth_upstream(headers: HeaderMap, uri: axum::http::Uri) -> axum::response::Response {
    let ok = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v == "Basic dXNlcjpwYXNz");
    if !ok {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"upstream\"")],
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        )
            .into_response();
    }
    match uri.path() {
        "/v2/_catalog" => {
            axum::Json(serde_json::json!({"repositories": ["secret/app"]})).into_response()
        }
        "/v2/secret/app/tags/list" => {
            axum::Json(serde_json::json!({"name": "secret/app", "tags": []})).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Without credentials the UI answers 401 with a Basic challenge (so the browser prompts); with
/// them, it forwards them to the upstream on page loads and through the `/v2/` proxy.
#[tokio::test(flavor = "multi_thread")]
async fn basic_credentials_pass_through() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let fake = tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().fallback(basic_auth_upstream))
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    let mut config = test_config(&upstream);
    config.title = "My \"Registry\"".into();
    let ui = UiServer::start(config).await;

    let r = client().get(&ui.url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Basic realm=\"My Registry\", charset=\"UTF-8\""
    );
    assert!(r.text().await.unwrap().contains("Sign-in required"));

    let r = client()
        .get(&ui.url)
        .basic_auth("user", Some("pass"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains(">secret/app</a>"));

    let r = client()
        .get(format!("{}/v2/_catalog", ui.url))
        .basic_auth("user", Some("pass"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .get(format!("{}/v2/_catalog", ui.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "the proxy passes the upstream's challenge through"
    );
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"upstream\"");

    ui.stop().await;
    let _ = stop.send(());
    fake.await.unwrap().unwrap();
}

//! The web UI embedded in `wharf serve` (`REGISTRY_UI_ENABLED=true`): pages under `/ui/` beside the
//! registry API, every link under that path, deletes through the confirmation, the API and `GET /`
//! unchanged, htpasswd credentials passed through, and TLS serving with HTTP/2 (the UI calls the
//! registry in process, so it needs no certificate of its own).
mod auth_support;
#[path = "common/certs.rs"]
mod certs;
mod common;
#[path = "common/ui_fixture.rs"]
mod ui_fixture;

use common::TestServer;
use ui_fixture::{client, get, registry_tags, seed};

/// Variables turning the UI on, deletes included.
const UI_ON: [(&str, &str); 4] = [
    ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
    ("REGISTRY_UI_ENABLED", "true"),
    ("REGISTRY_UI_DELETEIMAGES", "true"),
    ("REGISTRY_UI_TITLE", "One box"),
];

/// Every `href`, `action` and `src` of a page.
fn targets(body: &str) -> Vec<String> {
    let re = regex_lite::Regex::new(r#"(?:href|action|src)="([^"]*)""#).unwrap();
    re.captures_iter(body).map(|c| c[1].to_string()).collect()
}

/// Asserts that every address a page points at is under `/ui/`.
fn all_under_ui(page: &str, body: &str) {
    let targets = targets(body);
    assert!(!targets.is_empty(), "{page} has links");
    for t in targets {
        assert!(t.starts_with("/ui/"), "{page} points at {t:?}");
    }
}

/// Catalog, repository and tag pages are served under `/ui/` with every link, form and asset under
/// it; a tag is deleted through the confirmation; `/ui` redirects; the API and `GET /` are unchanged.
#[tokio::test(flavor = "multi_thread")]
async fn browse_and_delete_under_ui_path() {
    let server = TestServer::start_env(&UI_ON).await;
    seed(&server.url, true).await;
    let base = &server.url;

    let (status, catalog) = get(&format!("{base}/ui/")).await;
    assert_eq!(status, 200, "{catalog}");
    assert!(catalog.contains("One box"));
    for repo in ["alpine", "multi", "team/app", "team/tools/cli"] {
        assert!(
            catalog.contains(&format!("href=\"/ui/r/{repo}\">{repo}</a>")),
            "{repo}"
        );
    }
    assert!(catalog.contains("href=\"/ui/assets/style.css\""));
    all_under_ui("catalog", &catalog);

    let (status, repo) = get(&format!("{base}/ui/r/alpine")).await;
    assert_eq!(status, 200, "{repo}");
    assert!(repo.contains("href=\"/ui/r/alpine/-/tags/3.19\""));
    all_under_ui("repository", &repo);

    let (status, tag) = get(&format!("{base}/ui/r/alpine/-/tags/3.19")).await;
    assert_eq!(status, 200, "{tag}");
    assert!(tag.contains(&format!("docker pull {}/alpine:3.19", server.host())));
    all_under_ui("tag", &tag);

    let r = client()
        .post(format!("{base}/ui/r/alpine/-/delete"))
        .form(&[("step", "confirm"), ("tag", "latest")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let confirm = r.text().await.unwrap();
    assert!(
        confirm.contains("class=\"chip warn sibling\">3.19<"),
        "{confirm}"
    );
    all_under_ui("confirmation", &confirm);
    let r = client()
        .post(format!("{base}/ui/r/alpine/-/delete"))
        .form(&[("step", "tags"), ("tag", "latest")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        registry_tags(base, "alpine").await,
        ["3.18", "3.19", "stable"]
    );

    let r = client().get(format!("{base}/ui")).send().await.unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/ui/");
    let (status, root) = get(&format!("{base}/")).await;
    assert_eq!(
        (status, root.as_str()),
        (200, ""),
        "GET / stays for load balancers"
    );
    let r = client().get(format!("{base}/v2/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    assert!(!r.headers().contains_key("content-security-policy"));
    let (status, _) = get(&format!("{base}/ui/assets/app.js")).await;
    assert_eq!(status, 200);
    server.stop().await;
}

/// Without `ui.enabled` there is no UI; `ui.path` moves it.
#[tokio::test(flavor = "multi_thread")]
async fn off_by_default_and_path_configurable() {
    let server = TestServer::start().await;
    let (status, _) = get(&format!("{}/ui/", server.url)).await;
    assert_eq!(status, 404);
    server.stop().await;

    let server = TestServer::start_env(&[
        ("REGISTRY_UI_ENABLED", "true"),
        ("REGISTRY_UI_PATH", "/browse/"),
    ])
    .await;
    let (status, body) = get(&format!("{}/browse/", server.url)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("href=\"/browse/assets/style.css\""));
    assert!(body.contains("The registry has no repositories yet."));
    server.stop().await;
}

/// With htpasswd authentication the pages answer 401 with a Basic challenge until the browser sends
/// credentials the registry accepts, and work with them.
#[tokio::test(flavor = "multi_thread")]
async fn htpasswd_credentials_pass_through() {
    const ALICE: (&str, &str) = ("alice", "alice-password");
    let (_dir, path) = auth_support::users_dir(&[ALICE]);
    let server = auth_support::start(&path, &[("REGISTRY_UI_ENABLED", "true")]).await;
    assert_eq!(
        auth_support::push_image(&server, "team/app", "v1", Some(ALICE)).await,
        201
    );
    let page = |path: &str, creds: Option<(&str, &str)>| {
        let r = client().get(format!("{}{path}", server.url));
        match creds {
            Some((u, p)) => r.basic_auth(u, Some(p)),
            None => r,
        }
        .send()
    };
    let r = page("/ui/", None).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Basic realm=\"Wharf\", charset=\"UTF-8\""
    );
    let r = page("/ui/", Some(("alice", "wrong"))).await.unwrap();
    assert_eq!(r.status(), 401);
    let r = page("/ui/", Some(ALICE)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains(">team/app</a>"));
    let r = page("/ui/r/team/app/-/tags/v1", Some(ALICE)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("team/app:v1"));
    server.stop().await;
}

/// Over TLS the embedded UI works: it reads the registry in process, not through the certificate;
/// over HTTP/2 the pull command names the host from `:authority`.
#[tokio::test(flavor = "multi_thread")]
async fn served_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = certs::Ca::new("Test CA");
    let leaf = ca.server(dir.path(), "server");
    let server = TestServer::start_env(&[
        ("REGISTRY_HTTP_TLS_CERTIFICATE", leaf.cert.to_str().unwrap()),
        ("REGISTRY_HTTP_TLS_KEY", leaf.key.to_str().unwrap()),
        ("REGISTRY_UI_ENABLED", "true"),
    ])
    .await;
    let https = ca.client().build().unwrap();
    let (config, layer) = (b"{}".as_slice(), b"tls layer".as_slice());
    for blob in [config, layer] {
        let r = https
            .post(format!(
                "{}/v2/tls/app/blobs/uploads/?digest={}",
                server.url,
                common::sha256(blob)
            ))
            .body(blob.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let r = https
        .put(format!("{}/v2/tls/app/manifests/v1", server.url))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(common::image_manifest(config, &[layer]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = https
        .get(format!("{}/ui/r/tls/app", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("href=\"/ui/r/tls/app/-/tags/v1\""));
    let r = https
        .get(format!("{}/ui/r/tls/app/-/tags/v1", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    let pull = format!("docker pull {}/tls/app:v1", server.host());
    assert!(
        r.text().await.unwrap().contains(&pull),
        "host from :authority"
    );
    server.stop().await;
}

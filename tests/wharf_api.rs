//! Wharf's API extension under `/v2/_wharf/`, through a real server on `127.0.0.1:0`: the retention
//! preview is the document `wharf retention --json` prints, applying it moves tags to the trash, the
//! trash lists them and a restore brings one back; the disk view splits unique from shared bytes and
//! feeds `wharf_repository_bytes` for every repository; per-tag push and pull times. Who may call it
//! (admin = delete on every repository) and read-only mode refusing its POSTs.
mod auth_support;
mod common;

use std::path::Path;
use std::process::Command;

use common::{
    error_code, http, image_manifest, metrics_text, push_blob, put_manifest, sha256, TestServer,
};
use reqwest::Method;
use serde_json::{json, Value};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const POLICY: (&str, &str) = (
    "REGISTRY_RETENTION_POLICIES",
    r#"[{repositories: ["team/*"], keep: {latest: 1}}]"#,
);
const SETTLE: (&str, &str) = ("REGISTRY_STORAGE_GC_SETTLEPERIOD", "1s");
const GRACE: (&str, &str) = ("REGISTRY_STORAGE_GC_GRACEPERIOD", "0s");
const DELETE: (&str, &str) = ("REGISTRY_STORAGE_DELETE_ENABLED", "true");
const METRICS: (&str, &str) = ("REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED", "true");
const SHARED_LAYER: &[u8] = b"a base layer both repositories use";

/// Pushes an image of a config unique to `seed`, the shared layer and a layer of its own.
async fn push(server: &TestServer, repo: &str, tag: &str, seed: &str) -> String {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{seed}"}}"#).into_bytes();
    let own = format!("own layer of {seed}").into_bytes();
    for bytes in [config.as_slice(), SHARED_LAYER, &own] {
        push_blob(server, repo, bytes).await;
    }
    let manifest = image_manifest(&config, &[SHARED_LAYER, &own]);
    let r = put_manifest(server, repo, tag, OCI_MANIFEST, &manifest).await;
    assert_eq!(r.status(), 201, "push {repo}:{tag}");
    sha256(&manifest)
}

/// Sets a tag's push time to `hours` ago.
fn age(root: &Path, repo: &str, tag: &str, hours: u32) {
    let link = root.join(format!(
        "docker/registry/v2/repositories/{repo}/_manifests/tags/{tag}/current/link"
    ));
    common::age(&link, hours);
}

async fn get_json(server: &TestServer, path: &str) -> Value {
    let r = http()
        .get(format!("{}{path}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

async fn post(server: &TestServer, path: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = http().post(format!("{}{path}", server.url));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn tags(server: &TestServer, repo: &str) -> Vec<String> {
    let body = get_json(server, &format!("/v2/{repo}/tags/list")).await;
    let mut tags: Vec<String> = body["tags"]
        .as_array()
        .map(|t| t.iter().map(|t| t.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    tags.sort();
    tags
}

/// `wharf retention --json` on the server's storage, parsed.
fn cli_preview(root: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["retention", "--json"])
        .env(
            "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY",
            root.to_str().unwrap(),
        )
        .envs([POLICY, SETTLE, GRACE, DELETE])
        .output()
        .expect("run wharf");
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The preview over HTTP is the CLI's document and deletes nothing; applying it deletes the older
/// tags into the trash; the trash lists them; a restore brings one back (and it pulls again) and
/// empties its entry; restoring what is not in the trash is 404 `MANIFEST_UNKNOWN`, a malformed
/// body 400. Applying and restoring through the API show in the retention and trash metrics.
#[tokio::test(flavor = "multi_thread")]
async fn preview_apply_trash_and_restore_over_http() {
    let (server, debug) =
        TestServer::start_with_debug(&[POLICY, SETTLE, GRACE, DELETE, METRICS]).await;
    for (i, hours) in [(1, 3), (2, 2), (3, 1)] {
        push(&server, "team/app", &format!("v{i}"), &format!("v{i}")).await;
        age(&server.root, "team/app", &format!("v{i}"), hours);
    }

    let preview = get_json(&server, "/v2/_wharf/retention").await;
    assert_eq!(
        preview,
        cli_preview(&server.root),
        "same document as the CLI"
    );
    assert_eq!(preview["dryRun"], true);
    assert_eq!(preview["tagsDeleted"], 2);
    assert!(preview["repositories"][0]["bytesFreed"].as_u64().unwrap() > 0);
    assert_eq!(tags(&server, "team/app").await, ["v1", "v2", "v3"]);

    let r = post(&server, "/v2/_wharf/retention", None).await;
    assert_eq!(r.status(), 200);
    let applied: Value = r.json().await.unwrap();
    assert_eq!(applied["dryRun"], false);
    assert_eq!(applied["tagsDeleted"], 2);
    assert_eq!(tags(&server, "team/app").await, ["v3"]);

    let trash = get_json(&server, "/v2/_wharf/trash").await;
    let trashed = common::trash_tags(&trash);
    assert_eq!(trashed, ["v1", "v2"]);
    let metrics = metrics_text(&debug).await;
    for line in [
        "wharf_retention_deleted_tags_total 2",
        "wharf_trash_tags 2",
        "wharf_gc_runs_total{result=\"success\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }

    let restore = json!({"repository": "team/app", "tag": "v1"});
    let r = post(&server, "/v2/_wharf/trash/restore", Some(restore.clone())).await;
    assert_eq!(r.status(), 200);
    assert_eq!(tags(&server, "team/app").await, ["v1", "v3"]);
    let pulled = http()
        .get(format!("{}/v2/team/app/manifests/v1", server.url))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(pulled.status(), 200);
    let trash = get_json(&server, "/v2/_wharf/trash").await;
    assert_eq!(trash.as_array().unwrap().len(), 1);
    assert!(metrics_text(&debug).await.contains("wharf_trash_tags 1"));

    let again = post(&server, "/v2/_wharf/trash/restore", Some(restore)).await;
    assert_eq!(again.status(), 404);
    assert_eq!(error_code(again).await, "MANIFEST_UNKNOWN");
    let garbage = post(&server, "/v2/_wharf/trash/restore", Some(json!({"tag": 1}))).await;
    assert_eq!(garbage.status(), 400);
    assert_eq!(error_code(garbage).await, "UNSUPPORTED");
    server.stop().await;
}

/// Applying with the previewed tags in the body deletes only those the policies still doom at the
/// same digest: a tag that became due after the preview (a newer push) and a previewed tag pushed
/// again since (another digest) both stay. A body that is not the list is 400, a bad digest
/// `DIGEST_INVALID`; neither deletes anything.
#[tokio::test(flavor = "multi_thread")]
async fn a_confirmed_preview_deletes_only_what_was_previewed() {
    let server = TestServer::start_env(&[POLICY, SETTLE, GRACE, DELETE]).await;
    for (i, hours) in [(1, 3), (2, 2), (3, 1)] {
        push(&server, "team/app", &format!("v{i}"), &format!("v{i}")).await;
        age(&server.root, "team/app", &format!("v{i}"), hours);
    }
    let preview = get_json(&server, "/v2/_wharf/retention").await;
    let previewed: Vec<Value> = preview["repositories"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| json!({"repository": "team/app", "tag": t["tag"], "digest": t["digest"]}))
        .collect();
    let names: Vec<&str> = previewed
        .iter()
        .map(|t| t["tag"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["v2", "v1"]);

    push(&server, "team/app", "v4", "v4").await;
    push(&server, "team/app", "v1", "v1 again").await;
    age(&server.root, "team/app", "v1", 3);
    let now_due = get_json(&server, "/v2/_wharf/retention").await;
    assert_eq!(
        now_due["tagsDeleted"], 3,
        "v1, v2 and v3 are due now: {now_due}"
    );

    for (body, code) in [
        (json!({"tags": "v2"}), "UNSUPPORTED"),
        (
            json!({"tags": [{"repository": "team/app", "tag": "v2", "digest": "sha256:no"}]}),
            "DIGEST_INVALID",
        ),
    ] {
        let r = post(&server, "/v2/_wharf/retention", Some(body)).await;
        assert_eq!(r.status(), 400);
        assert_eq!(error_code(r).await, code);
    }
    assert_eq!(tags(&server, "team/app").await, ["v1", "v2", "v3", "v4"]);

    let r = post(
        &server,
        "/v2/_wharf/retention",
        Some(json!({ "tags": previewed })),
    )
    .await;
    assert_eq!(r.status(), 200);
    let applied: Value = r.json().await.unwrap();
    assert_eq!(applied["tagsDeleted"], 1, "{applied}");
    assert_eq!(applied["repositories"][0]["tags"][0]["tag"], "v2");
    assert_eq!(tags(&server, "team/app").await, ["v1", "v3", "v4"]);
    server.stop().await;
}

/// With `http.debug.prometheus.usageinterval`, the server weighs every repository on its own:
/// `wharf_repository_bytes` appears for repositories no quota governs and nobody looked at, with
/// the bytes the disk view reports.
#[tokio::test(flavor = "multi_thread")]
async fn usage_metric_weighs_every_repository_on_its_own() {
    let interval = ("REGISTRY_HTTP_DEBUG_PROMETHEUS_USAGEINTERVAL", "1s");
    let (server, debug) = TestServer::start_with_debug(&[DELETE, METRICS, interval]).await;
    push(&server, "one", "a", "a").await;
    push(&server, "two", "b", "b").await;
    let weighed = |metrics: &str| -> Vec<(String, u64)> {
        metrics
            .lines()
            .filter_map(|l| l.strip_prefix("wharf_repository_bytes{repository=\""))
            .filter_map(|l| l.split_once("\"} "))
            .map(|(repo, bytes)| (repo.to_string(), bytes.trim().parse().unwrap()))
            .collect()
    };
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = weighed(&metrics_text(&debug).await);
        if seen.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let usage = get_json(&server, "/v2/_wharf/usage").await;
    let mut expected: Vec<(String, u64)> = usage["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let name = r["repository"].as_str().unwrap().to_string();
            (name, r["bytes"].as_u64().unwrap())
        })
        .collect();
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected);
    server.stop().await;
}

/// The marked catalog lists every repository, none mirrored here. The disk view: each repository's
/// bytes split into unique (blobs only it uses) and shared (the
/// common layer), largest first, not mirrored; afterwards `wharf_repository_bytes` is exported for
/// every repository, not only quota-governed ones. Per-tag times: pushed always, pulled once pulled.
#[tokio::test(flavor = "multi_thread")]
async fn disk_usage_metrics_and_tag_times() {
    let (server, debug) = TestServer::start_with_debug(&[DELETE, METRICS]).await;
    push(&server, "big/app", "a", "a").await;
    push(&server, "big/app", "b", "b").await;
    push(&server, "small", "x", "x").await;

    let catalog = get_json(&server, "/v2/_wharf/catalog").await;
    assert_eq!(
        catalog,
        json!([
            {"repository": "big/app", "mirrored": false},
            {"repository": "small", "mirrored": false}
        ])
    );
    let usage = get_json(&server, "/v2/_wharf/usage").await;
    let repos = usage["repositories"].as_array().unwrap();
    let names: Vec<&str> = repos
        .iter()
        .map(|r| r["repository"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["big/app", "small"]);
    for repo in repos {
        let (bytes, unique, shared) = (
            repo["bytes"].as_u64().unwrap(),
            repo["uniqueBytes"].as_u64().unwrap(),
            repo["sharedBytes"].as_u64().unwrap(),
        );
        assert_eq!(shared, SHARED_LAYER.len() as u64, "{repo}");
        assert_eq!(unique + shared, bytes, "{repo}");
        assert_eq!(repo["mirrored"], false);
        assert!(repo["lastPushed"].is_string(), "{repo}");
    }
    assert_eq!(repos[0]["tags"], 2);
    let total: u64 = repos
        .iter()
        .map(|r| r["uniqueBytes"].as_u64().unwrap())
        .sum();
    assert_eq!(
        usage["totalBytes"].as_u64().unwrap(),
        total + SHARED_LAYER.len() as u64,
        "the shared layer counts once in the total"
    );

    let metrics = metrics_text(&debug).await;
    for repo in repos {
        let line = format!(
            "wharf_repository_bytes{{repository=\"{}\"}} {}",
            repo["repository"].as_str().unwrap(),
            repo["bytes"]
        );
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }

    let times = get_json(&server, "/v2/_wharf/tags/big/app").await;
    assert_eq!(times[0]["tag"], "a");
    assert!(times[0]["pushed"].is_string());
    assert!(times[0]["pulled"].is_null(), "never pulled yet");
    let r = http()
        .get(format!("{}/v2/big/app/manifests/a", server.url))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let times = get_json(&server, "/v2/_wharf/tags/big/app").await;
    assert!(times[0]["pulled"].is_string(), "{times}");
    assert_eq!(
        http()
            .get(format!("{}/v2/_wharf/tags/nothing", server.url))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    server.stop().await;
}

/// Retention and the trash need admin access (a rule granting delete on `*`): a user with every
/// right on `team/*` only gets 403 `DENIED` from them, but may read the disk view (catalog access)
/// and tag times; anonymous callers get 401; the admin gets through.
#[tokio::test(flavor = "multi_thread")]
async fn admin_endpoints_need_delete_on_every_repository() {
    let alice = ("alice", "alice-pw");
    let root = ("root", "root-pw");
    let (_dir, path) = auth_support::users_dir(&[alice, root]);
    let rules = r#"[{users: [alice], repositories: ["team/*"], actions: ["*"]},
                    {users: [root], repositories: ["*"], actions: ["*"]}]"#;
    let server = auth_support::start(
        &path,
        &[("REGISTRY_AUTH_ACCESS", rules), POLICY, SETTLE, GRACE],
    )
    .await;
    let call = |method: Method, path: &str, who: Option<(&str, &str)>| {
        let request = auth_support::request(&server, method.clone(), path, who);
        if method == Method::POST {
            request.json(&json!({"repository": "team/app", "tag": "v1"}))
        } else {
            request
        }
    };
    let admin_only = [
        (Method::GET, "/v2/_wharf/retention"),
        (Method::POST, "/v2/_wharf/retention"),
        (Method::GET, "/v2/_wharf/trash"),
        (Method::POST, "/v2/_wharf/trash/restore"),
    ];
    for (method, path) in &admin_only {
        let r = call(method.clone(), path, Some(alice))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "alice {method} {path}");
        assert_eq!(error_code(r).await, "DENIED");
        let r = call(method.clone(), path, None).send().await.unwrap();
        assert_eq!(r.status(), 401, "anonymous {method} {path}");
    }
    for path in ["/v2/_wharf/retention", "/v2/_wharf/trash"] {
        let r = call(Method::GET, path, Some(root)).send().await.unwrap();
        assert_eq!(r.status(), 200, "root GET {path}");
    }
    let r = call(Method::GET, "/v2/_wharf/usage", Some(alice))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "alice may see the disk view");
    let r = call(Method::GET, "/v2/_wharf/tags/other", Some(alice))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        403,
        "but not tags of a repository she cannot pull"
    );
    server.stop().await;
}

/// In read-only mode applying retention and restoring are refused with 405 `UNSUPPORTED`, while the
/// preview, the trash and the disk view are served; without policies the preview says so.
#[tokio::test(flavor = "multi_thread")]
async fn read_only_refuses_apply_and_restore() {
    let server = TestServer::start_env(&[
        POLICY,
        DELETE,
        ("REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED", "true"),
    ])
    .await;
    for path in ["/v2/_wharf/retention", "/v2/_wharf/trash/restore"] {
        let body = json!({"repository": "team/app", "tag": "v1"});
        let r = post(&server, path, Some(body)).await;
        assert_eq!(r.status(), 405, "POST {path}");
        assert_eq!(error_code(r).await, "UNSUPPORTED");
    }
    for path in [
        "/v2/_wharf/retention",
        "/v2/_wharf/trash",
        "/v2/_wharf/usage",
    ] {
        get_json(&server, path).await;
    }
    server.stop().await;

    let server = TestServer::start_env(&[DELETE]).await;
    let r = http()
        .get(format!("{}/v2/_wharf/retention", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no retention policies"),
        "{body}"
    );
    server.stop().await;
}

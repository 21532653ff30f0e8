//! Retention policies through the real interface: a server on `127.0.0.1:0` holding images pushed over
//! HTTP and by skopeo, and the real `wharf retention` / `wharf trash` binary beside it on the same
//! storage, configured only by `REGISTRY_*` variables. The preview deletes nothing and names the
//! bytes it would free; `--apply` moves tags to the trash, where their content survives until the
//! trash period ends; a restore brings a tag back byte for byte; kept indexes, their children and
//! referrers survive; last pulls keep tags; scheduled runs and collections never take a kept image
//! from concurrent pushers (HTTP, skopeo and `docker push` on a private engine of
//! tests/common/engine.rs, on the filesystem and on S3); emptied repositories leave the catalog; and
//! the same on S3 (SeaweedFS), where push times are objects' modification times.
mod common;
#[path = "common/engine.rs"]
mod engine;
#[path = "common/oci_layout.rs"]
mod oci_layout;
#[path = "common/s3_servers.rs"]
mod s3_servers;
#[path = "common/skopeo.rs"]
mod skopeo;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{
    age, http, image_manifest, metrics_text, push_blob, put_manifest, sha256, trash_tags,
    TestServer,
};
use engine::check;
use serde_json::{json, Value};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Server and commands share a short settle period, so each run takes about a second.
const SETTLE: (&str, &str) = ("REGISTRY_STORAGE_GC_SETTLEPERIOD", "1s");
const DELETE: (&str, &str) = ("REGISTRY_STORAGE_DELETE_ENABLED", "true");

/// `wharf <args>` with `env` (which names the storage); returns exit code, stdout and stderr.
fn wharf_on(env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(args)
        .env(SETTLE.0, SETTLE.1)
        .env("REGISTRY_STORAGE_GC_GRACEPERIOD", "0s")
        .envs(env.iter().copied())
        .output()
        .expect("run wharf");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `wharf <args>` on the filesystem storage at `root`, with `env`.
fn wharf(root: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let root = root.to_str().expect("UTF-8 temp path");
    let mut env = env.to_vec();
    env.push(("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", root));
    wharf_on(&env, args)
}

/// `wharf <args> --json` that must succeed, parsed; `env` names the storage.
fn json_on(env: &[(&str, &str)], args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let (code, out, err) = wharf_on(env, &args);
    assert_eq!(code, 0, "wharf {args:?}: {out}{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// `wharf <args> --json` on the filesystem storage at `root`, which must succeed, parsed.
fn wharf_json(root: &Path, env: &[(&str, &str)], args: &[&str]) -> Value {
    let root = root.to_str().expect("UTF-8 temp path");
    let mut env = env.to_vec();
    env.push(("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", root));
    json_on(&env, args)
}

fn v2(server: &TestServer) -> std::path::PathBuf {
    server.root.join("docker/registry/v2")
}

fn tag_link(server: &TestServer, repo: &str, tag: &str) -> std::path::PathBuf {
    v2(server).join(format!(
        "repositories/{repo}/_manifests/tags/{tag}/current/link"
    ))
}

fn revision_link(server: &TestServer, repo: &str, digest: &str) -> std::path::PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    v2(server).join(format!(
        "repositories/{repo}/_manifests/revisions/sha256/{hex}/link"
    ))
}

/// An image pushed over HTTP: its manifest's bytes and digest, and every blob it uses.
struct Pushed {
    manifest: Vec<u8>,
    digest: String,
    blobs: BTreeMap<String, Vec<u8>>,
}

/// Pushes a config (unique to `seed`) and `layers`, then the manifest under `reference` (with a
/// `subject` when given).
async fn push(
    server: &TestServer,
    repo: &str,
    reference: &str,
    seed: &str,
    layers: &[&[u8]],
    subject: Option<&Pushed>,
) -> Pushed {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{seed}"}}"#).into_bytes();
    let mut blobs = BTreeMap::new();
    for bytes in std::iter::once(config.as_slice()).chain(layers.iter().copied()) {
        blobs.insert(push_blob(server, repo, bytes).await, bytes.to_vec());
    }
    let mut manifest: Value = serde_json::from_slice(&image_manifest(&config, layers)).unwrap();
    if let Some(s) = subject {
        manifest["subject"] =
            json!({"mediaType": OCI_MANIFEST, "digest": s.digest, "size": s.manifest.len()});
        manifest["artifactType"] = json!("application/vnd.example.signature");
    }
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let r = put_manifest(server, repo, reference, OCI_MANIFEST, &manifest).await;
    assert_eq!(r.status(), 201, "push {repo}:{reference}");
    Pushed {
        digest: sha256(&manifest),
        manifest,
        blobs,
    }
}

/// Tags `repo`'s list shows.
async fn tags(server: &TestServer, repo: &str) -> Vec<String> {
    let r = http()
        .get(format!("{}/v2/{repo}/tags/list", server.url))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    let mut tags: Vec<String> = body["tags"]
        .as_array()
        .map(|t| t.iter().map(|t| t.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    tags.sort();
    tags
}

async fn status(server: &TestServer, path: &str) -> u16 {
    http()
        .get(format!("{}{path}", server.url))
        .header("accept", format!("{OCI_MANIFEST}, {OCI_INDEX}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Asserts `reference` of `repo` pulls as `image`: the manifest and every blob, byte for byte.
async fn assert_pulls(server: &TestServer, repo: &str, reference: &str, image: &Pushed) {
    let r = http()
        .get(format!("{}/v2/{repo}/manifests/{reference}", server.url))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{repo}:{reference}");
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        image.manifest,
        "{repo}:{reference}"
    );
    for (digest, bytes) in &image.blobs {
        let r = http()
            .get(format!("{}/v2/{repo}/blobs/{digest}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{repo}:{reference} blob {digest}");
        assert_eq!(
            r.bytes().await.unwrap().to_vec(),
            *bytes,
            "{repo}:{reference} blob {digest}"
        );
    }
}

fn deleted_tags(report: &Value) -> Vec<String> {
    report["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["tags"].as_array().unwrap().iter())
        .map(|t| t["tag"].as_str().unwrap().to_string())
        .collect()
}

/// The preview counts the bytes of images pushed moments ago too (within the default one-hour
/// `storage.gc.graceperiod`): they are freed once the trash period ends, by when the grace period is
/// long over. Only the doomed images' own blobs count, not the base layer a kept image shares.
#[tokio::test(flavor = "multi_thread")]
async fn a_preview_counts_fresh_pushes() {
    let policy = (
        "REGISTRY_RETENTION_POLICIES",
        r#"[{repositories: ["fresh/*"], delete: {tags: ["ci-.*"]}}]"#,
    );
    let server = TestServer::start_env(&[SETTLE, DELETE, policy]).await;
    let base = b"a base layer the release shares".to_vec();
    push(&server, "fresh/app", "1.0", "release", &[&base], None).await;
    let mut unique = 0;
    for ci in ["ci-1", "ci-2"] {
        let own = format!("layer of {ci}").into_bytes();
        let image = push(&server, "fresh/app", ci, ci, &[&base, &own], None).await;
        unique += image.manifest.len() as u64
            + image
                .blobs
                .values()
                .filter(|b| **b != base)
                .map(|b| b.len() as u64)
                .sum::<u64>();
    }
    let root = server.root.to_str().unwrap().to_string();
    let preview = json_on(
        &[
            policy,
            ("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", &root),
            ("REGISTRY_STORAGE_GC_GRACEPERIOD", "1h"),
        ],
        &["retention"],
    );
    assert_eq!(preview["tagsDeleted"], 2, "{preview:#}");
    assert_eq!(
        preview["repositories"][0]["bytesFreed"], unique,
        "{preview:#}"
    );
    assert_eq!(
        preview["repositories"][0]["manifests"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(tags(&server, "fresh/app").await, ["1.0", "ci-1", "ci-2"]);
    server.stop().await;
}

/// "Keep the newest 2 and latest" over six tags: the preview names the three older tags and the exact
/// bytes only they use, and deletes nothing; `--apply` moves them to the trash (their blobs stay),
/// leaves an unmatched repository alone, and `wharf trash restore` brings one back byte for byte. A
/// later run with a zero trash period frees the next doomed tag's unique blobs at once, while the
/// shared base layer and the trashed tags' content stay.
#[tokio::test(flavor = "multi_thread")]
async fn preview_apply_restore_and_expiry() {
    let policy = (
        "REGISTRY_RETENTION_POLICIES",
        r#"[{repositories: ["team/*"], keep: {latest: 2, tags: ["latest"]}}]"#,
    );
    let server = TestServer::start_env(&[SETTLE, DELETE, policy]).await;
    let base = b"shared base layer".to_vec();
    let mut images = BTreeMap::new();
    for (i, hours) in [(1usize, 5u32), (2, 4), (3, 3), (4, 2), (5, 1)] {
        let own = format!("layer of b{i}").into_bytes();
        let image = push(
            &server,
            "team/app",
            &format!("b{i}"),
            &format!("b{i}"),
            &[&base, &own],
            None,
        )
        .await;
        age(&tag_link(&server, "team/app", &format!("b{i}")), hours);
        images.insert(i, image);
    }
    let r = put_manifest(
        &server,
        "team/app",
        "latest",
        OCI_MANIFEST,
        &images[&1].manifest,
    )
    .await;
    assert_eq!(r.status(), 201);
    age(&tag_link(&server, "team/app", "latest"), 5);
    let other = push(&server, "other/app", "x", "other", &[b"other layer"], None).await;
    age(&tag_link(&server, "other/app", "x"), 1000);
    let root = server.root.clone();
    let all = ["b1", "b2", "b3", "b4", "b5", "latest"];

    let preview = wharf_json(&root, &[policy], &["retention"]);
    assert_eq!(preview["dryRun"], true);
    assert_eq!(deleted_tags(&preview), ["b3", "b2", "b1"], "{preview:#}");
    let unique = |i: usize| -> u64 {
        let image = &images[&i];
        (image.manifest.len()
            + image
                .blobs
                .iter()
                .filter(|(_, b)| **b != base)
                .map(|(_, b)| b.len())
                .sum::<usize>()) as u64
    };
    assert_eq!(
        preview["repositories"][0]["bytesFreed"],
        unique(2) + unique(3),
        "{preview:#}"
    );
    assert_eq!(preview["repositories"][0]["repository"], "team/app");
    assert_eq!(
        tags(&server, "team/app").await,
        all,
        "a preview deletes nothing"
    );

    let (code, table, _) = wharf(&root, &[policy], &["retention"]);
    assert_eq!(code, 0);
    assert!(
        table.contains("team/app (retention.policies[0])"),
        "{table}"
    );
    assert!(
        table.contains("not among the newest 2 (keep.latest)"),
        "{table}"
    );
    assert!(
        table.contains("preview only: nothing was deleted"),
        "{table}"
    );

    let applied = wharf_json(&root, &[policy], &["retention", "--apply"]);
    assert_eq!(applied["dryRun"], false);
    assert_eq!(deleted_tags(&applied), ["b3", "b2", "b1"]);
    assert_eq!(tags(&server, "team/app").await, ["b4", "b5", "latest"]);
    assert_eq!(
        tags(&server, "other/app").await,
        ["x"],
        "no policy governs other/"
    );
    assert_pulls(&server, "other/app", "x", &other).await;
    for i in [2, 3] {
        for digest in images[&i].blobs.keys() {
            assert_eq!(
                status(&server, &format!("/v2/team/app/blobs/{digest}")).await,
                200,
                "b{i}'s content waits in the trash"
            );
        }
    }
    let trash = wharf_json(&root, &[], &["trash", "list"]);
    let trashed = trash_tags(&trash);
    assert_eq!(trashed, ["b1", "b2", "b3"], "{trash:#}");
    assert!(trash[0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("retention.policies[0]: "));

    let (code, out, err) = wharf(&root, &[], &["trash", "restore", "team/app:b2"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.trim(),
        format!("restored team/app:b2 -> {}", images[&2].digest)
    );
    assert_pulls(&server, "team/app", "b2", &images[&2]).await;
    let (code, _, err) = wharf(&root, &[], &["trash", "restore", "team/app:b2"]);
    assert_eq!(code, 1);
    assert!(err.contains("team/app:b2 is not in the trash"), "{err}");

    // b2 was pushed again by its restore, so b4 is now the oldest outside the newest two.
    let expired = wharf_json(
        &root,
        &[policy, ("REGISTRY_RETENTION_TRASHPERIOD", "0s")],
        &["retention", "--apply"],
    );
    assert_eq!(deleted_tags(&expired), ["b4"], "{expired:#}");
    assert_eq!(
        expired["repositories"][0]["bytesFreed"],
        unique(4),
        "{expired:#}"
    );
    for (digest, bytes) in &images[&4].blobs {
        let want = if *bytes == base { 200 } else { 404 };
        assert_eq!(
            status(&server, &format!("/v2/team/app/blobs/{digest}")).await,
            want
        );
    }
    for digest in images[&3].blobs.keys() {
        assert_eq!(
            status(&server, &format!("/v2/team/app/blobs/{digest}")).await,
            200
        );
    }
    assert_pulls(&server, "team/app", "latest", &images[&1]).await;
    assert_pulls(&server, "team/app", "b5", &images[&5]).await;
    let trash = wharf_json(&root, &[], &["trash", "list"]);
    let trashed = trash_tags(&trash);
    assert_eq!(
        trashed,
        ["b1", "b3"],
        "b4's expired entry goes with its content"
    );
    server.stop().await;
}

/// Deletes `tags` of `repo` through the API (each answers 202).
async fn delete_tags(server: &TestServer, repo: &str, tags: &[&str]) {
    for tag in tags {
        let r = http()
            .delete(format!("{}/v2/{repo}/manifests/{tag}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "delete {repo}:{tag}");
    }
}

/// A kept multi-arch index keeps its untagged children and the referrer (a signature) of its
/// manifest, however old; an old orphan manifest goes by the untagged rule, a young one stays; a
/// tag matching `delete.tags` goes to the trash with its manifest kept for restoring.
#[tokio::test(flavor = "multi_thread")]
async fn kept_indexes_children_and_referrers_survive() {
    let policy = (
        "REGISTRY_RETENTION_POLICIES",
        r#"[{keep: {tags: ["multi"]}, delete: {tags: ["tmp-.*"], untagged: 24h}}]"#,
    );
    let server = TestServer::start_env(&[SETTLE, DELETE, policy]).await;
    let repo = "app";
    let amd64 = push(&server, repo, "amd64-tmp", "amd64", &[b"amd64 layer"], None).await;
    let arm64 = push(&server, repo, "arm64-tmp", "arm64", &[b"arm64 layer"], None).await;
    delete_tags(&server, repo, &["amd64-tmp", "arm64-tmp"]).await;
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": amd64.digest, "size": amd64.manifest.len(), "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": OCI_MANIFEST, "digest": arm64.digest, "size": arm64.manifest.len(), "platform": {"architecture": "arm64", "os": "linux"}},
        ],
    }))
    .unwrap();
    let r = put_manifest(&server, repo, "multi", OCI_INDEX, &index).await;
    assert_eq!(r.status(), 201);
    let index_digest = sha256(&index);
    let index_image = Pushed {
        manifest: index.clone(),
        digest: index_digest.clone(),
        blobs: BTreeMap::new(),
    };
    let signature = push(
        &server,
        repo,
        "sig-tmp",
        "signature",
        &[b"signature"],
        Some(&index_image),
    )
    .await;
    delete_tags(&server, repo, &["sig-tmp"]).await;
    let orphan = push(
        &server,
        repo,
        "orphan-tmp",
        "orphan",
        &[b"orphan layer"],
        None,
    )
    .await;
    let young = push(&server, repo, "young-tmp", "young", &[b"young layer"], None).await;
    delete_tags(&server, repo, &["orphan-tmp", "young-tmp"]).await;
    let doomed = push(&server, repo, "tmp-1", "doomed", &[b"doomed layer"], None).await;
    for digest in [
        &amd64.digest,
        &arm64.digest,
        &index_digest,
        &signature.digest,
        &orphan.digest,
    ] {
        age(&revision_link(&server, repo, digest), 48);
    }
    age(&tag_link(&server, repo, "multi"), 48);

    let report = wharf_json(&server.root, &[policy], &["retention", "--apply"]);
    assert_eq!(deleted_tags(&report), ["tmp-1"], "{report:#}");
    let manifests = report["repositories"][0]["manifests"].as_array().unwrap();
    assert_eq!(manifests, &[json!(orphan.digest)], "{report:#}");
    for (what, digest) in [
        ("amd64 child", &amd64.digest),
        ("arm64 child", &arm64.digest),
        ("signature", &signature.digest),
        ("young orphan", &young.digest),
        ("trashed tmp-1", &doomed.digest),
    ] {
        assert_eq!(
            status(&server, &format!("/v2/{repo}/manifests/{digest}")).await,
            200,
            "{what}"
        );
    }
    assert_eq!(
        status(&server, &format!("/v2/{repo}/manifests/{}", orphan.digest)).await,
        404
    );
    assert_pulls(&server, repo, &amd64.digest, &amd64).await;
    assert_pulls(&server, repo, &signature.digest, &signature).await;
    let r = http()
        .get(format!("{}/v2/{repo}/referrers/{index_digest}", server.url))
        .send()
        .await
        .unwrap();
    let referrers: Value = r.json().await.unwrap();
    assert_eq!(
        referrers["manifests"][0]["digest"],
        signature.digest.as_str()
    );
    assert_eq!(tags(&server, repo).await, ["multi"]);
    server.stop().await;
}

/// Last pulls count: of two tags pushed 40 days ago, the one pulled today survives "not pulled for
/// 30 days" and the other goes; the pull is written when the server stops.
#[tokio::test(flavor = "multi_thread")]
async fn a_recent_pull_keeps_a_tag() {
    let server = TestServer::start_env(&[SETTLE, DELETE]).await;
    let pulled = push(&server, "app", "pulled", "pulled", &[b"pulled layer"], None).await;
    push(&server, "app", "idle", "idle", &[b"idle layer"], None).await;
    for tag in ["pulled", "idle"] {
        age(&tag_link(&server, "app", tag), 40 * 24);
    }
    assert_pulls(&server, "app", "pulled", &pulled).await;
    let dir = server.stop_keep_dir().await;
    let policy = (
        "REGISTRY_RETENTION_POLICIES",
        "[{delete: {notpulledfor: 30d}}]",
    );
    let report = wharf_json(dir.path(), &[policy], &["retention", "--apply"]);
    assert_eq!(deleted_tags(&report), ["idle"], "{report:#}");
    let reason = report["repositories"][0]["tags"][0]["reason"]
        .as_str()
        .unwrap();
    assert_eq!(
        reason,
        "never pulled, pushed 40d ago (delete.notpulledfor 30d)"
    );
    let server = TestServer::start_at(dir.path(), &[SETTLE]).await;
    assert_eq!(tags(&server, "app").await, ["pulled"]);
    server.stop().await;
}

/// On S3 (SeaweedFS) too: a tag's push time comes from its link object's last-modified time, and a
/// pull is recorded (written when the server stops) and read back by a new server: the Wharf API's
/// tag times show it for the pulled tag only, and `wharf retention` keeps the pulled tag by
/// `keep.pulledwithin` while it dooms the other.
#[tokio::test(flavor = "multi_thread")]
async fn push_and_pull_times_on_s3() {
    let s3 = s3_servers::S3Server::seaweedfs();
    s3.create_bucket("times");
    let env = s3.registry_env("times", "/registry");
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = TestServer::start_env(&[&vars[..], &[SETTLE, DELETE]].concat()).await;
    push(&server, "app", "pulled", "pulled", &[b"pulled layer"], None).await;
    push(&server, "app", "idle", "idle", &[b"idle layer"], None).await;
    assert_eq!(status(&server, "/v2/app/manifests/pulled").await, 200);
    server.stop().await;

    let server = TestServer::start_env(&[&vars[..], &[SETTLE]].concat()).await;
    let r = http()
        .get(format!("{}/v2/_wharf/tags/app", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let times: Value = r.json().await.unwrap();
    let by_tag = |tag: &str| {
        times
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tag"] == tag)
            .unwrap_or_else(|| panic!("{tag} in {times}"))
            .clone()
    };
    for tag in ["pulled", "idle"] {
        let pushed = by_tag(tag)["pushed"].as_str().unwrap().to_string();
        let pushed = humantime::parse_rfc3339(&pushed).unwrap();
        let age = std::time::SystemTime::now().duration_since(pushed);
        assert!(
            age.unwrap_or_default().as_secs() < 600,
            "{tag} pushed {pushed:?}"
        );
    }
    assert!(by_tag("pulled")["pulled"].is_string(), "{times}");
    assert!(by_tag("idle")["pulled"].is_null(), "{times}");
    server.stop().await;

    let policy = (
        "REGISTRY_RETENTION_POLICIES",
        "[{keep: {pulledwithin: 1h}, delete: {tags: ['.*']}}]",
    );
    let preview = json_on(&[&vars[..], &[policy]].concat(), &["retention"]);
    assert_eq!(deleted_tags(&preview), ["idle"], "{preview:#}");
}

/// Bad or missing policies stop `wharf retention` with exit 2 and one line naming the setting.
#[test]
fn bad_policies_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = wharf(dir.path(), &[], &["retention"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no retention policies are configured (retention.policies"),
        "{err}"
    );
    let bad = (
        "REGISTRY_RETENTION_POLICIES",
        r#"[{keep: {latest: 3, tags: ["("]}}]"#,
    );
    let (code, _, err) = wharf(dir.path(), &[bad], &["retention"]);
    assert_eq!(code, 2);
    assert!(err.contains("retention.policies[0].keep.tags[0]"), "{err}");
    assert!(
        err.contains("is not a regular expression (unclosed group)"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (code, _, err) = wharf(dir.path(), &[], &["trash", "restore", "no-tag-here"]);
    assert_eq!(code, 2);
    assert!(err.contains("is not REPOSITORY:TAG"), "{err}");
}

/// Real clients push while the server runs retention every second (trash period zero) and an online
/// garbage collection with delete-untagged every second (grace period zero), on the filesystem and
/// then on S3 (SeaweedFS), with one private Docker engine for both: three HTTP pushers, skopeo and
/// `docker push` (classic builder) push CI tags and release tags sharing their layers (a push that
/// a collection refused, having freed blobs it uploaded, is tried again, as a CI job would). Every
/// CI tag is deleted, every tag left is a release, and every image a client was told is stored (the
/// HTTP pushers' 201s, skopeo's copy, the digest `docker push` printed) pulls with every blob
/// matching its digest; `docker pull` of the docker releases then gives back the images built.
#[tokio::test(flavor = "multi_thread")]
async fn real_clients_push_while_retention_and_gc_run() {
    engine::require("/usr/sbin/dockerd");
    engine::require("/usr/bin/docker");
    let engine = std::sync::Arc::new(
        tokio::task::spawn_blocking(engine::Engine::start)
            .await
            .expect("start the engine"),
    );
    concurrent_pushes(&[], &engine).await;
    let s3 = s3_servers::S3Server::seaweedfs();
    s3.create_bucket("concurrent");
    let env = s3.registry_env("concurrent", "/registry");
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    concurrent_pushes(&vars, &engine).await;
}

/// One run of [`real_clients_push_while_retention_and_gc_run`] on the storage `storage` names (the
/// filesystem when empty).
async fn concurrent_pushes(storage: &[(&str, &str)], engine: &std::sync::Arc<engine::Engine>) {
    let policy = (
        "REGISTRY_RETENTION_POLICIES",
        r#"[{keep: {tags: ["release-.*"]}, delete: {tags: ["ci-.*"]}}]"#,
    );
    let mut env = vec![
        SETTLE,
        DELETE,
        policy,
        ("REGISTRY_RETENTION_SCHEDULE", "1s"),
        ("REGISTRY_RETENTION_TRASHPERIOD", "0s"),
        ("REGISTRY_STORAGE_GC_INTERVAL", "1s"),
        ("REGISTRY_STORAGE_GC_DELETEUNTAGGED", "true"),
        ("REGISTRY_STORAGE_GC_GRACEPERIOD", "0s"),
        ("REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED", "true"),
    ];
    env.extend_from_slice(storage);
    let (server, debug) = TestServer::start_with_debug(&env).await;
    let shared: Vec<Vec<u8>> = (0..3)
        .map(|i| format!("shared base {i}").into_bytes())
        .collect();
    let mut pushers = Vec::new();
    for p in 0..3 {
        let (url, root, shared) = (server.url.clone(), server.root.clone(), shared.clone());
        pushers.push(tokio::spawn(async move {
            let server = TestServer::attach(&url, &root);
            let mut releases = Vec::new();
            for i in 0..6 {
                let own = format!("own layer {p}-{i}").into_bytes();
                let layers: [&[u8]; 2] = [&shared[(p + i) % shared.len()], &own];
                let kind = if i % 2 == 0 { "ci" } else { "release" };
                let tag = format!("{kind}-{p}-{i}");
                let image = push_retrying(&server, "app", &tag, &layers).await;
                if kind == "release" {
                    releases.push((tag, image.digest));
                }
            }
            releases
        }));
    }
    let (docker_engine, host) = (engine.clone(), server.host());
    let docker = tokio::task::spawn_blocking(move || docker_pushes(&docker_engine, &host));
    let layout_dir = tempfile::tempdir().unwrap();
    let mut layout = oci_layout::OciLayout::create(layout_dir.path());
    let image = layout.add_image("skopeo-release", oci_layout::LINUX_AMD64, 2);
    layout.tag("release-skopeo", OCI_MANIFEST, &image.manifest);
    // A collection can free blobs skopeo uploaded before its manifest lands (grace period zero):
    // the manifest is then refused, and the copy is tried again, as a CI job would.
    let skopeo = skopeo::Skopeo::new();
    let copy = [
        "--dest-tls-verify=false".to_string(),
        skopeo::oci_ref(layout_dir.path(), "release-skopeo"),
        format!("docker://{}/app:release-skopeo", server.host()),
    ];
    let mut copied = None;
    for _attempt in 0..10 {
        let out = skopeo.try_run("copy", &copy).await;
        if out.status.success() {
            copied = Some(());
            break;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("blob unknown"), "skopeo copy: {err}");
    }
    copied.expect("skopeo copy kept failing");
    let mut releases = vec![("release-skopeo".to_string(), image.manifest.digest.clone())];
    for p in pushers {
        releases.extend(p.await.unwrap());
    }
    let docker = docker.await.expect("docker's pushes");
    releases.extend(
        docker
            .iter()
            .map(|(tag, digest, _)| (tag.clone(), digest.clone())),
    );

    let ci_tags = 3 * 3 + 2;
    let deleted = |metrics: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("wharf_retention_deleted_tags_total "))
            .map_or(0, |v| v.trim().parse().unwrap())
    };
    let mut metrics = String::new();
    for _ in 0..150 {
        metrics = metrics_text(&debug).await;
        if deleted(&metrics) >= ci_tags {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        deleted(&metrics),
        ci_tags,
        "every CI tag deleted once: {metrics}"
    );
    let left = tags(&server, "app").await;
    let mut want: Vec<String> = releases.iter().map(|(t, _)| t.clone()).collect();
    want.sort();
    assert_eq!(left, want, "every release stays, every CI tag went");
    for (tag, digest) in &releases {
        assert_pulls_verified(&server, "app", tag, digest).await;
    }
    let (docker_engine, host) = (engine.clone(), server.host());
    tokio::task::spawn_blocking(move || {
        for (tag, _, id) in &docker {
            let name = format!("{host}/app:{tag}");
            check(docker_engine.docker(&["pull", &name]), "docker pull");
            let pulled = check(
                docker_engine.docker(&["image", "inspect", "--format", "{{.Id}}", &name]),
                "docker image inspect",
            );
            assert_eq!(pulled.trim(), id, "{name} pulls as built");
        }
        let listed = check(
            docker_engine.docker(&["image", "ls", "-q", "--no-trunc"]),
            "docker image ls",
        );
        let ids: Vec<&str> = listed.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rmi", "-f"];
            args.extend(ids);
            check(docker_engine.docker(&args), "docker rmi");
        }
    })
    .await
    .expect("docker pulls");
    server.stop().await;
}

/// Builds four small images on `engine` (classic builder, `FROM scratch`, a base layer two of them
/// share and a layer of their own), pushes them to `host` as `app:ci-docker-0`, `release-docker-1`,
/// `ci-docker-2` and `release-docker-3` (a failed push is tried again, as a CI job would), and
/// removes them from the engine. Returns each release's tag, the digest `docker push` printed and
/// the image id.
fn docker_pushes(engine: &engine::Engine, host: &str) -> Vec<(String, String, String)> {
    let mut releases = Vec::new();
    for i in 0..4 {
        let kind = if i % 2 == 0 { "ci" } else { "release" };
        let tag = format!("{kind}-docker-{i}");
        let name = format!("{host}/app:{tag}");
        let context = engine.data().join(format!("context-{host}-{i}"));
        std::fs::create_dir_all(&context).unwrap();
        std::fs::write(context.join("base.txt"), format!("docker base {}", i / 2)).unwrap();
        std::fs::write(context.join("own.txt"), format!("docker layer {host} {i}")).unwrap();
        std::fs::write(
            context.join("Dockerfile"),
            "FROM scratch\nCOPY base.txt /base.txt\nCOPY own.txt /own.txt\nCMD [\"/own\"]\n",
        )
        .unwrap();
        check(
            engine.docker(&["build", "-q", "-t", &name, context.to_str().unwrap()]),
            "docker build",
        );
        let id = check(
            engine.docker(&["image", "inspect", "--format", "{{.Id}}", &name]),
            "docker image inspect",
        );
        let mut pushed = None;
        let mut failure = String::new();
        for _attempt in 0..10 {
            let out = engine.docker(&["push", &name]);
            if out.status.success() {
                pushed = Some(String::from_utf8_lossy(&out.stdout).into_owned());
                break;
            }
            failure = String::from_utf8_lossy(&out.stderr).into_owned();
        }
        let out = pushed.unwrap_or_else(|| panic!("docker push {name} kept failing: {failure}"));
        let digest = out
            .lines()
            .find_map(|l| l.split("digest: ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no digest in docker push's output: {out}"))
            .to_string();
        check(engine.docker(&["rmi", &name]), "docker rmi");
        if kind == "release" {
            releases.push((tag, digest, id.trim().to_string()));
        }
    }
    releases
}

/// Asserts `reference` of `repo` pulls as the manifest `digest` (any media type; blob redirects to
/// object storage followed), and every blob it names has the bytes of its digest.
async fn assert_pulls_verified(server: &TestServer, repo: &str, reference: &str, digest: &str) {
    let client = reqwest::Client::new();
    let accept = format!(
        "{OCI_MANIFEST}, {OCI_INDEX}, application/vnd.docker.distribution.manifest.v2+json"
    );
    let r = client
        .get(format!("{}/v2/{repo}/manifests/{reference}", server.url))
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{repo}:{reference}");
    let bytes = r.bytes().await.unwrap();
    assert_eq!(sha256(&bytes), digest, "{repo}:{reference}");
    let manifest: Value = serde_json::from_slice(&bytes).unwrap();
    let layers = manifest["layers"].as_array().expect("an image manifest");
    for blob in std::iter::once(&manifest["config"]).chain(layers) {
        let blob = blob["digest"].as_str().unwrap();
        let r = client
            .get(format!("{}/v2/{repo}/blobs/{blob}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{repo}:{reference} blob {blob}");
        assert_eq!(
            sha256(&r.bytes().await.unwrap()),
            blob,
            "{repo}:{reference} blob {blob}"
        );
    }
}

/// Pushes like a registry client: a 503 `UNAVAILABLE` (a write that raced a collection) or a
/// manifest refused for a blob collected meanwhile starts the push over.
async fn push_retrying(server: &TestServer, repo: &str, tag: &str, layers: &[&[u8]]) -> Pushed {
    for _attempt in 0..10 {
        let config =
            format!(r#"{{"architecture":"amd64","os":"linux","seed":"{tag}"}}"#).into_bytes();
        let mut blobs = BTreeMap::new();
        let mut failed = false;
        for bytes in std::iter::once(config.as_slice()).chain(layers.iter().copied()) {
            let digest = sha256(bytes);
            let r = http()
                .post(format!(
                    "{}/v2/{repo}/blobs/uploads/?digest={digest}",
                    server.url
                ))
                .body(bytes.to_vec())
                .send()
                .await
                .unwrap();
            if r.status() == 503 {
                failed = true;
                break;
            }
            assert_eq!(r.status(), 201, "blob push for {tag}");
            blobs.insert(digest, bytes.to_vec());
        }
        if failed {
            continue;
        }
        let manifest = image_manifest(&config, layers);
        let r = put_manifest(server, repo, tag, OCI_MANIFEST, &manifest).await;
        if r.status() == 201 {
            return Pushed {
                digest: sha256(&manifest),
                manifest,
                blobs,
            };
        }
        assert!(
            matches!(r.status().as_u16(), 400 | 503),
            "manifest push for {tag}: {}",
            r.status()
        );
    }
    panic!("push of {repo}:{tag} kept failing");
}

/// Whether `repo` has the blob `digest` (a `HEAD`, which object storage answers without a redirect).
async fn has_blob(server: &TestServer, repo: &str, digest: &str) -> bool {
    let r = http()
        .head(format!("{}/v2/{repo}/blobs/{digest}", server.url))
        .send()
        .await
        .unwrap();
    r.status() == 200
}

/// On a SeaweedFS bucket, push times come from the objects' modification times: "keep the newest 2"
/// trashes the oldest of three tags, a restore brings it back as the newest, and "keep the newest 1"
/// with no trash period then frees the other two's own blobs while the restored one pulls.
#[tokio::test(flavor = "multi_thread")]
async fn retention_on_s3() {
    let s3 = s3_servers::S3Server::seaweedfs();
    s3.create_bucket("retention");
    let mut env = s3.registry_env("retention", "/registry");
    env.push((DELETE.0.into(), DELETE.1.into()));
    env.push((SETTLE.0.into(), SETTLE.1.into()));
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = TestServer::start_env(&vars).await;
    let mut images = Vec::new();
    for i in 1..=3 {
        // Object modification times have whole seconds.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let own = format!("s3 layer {i}").into_bytes();
        images.push(
            push(
                &server,
                "app",
                &format!("a{i}"),
                &format!("s3-{i}"),
                &[b"s3 base", &own],
                None,
            )
            .await,
        );
    }
    let keep = |n: u32| format!("[{{keep: {{latest: {n}}}}}]");
    let two = keep(2);
    let mut with_two = vars.clone();
    with_two.push(("REGISTRY_RETENTION_POLICIES", &two));
    let report = json_on(&with_two, &["retention", "--apply"]);
    assert_eq!(deleted_tags(&report), ["a1"], "{report:#}");
    assert_eq!(tags(&server, "app").await, ["a2", "a3"]);
    for digest in images[0].blobs.keys() {
        assert!(
            has_blob(&server, "app", digest).await,
            "a1's content waits in the trash"
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (code, out, err) = wharf_on(&vars, &["trash", "restore", "app:a1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(tags(&server, "app").await, ["a1", "a2", "a3"]);

    let one = keep(1);
    let mut with_one = vars.clone();
    with_one.push(("REGISTRY_RETENTION_POLICIES", &one));
    with_one.push(("REGISTRY_RETENTION_TRASHPERIOD", "0s"));
    let report = json_on(&with_one, &["retention", "--apply"]);
    assert_eq!(deleted_tags(&report), ["a3", "a2"], "{report:#}");
    assert_eq!(tags(&server, "app").await, ["a1"]);
    for image in &images[1..] {
        for (digest, bytes) in &image.blobs {
            let shared = bytes.as_slice() == b"s3 base";
            assert_eq!(has_blob(&server, "app", digest).await, shared, "{digest}");
        }
    }
    let r = http()
        .get(format!("{}/v2/app/manifests/a1", server.url))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), images[0].manifest);
    for digest in images[0].blobs.keys() {
        assert!(has_blob(&server, "app", digest).await, "{digest}");
    }
    server.stop().await;
}

/// Deletes from the embedded web UI go to the trash: a tag removed on the UI's confirmation page is
/// listed by `wharf trash list` as deleted by the UI, its content survives a garbage collection of
/// untagged manifests, and `wharf trash restore` brings it back byte for byte. A `DELETE` by digest
/// asking for the trash trashes every tag on the image and deletes it by digest; restoring a tag
/// brings the image back.
#[tokio::test(flavor = "multi_thread")]
async fn ui_deletes_go_to_the_trash() {
    let server = TestServer::start_env(&[
        SETTLE,
        DELETE,
        ("REGISTRY_UI_ENABLED", "true"),
        ("REGISTRY_UI_DELETEIMAGES", "true"),
    ])
    .await;
    let v1 = push(&server, "app", "v1", "ui-v1", &[b"ui layer 1"], None).await;
    let v2 = push(&server, "app", "v2", "ui-v2", &[b"ui layer 2"], None).await;
    let r = put_manifest(&server, "app", "stable", OCI_MANIFEST, &v2.manifest).await;
    assert_eq!(r.status(), 201);
    let r = http()
        .post(format!("{}/ui/r/app/-/delete", server.url))
        .form(&[("step", "tags"), ("tag", "v1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    assert_eq!(tags(&server, "app").await, ["stable", "v2"]);
    let r = http()
        .delete(format!("{}/v2/app/manifests/{}", server.url, v2.digest))
        .header("wharf-trash", "script")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(tags(&server, "app").await.is_empty());
    let by_digest = format!("/v2/app/manifests/{}", v2.digest);
    assert_eq!(
        status(&server, &by_digest).await,
        404,
        "deleted by digest, as asked"
    );

    let root = server.root.clone();
    let trash = wharf_json(&root, &[], &["trash", "list"]);
    let entries: Vec<(&str, &str)> = trash
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["tag"].as_str().unwrap(), e["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        entries,
        [
            ("stable", "deleted by script"),
            ("v1", "deleted by ui"),
            ("v2", "deleted by script")
        ]
    );
    let (code, out, err) = wharf(
        &root,
        &[],
        &["garbage-collect", "-m", "--grace-period", "0s"],
    );
    assert_eq!(code, 0, "{out}{err}");
    for tag in ["v1", "stable"] {
        let (code, out, err) = wharf(&root, &[], &["trash", "restore", &format!("app:{tag}")]);
        assert_eq!(code, 0, "{out}{err}");
    }
    assert_pulls(&server, "app", "v1", &v1).await;
    assert_pulls(&server, "app", "stable", &v2).await;
    server.stop().await;
}

/// A repository whose every tag retention deleted leaves `/v2/_catalog` once the trash period has
/// ended and the collection freed its content (while the tags wait in the trash it stays listed,
/// restorable); its tag list then answers `NAME_UNKNOWN`, and a repository the policy does not
/// govern stays. On the filesystem and on S3 (SeaweedFS, where the catalog is an index).
#[tokio::test(flavor = "multi_thread")]
async fn emptied_repositories_leave_the_catalog() {
    emptied_repository_leaves_the_catalog(&[]).await;
    let s3 = s3_servers::S3Server::seaweedfs();
    s3.create_bucket("emptied");
    let env = s3.registry_env("emptied", "/registry");
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    emptied_repository_leaves_the_catalog(&vars).await;
}

/// One run of [`emptied_repositories_leave_the_catalog`] on the storage `storage` names (the
/// filesystem when empty).
async fn emptied_repository_leaves_the_catalog(storage: &[(&str, &str)]) {
    let mut env = vec![SETTLE, DELETE];
    env.extend_from_slice(storage);
    let server = TestServer::start_env(&env).await;
    let root = server.root.to_str().unwrap().to_string();
    if storage.is_empty() {
        env.push(("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", &root));
    }
    for tag in ["ci-1", "ci-2"] {
        push(&server, "gone/app", tag, tag, &[b"gone layer"], None).await;
    }
    let kept = push(&server, "kept/app", "v1", "kept", &[b"kept layer"], None).await;
    let catalog = || async {
        let r = http()
            .get(format!("{}/v2/_catalog", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        body["repositories"].clone()
    };
    assert_eq!(catalog().await, json!(["gone/app", "kept/app"]));

    let policy = (
        "REGISTRY_RETENTION_POLICIES",
        r#"[{repositories: ["gone/*"], delete: {tags: ["ci-.*"]}}]"#,
    );
    let mut trashing = env.clone();
    trashing.extend([policy, ("REGISTRY_RETENTION_TRASHPERIOD", "2s")]);
    let report = json_on(&trashing, &["retention", "--apply"]);
    let mut deleted = deleted_tags(&report);
    deleted.sort();
    assert_eq!(deleted, ["ci-1", "ci-2"], "{report:#}");
    assert!(tags(&server, "gone/app").await.is_empty());
    assert_eq!(
        catalog().await,
        json!(["gone/app", "kept/app"]),
        "trashed tags can be restored, so the repository stays"
    );

    // The trash period ends; the next collection frees the content and the repository with it.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (code, out, err) = wharf_on(&env, &["garbage-collect"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("deleted empty repository gone/app"), "{out}");
    assert_eq!(catalog().await, json!(["kept/app"]));
    let r = http()
        .get(format!("{}/v2/gone/app/tags/list", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(common::error_code(r).await, "NAME_UNKNOWN");
    let trash = json_on(&env, &["trash", "list"]);
    assert_eq!(trash, json!([]), "expired entries go with their content");
    assert_eq!(tags(&server, "kept/app").await, ["v1"]);
    assert_pulls_verified(&server, "kept/app", "v1", &kept.digest).await;

    // With no trash period, the run that deletes the tags removes the repository.
    push(&server, "now/app", "ci-1", "now", &[b"now layer"], None).await;
    assert_eq!(catalog().await, json!(["kept/app", "now/app"]));
    let mut at_once = env.clone();
    at_once.extend([
        (
            "REGISTRY_RETENTION_POLICIES",
            r#"[{repositories: ["now/*"], delete: {tags: ["ci-.*"]}}]"#,
        ),
        ("REGISTRY_RETENTION_TRASHPERIOD", "0s"),
    ]);
    let report = json_on(&at_once, &["retention", "--apply"]);
    assert_eq!(deleted_tags(&report), ["ci-1"], "{report:#}");
    assert_eq!(catalog().await, json!(["kept/app"]));
    server.stop().await;
}

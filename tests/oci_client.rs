//! Interoperability with an independent client: the `oci-client` crate pushes, pulls, lists tags and
//! queries referrers against a real Wharf server, with raw HTTP checks of the headers the client
//! does not expose.
mod common;

use common::layers::{noise, tar_gz_layer};
use common::{http, sha256, TestServer};
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{
    OciDescriptor, OciImageManifest, OciManifest, IMAGE_CONFIG_MEDIA_TYPE,
    IMAGE_LAYER_GZIP_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::{json, Value};

/// The OCI empty descriptor's content and media type.
const EMPTY_JSON: &[u8] = b"{}";
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// A client speaking plain HTTP to the test server.
fn client(server: &TestServer) -> Client {
    Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(vec![server.host()]),
        ..Default::default()
    })
}

fn tagged(server: &TestServer, repo: &str, tag: &str) -> Reference {
    Reference::with_tag(server.host(), repo.to_string(), tag.to_string())
}

fn by_digest(server: &TestServer, repo: &str, digest: &str) -> Reference {
    Reference::with_digest(server.host(), repo.to_string(), digest.to_string())
}

/// An OCI image of a config and two layers of a few hundred KiB each.
fn sample_image(seed: u64) -> (Config, Vec<ImageLayer>) {
    let (l1, diff1) = tar_gz_layer(seed, 300 * 1024);
    let (l2, diff2) = tar_gz_layer(seed + 1, 200 * 1024 + 17);
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/bin:/usr/bin"], "Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": [diff1, diff2]},
        "history": [{"created_by": "layer one"}, {"created_by": "layer two"}]
    });
    let config = Config::oci_v1(serde_json::to_vec(&config).unwrap(), None);
    let layers = vec![
        ImageLayer::oci_v1_gzip(l1, None),
        ImageLayer::oci_v1_gzip(l2, None),
    ];
    (config, layers)
}

/// The digest at the end of a manifest URL returned by a push.
fn digest_of_url(url: &str) -> String {
    let (_, digest) = url.rsplit_once("/manifests/").expect("manifest URL");
    assert!(digest.starts_with("sha256:"), "{url}");
    digest.to_string()
}

/// Pushes `sample_image(seed)` as `repo:tag`; returns the manifest digest and the image.
async fn push_image(
    client: &Client,
    server: &TestServer,
    repo: &str,
    tag: &str,
    seed: u64,
) -> (String, Config, Vec<ImageLayer>) {
    let (config, layers) = sample_image(seed);
    let pushed = client
        .push(
            &tagged(server, repo, tag),
            &layers,
            config.clone(),
            &RegistryAuth::Anonymous,
            None,
        )
        .await
        .expect("push image");
    (digest_of_url(&pushed.manifest_url), config, layers)
}

/// An image pushed with its config and two layers pulls back byte for byte, and the manifest digest
/// the push reported is the one the pull, `fetch_manifest_digest` and the manifest bytes agree on.
#[tokio::test(flavor = "multi_thread")]
async fn push_and_pull_image() {
    let server = TestServer::start().await;
    let client = client(&server);
    let repo = "interop/image";
    let (pushed_digest, config, layers) = push_image(&client, &server, repo, "v1", 1).await;
    let reference = tagged(&server, repo, "v1");

    let pulled = client
        .pull(
            &reference,
            &RegistryAuth::Anonymous,
            vec![IMAGE_LAYER_GZIP_MEDIA_TYPE],
        )
        .await
        .expect("pull image");
    // The client downloads layers concurrently and returns them in completion order.
    assert_eq!(pulled.layers.len(), 2);
    for want in &layers {
        let got = pulled
            .layers
            .iter()
            .find(|l| l.sha256_digest() == want.sha256_digest())
            .expect("every pushed layer is pulled");
        assert_eq!(got.media_type, want.media_type);
        assert!(got.data == want.data, "layer bytes differ");
    }
    let manifest = pulled.manifest.as_ref().expect("pulled manifest");
    let order: Vec<String> = manifest.layers.iter().map(|l| l.digest.clone()).collect();
    assert_eq!(
        order,
        [layers[0].sha256_digest(), layers[1].sha256_digest()]
    );
    assert_eq!(pulled.config.data, config.data);
    assert_eq!(pulled.config.media_type, IMAGE_CONFIG_MEDIA_TYPE);
    assert_eq!(pulled.digest.as_deref(), Some(pushed_digest.as_str()));

    let head_digest = client
        .fetch_manifest_digest(&reference, &RegistryAuth::Anonymous)
        .await
        .expect("fetch manifest digest");
    assert_eq!(head_digest, pushed_digest);

    let (raw, raw_digest) = client
        .pull_manifest_raw(
            &reference,
            &RegistryAuth::Anonymous,
            &[OCI_IMAGE_MEDIA_TYPE],
        )
        .await
        .expect("pull raw manifest");
    assert_eq!(raw_digest, pushed_digest);
    assert_eq!(sha256(&raw), pushed_digest);
    let expected = OciImageManifest::build(&layers, &config, None);
    assert_eq!(
        serde_json::from_slice::<Value>(&raw).unwrap(),
        serde_json::to_value(&expected).unwrap()
    );

    // The same image by digest.
    let by_digest_pull = client
        .pull(
            &by_digest(&server, repo, &pushed_digest),
            &RegistryAuth::Anonymous,
            vec![IMAGE_LAYER_GZIP_MEDIA_TYPE],
        )
        .await
        .expect("pull by digest");
    assert_eq!(
        by_digest_pull.digest.as_deref(),
        Some(pushed_digest.as_str())
    );
    let mut got: Vec<String> = by_digest_pull
        .layers
        .iter()
        .map(|l| l.sha256_digest())
        .collect();
    let mut want: Vec<String> = layers.iter().map(|l| l.sha256_digest()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    server.stop().await;
}

/// An artifact whose config has a non-image media type and whose layer has a custom media type is
/// stored and served unchanged: the pull returns the same config, layer, media types and digest.
#[tokio::test(flavor = "multi_thread")]
async fn push_and_pull_artifact_with_custom_config() {
    let server = TestServer::start().await;
    let client = client(&server);
    let reference = tagged(&server, "interop/thing", "1.0");
    let config_type = "application/vnd.example.thing.config.v1+json";
    let layer_type = "application/vnd.example.thing.layer.v1+tar";
    let config = Config::new(
        br#"{"thing":"widget","version":3}"#.to_vec(),
        config_type.into(),
        None,
    );
    let layers = vec![ImageLayer::new(
        noise(7, 150 * 1024),
        layer_type.into(),
        None,
    )];
    let pushed = client
        .push(
            &reference,
            &layers,
            config.clone(),
            &RegistryAuth::Anonymous,
            None,
        )
        .await
        .expect("push artifact");

    let pulled = client
        .pull(&reference, &RegistryAuth::Anonymous, vec![layer_type])
        .await
        .expect("pull artifact");
    assert_eq!(
        pulled.digest.as_deref(),
        Some(digest_of_url(&pushed.manifest_url).as_str())
    );
    assert_eq!(pulled.config.media_type, config_type);
    assert_eq!(pulled.config.data, config.data);
    assert_eq!(pulled.layers.len(), 1);
    assert_eq!(pulled.layers[0].media_type, layer_type);
    assert_eq!(pulled.layers[0].data, layers[0].data);
    server.stop().await;
}

/// An OCI 1.1 artifact (empty `{}` config, `artifactType` set, custom layer type) round-trips with its
/// `artifactType` intact and the manifest served as an OCI image manifest.
#[tokio::test(flavor = "multi_thread")]
async fn push_and_pull_artifact_with_empty_config() {
    let server = TestServer::start().await;
    let client = client(&server);
    let reference = tagged(&server, "interop/artifact", "latest");
    let artifact_type = "application/vnd.example.thing.v1";
    let layer_type = "application/vnd.example.thing.data.v1";
    let config = Config::new(EMPTY_JSON.to_vec(), EMPTY_MEDIA_TYPE.into(), None);
    let layers = vec![ImageLayer::new(
        noise(11, 64 * 1024 + 3),
        layer_type.into(),
        None,
    )];
    let mut manifest = OciImageManifest::build(&layers, &config, None);
    manifest.media_type = Some(OCI_IMAGE_MEDIA_TYPE.into());
    manifest.artifact_type = Some(artifact_type.into());
    let pushed = client
        .push(
            &reference,
            &layers,
            config.clone(),
            &RegistryAuth::Anonymous,
            Some(manifest),
        )
        .await
        .expect("push artifact");

    let pulled = client
        .pull(&reference, &RegistryAuth::Anonymous, vec![layer_type])
        .await
        .expect("pull artifact");
    assert_eq!(
        pulled.digest.as_deref(),
        Some(digest_of_url(&pushed.manifest_url).as_str())
    );
    let manifest = pulled.manifest.expect("pulled manifest");
    assert_eq!(manifest.artifact_type.as_deref(), Some(artifact_type));
    assert_eq!(manifest.config.media_type, EMPTY_MEDIA_TYPE);
    assert_eq!(pulled.config.data, EMPTY_JSON);
    assert_eq!(pulled.layers[0].media_type, layer_type);
    assert_eq!(pulled.layers[0].data, layers[0].data);

    let r = http()
        .head(format!(
            "{}/v2/interop/artifact/manifests/latest",
            server.url
        ))
        .header("Accept", OCI_IMAGE_MEDIA_TYPE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], OCI_IMAGE_MEDIA_TYPE);
    server.stop().await;
}

/// Several tags list sorted through the client, paginate with `n`/`last` through the client, and
/// the raw API's `Link` header walks the same pages and is absent on the last one.
#[tokio::test(flavor = "multi_thread")]
async fn list_tags_with_pagination() {
    let server = TestServer::start().await;
    let client = client(&server);
    let repo = "interop/tags";
    push_image(&client, &server, repo, "v1", 21).await;
    let (manifest, _) = client
        .pull_image_manifest(&tagged(&server, repo, "v1"), &RegistryAuth::Anonymous)
        .await
        .expect("pull manifest");
    for tag in ["v2", "v3", "latest", "alpha"] {
        client
            .push_manifest(
                &tagged(&server, repo, tag),
                &OciManifest::Image(manifest.clone()),
            )
            .await
            .expect("tag manifest");
    }
    let all = ["alpha", "latest", "v1", "v2", "v3"];
    let auth = RegistryAuth::Anonymous;
    let any = tagged(&server, repo, "v1");

    let listed = client
        .list_tags(&any, &auth, None, None)
        .await
        .expect("list tags");
    assert_eq!(listed.name, repo);
    assert_eq!(listed.tags, all);

    let mut paged = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let page = client
            .list_tags(&any, &auth, Some(2), last.as_deref())
            .await
            .expect("list tags page");
        assert!(page.tags.len() <= 2, "{:?}", page.tags);
        if page.tags.is_empty() {
            break;
        }
        last = page.tags.last().cloned();
        paged.extend(page.tags);
    }
    assert_eq!(paged, all);
    let page = client
        .list_tags(&any, &auth, Some(2), Some("latest"))
        .await
        .expect("page after latest");
    assert_eq!(page.tags, ["v1", "v2"]);

    // The raw API: follow `Link: <...>; rel="next"` until it disappears.
    let mut url = format!("{}/v2/{repo}/tags/list?n=2", server.url);
    let mut pages: Vec<Vec<String>> = Vec::new();
    loop {
        let r = http().get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let link = r
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_string());
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["name"], repo);
        pages.push(serde_json::from_value(body["tags"].clone()).unwrap());
        let Some(link) = link else { break };
        assert!(link.ends_with("; rel=\"next\""), "{link}");
        let target = link.trim_start_matches('<').split('>').next().unwrap();
        // Distribution sends a path; an absolute URL is as good.
        let path = target.strip_prefix(server.url.as_str()).unwrap_or(target);
        assert!(
            path.starts_with(&format!("/v2/{repo}/tags/list?")),
            "{link}"
        );
        url = format!("{}{path}", server.url);
        assert!(pages.len() < 10, "pagination does not end");
    }
    assert_eq!(
        pages,
        [vec!["alpha", "latest"], vec!["v1", "v2"], vec!["v3"]]
    );
    server.stop().await;
}

/// Pushes `content` as a blob of `repo` through the client and returns its descriptor.
async fn push_blob(
    client: &Client,
    server: &TestServer,
    repo: &str,
    media_type: &str,
    content: &[u8],
) -> OciDescriptor {
    let digest = sha256(content);
    client
        .push_blob(&tagged(server, repo, "unused"), content.to_vec(), &digest)
        .await
        .expect("push blob");
    OciDescriptor {
        media_type: media_type.into(),
        digest,
        size: content.len() as i64,
        ..Default::default()
    }
}

/// A referrer pushed by raw PUT gets `OCI-Subject` back; referrers of the image list it and a second
/// referrer pushed by the client; `?artifactType=` filters and says so in `OCI-Filters-Applied`; the
/// client's `pull_referrers` sees the same index.
#[tokio::test(flavor = "multi_thread")]
async fn referrers_of_an_image() {
    let server = TestServer::start().await;
    let client = client(&server);
    let repo = "interop/referred";
    let (subject_digest, _, _) = push_image(&client, &server, repo, "v1", 31).await;
    let subject_size = http()
        .get(format!(
            "{}/v2/{repo}/manifests/{subject_digest}",
            server.url
        ))
        .header("Accept", OCI_IMAGE_MEDIA_TYPE)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    let subject = OciDescriptor {
        media_type: OCI_IMAGE_MEDIA_TYPE.into(),
        digest: subject_digest.clone(),
        size: subject_size as i64,
        ..Default::default()
    };
    let empty = push_blob(&client, &server, repo, EMPTY_MEDIA_TYPE, EMPTY_JSON).await;

    // An SBOM, pushed by digest with raw HTTP to see the response headers.
    let sbom_type = "application/vnd.example.sbom";
    let sbom_layer = push_blob(
        &client,
        &server,
        repo,
        "application/vnd.example.sbom.v1+json",
        br#"{"packages":[{"name":"libc","version":"2.36"}]}"#,
    )
    .await;
    let sbom = json!({
        "schemaVersion": 2,
        "mediaType": OCI_IMAGE_MEDIA_TYPE,
        "artifactType": sbom_type,
        "config": empty,
        "layers": [sbom_layer],
        "subject": subject,
        "annotations": {"org.example.kind": "sbom"}
    });
    let sbom_bytes = serde_json::to_vec(&sbom).unwrap();
    let sbom_digest = sha256(&sbom_bytes);
    let r = http()
        .put(format!("{}/v2/{repo}/manifests/{sbom_digest}", server.url))
        .header("Content-Type", OCI_IMAGE_MEDIA_TYPE)
        .body(sbom_bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["oci-subject"], subject_digest.as_str());
    assert_eq!(r.headers()["docker-content-digest"], sbom_digest.as_str());

    // A signature, pushed through the client.
    let sig_type = "application/vnd.example.signature";
    let sig_layer = push_blob(
        &client,
        &server,
        repo,
        "application/vnd.example.signature.v1",
        &noise(32, 512),
    )
    .await;
    let signature = OciImageManifest {
        media_type: Some(OCI_IMAGE_MEDIA_TYPE.into()),
        artifact_type: Some(sig_type.into()),
        config: empty.clone(),
        layers: vec![sig_layer],
        subject: Some(subject.clone()),
        ..Default::default()
    };
    let sig_url = client
        .push_manifest(
            &tagged(&server, repo, "sig"),
            &OciManifest::Image(signature),
        )
        .await
        .expect("push signature");
    let sig_digest = digest_of_url(&sig_url);

    // Unfiltered: both, as an OCI index, without OCI-Filters-Applied.
    let referrers_url = format!("{}/v2/{repo}/referrers/{subject_digest}", server.url);
    let r = http().get(&referrers_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], OCI_IMAGE_INDEX_MEDIA_TYPE);
    assert!(r.headers().get("oci-filters-applied").is_none());
    let index: Value = r.json().await.unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], OCI_IMAGE_INDEX_MEDIA_TYPE);
    let manifests = index["manifests"].as_array().expect("manifests");
    assert_eq!(manifests.len(), 2, "{index}");
    let sbom_entry = manifests
        .iter()
        .find(|m| m["digest"] == sbom_digest.as_str())
        .expect("sbom listed");
    assert_eq!(sbom_entry["mediaType"], OCI_IMAGE_MEDIA_TYPE);
    assert_eq!(sbom_entry["size"], sbom_bytes.len());
    assert_eq!(sbom_entry["artifactType"], sbom_type);
    assert_eq!(sbom_entry["annotations"]["org.example.kind"], "sbom");
    let sig_entry = manifests
        .iter()
        .find(|m| m["digest"] == sig_digest.as_str())
        .expect("signature listed");
    assert_eq!(sig_entry["artifactType"], sig_type);

    // Filtered.
    let r = http()
        .get(format!("{referrers_url}?artifactType={sbom_type}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let index: Value = r.json().await.unwrap();
    let manifests = index["manifests"].as_array().expect("manifests");
    assert_eq!(manifests.len(), 1, "{index}");
    assert_eq!(manifests[0]["digest"], sbom_digest.as_str());

    // The client's view.
    let subject_ref = by_digest(&server, repo, &subject_digest);
    let all = client
        .pull_referrers(&subject_ref, None)
        .await
        .expect("pull referrers");
    let mut digests: Vec<&str> = all.manifests.iter().map(|m| m.digest.as_str()).collect();
    digests.sort();
    let mut want = vec![sbom_digest.as_str(), sig_digest.as_str()];
    want.sort();
    assert_eq!(digests, want);
    let sigs = client
        .pull_referrers(&subject_ref, Some(sig_type))
        .await
        .expect("pull filtered referrers");
    assert_eq!(sigs.manifests.len(), 1);
    assert_eq!(sigs.manifests[0].digest, sig_digest);
    assert_eq!(sigs.manifests[0].artifact_type.as_deref(), Some(sig_type));

    // A manifest nobody refers to has an empty index, not a 404.
    let r = http()
        .get(format!("{}/v2/{repo}/referrers/{sbom_digest}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let index: Value = r.json().await.unwrap();
    assert_eq!(index["manifests"], json!([]));
    server.stop().await;
}

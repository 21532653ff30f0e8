//! The web UI's `/v2/` pass-through: a 100 MB blob streams up through it (never held whole in
//! memory) and back down, and a real client (`oci-client`) pushes an image through the UI host that
//! then pulls straight from the registry.
mod common;
#[path = "common/ui_fixture.rs"]
mod ui_fixture;

use bytes::Bytes;
use common::TestServer;
use futures_util::{stream, StreamExt};
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::IMAGE_LAYER_MEDIA_TYPE;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::Digest;
use ui_fixture::{client, noise, test_config, UiServer};

const CHUNK: usize = 1024 * 1024;
const CHUNKS: usize = 100;

/// Chunk `i` of the big blob: deterministic, so it can be generated twice instead of kept.
fn chunk(i: usize) -> Bytes {
    Bytes::from(noise(&format!("big-{i}"), CHUNK))
}

fn big_stream() -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    stream::iter(0..CHUNKS).map(|i| Ok(chunk(i)))
}

/// sha256 of a response body, read as a stream.
async fn stream_digest(response: reqwest::Response) -> (String, u64) {
    let mut hasher = sha2::Sha256::new();
    let mut len = 0u64;
    let mut body = response.bytes_stream();
    while let Some(part) = body.next().await {
        let part = part.expect("body chunk");
        len += part.len() as u64;
        hasher.update(&part);
    }
    (format!("sha256:{}", hex::encode(hasher.finalize())), len)
}

/// A 100 MB blob uploaded through the UI in one streamed PATCH lands in the registry intact (checked
/// on the registry directly), and downloads back through the UI with the same digest and length.
#[tokio::test(flavor = "multi_thread")]
async fn push_100_mb_blob_through_the_ui() {
    let registry = TestServer::start().await;
    let ui = UiServer::start(test_config(&registry.url)).await;
    let mut hasher = sha2::Sha256::new();
    for i in 0..CHUNKS {
        hasher.update(chunk(i));
    }
    let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
    let total = (CHUNK * CHUNKS) as u64;

    let r = client()
        .post(format!("{}/v2/big/blob/blobs/uploads/", ui.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let location = if location.starts_with('/') {
        format!("{}{location}", ui.url)
    } else {
        location
    };
    assert!(
        location.starts_with(&ui.url),
        "the upload continues through the UI: {location}"
    );
    let r = client()
        .patch(&location)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(big_stream()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let location = if location.starts_with('/') {
        format!("{}{location}", ui.url)
    } else {
        location
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let r = client()
        .put(format!("{location}{sep}digest={digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);

    let direct = format!("{}/v2/big/blob/blobs/{digest}", registry.url);
    let r = client().head(&direct).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], total.to_string().as_str());
    let (stored, len) = stream_digest(client().get(&direct).send().await.unwrap()).await;
    assert_eq!((stored.as_str(), len), (digest.as_str(), total));

    let via_ui = format!("{}/v2/big/blob/blobs/{digest}", ui.url);
    let r = client().head(&via_ui).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], total.to_string().as_str());
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let (downloaded, len) = stream_digest(client().get(&via_ui).send().await.unwrap()).await;
    assert_eq!((downloaded.as_str(), len), (digest.as_str(), total));

    ui.stop().await;
    registry.stop().await;
}

/// `oci-client` pushes an image to the UI's host as if it were the registry; the image is then
/// pulled from the registry itself, layer bytes intact.
#[tokio::test(flavor = "multi_thread")]
async fn oci_client_pushes_through_the_ui() {
    let registry = TestServer::start().await;
    let ui = UiServer::start(test_config(&registry.url)).await;
    let ui_host = ui.addr.to_string();
    let push_client = Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(vec![ui_host.clone()]),
        ..Default::default()
    });
    let layer = ImageLayer::new(
        noise("proxied layer", 256 * 1024),
        IMAGE_LAYER_MEDIA_TYPE.into(),
        None,
    );
    let config = Config::oci_v1(
        serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [ui_fixture::sha256(&layer.data)]}
        }))
        .unwrap(),
        None,
    );
    let target = Reference::with_tag(ui_host, "via/ui".into(), "v1".into());
    push_client
        .push(
            &target,
            std::slice::from_ref(&layer),
            config,
            &RegistryAuth::Anonymous,
            None,
        )
        .await
        .expect("push through the UI");

    let pull_client = Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(vec![registry.host()]),
        ..Default::default()
    });
    let source = Reference::with_tag(registry.host(), "via/ui".into(), "v1".into());
    let pulled = pull_client
        .pull(
            &source,
            &RegistryAuth::Anonymous,
            vec![IMAGE_LAYER_MEDIA_TYPE],
        )
        .await
        .expect("pull from the registry");
    assert_eq!(pulled.layers.len(), 1);
    assert!(pulled.layers[0].data == layer.data, "layer bytes differ");

    ui.stop().await;
    registry.stop().await;
}

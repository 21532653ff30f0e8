//! Real registry clients logging in to an htpasswd-protected Wharf: skopeo with `--dest-creds` /
//! `--src-creds` (containers/image, the library podman and buildah use) and the `oci-client` crate
//! with `RegistryAuth::Basic`. Both meet the 401 challenge first and answer it with credentials.

mod auth_support;
mod common;
#[path = "common/oci_layout.rs"]
mod oci_layout;
#[path = "common/skopeo.rs"]
mod skopeo;

use auth_support::{start, users_dir};
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{IMAGE_LAYER_GZIP_MEDIA_TYPE, IMAGE_LAYER_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use skopeo::{oci_ref, Skopeo};

const CI: (&str, &str) = ("ci", "ci-password");

/// skopeo pushes an OCI layout with `--dest-creds` and pulls it back byte for byte with
/// `--src-creds`; with a wrong password or no credentials the copy fails.
#[tokio::test(flavor = "multi_thread")]
async fn skopeo_with_credentials() {
    let (_dir, path) = users_dir(&[CI]);
    let server = start(&path, &[]).await;
    let skopeo = Skopeo::new();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let image = oci_layout::single_image(&src, "auth-skopeo", "v1", 2);
    let remote = format!("docker://{}/auth/skopeo:v1", server.host());
    let creds = format!("{}:{}", CI.0, CI.1);

    let out = skopeo
        .try_copy(&oci_ref(&src, "v1"), &remote, &["--dest-creds", &creds])
        .await;
    assert!(
        out.status.success(),
        "push with --dest-creds: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pulled = work.path().join("pulled");
    let out = skopeo
        .try_copy(&remote, &oci_ref(&pulled, "v1"), &["--src-creds", &creds])
        .await;
    assert!(
        out.status.success(),
        "pull with --src-creds: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, manifest) = oci_layout::resolve(&pulled, "v1");
    assert_eq!(manifest, image.manifest);
    assert_eq!(oci_layout::blobs(&pulled), oci_layout::blobs(&src));

    let denied = work.path().join("denied");
    for flags in [vec!["--src-creds", "ci:wrong"], vec![]] {
        let out = skopeo
            .try_copy(&remote, &oci_ref(&denied, "v1"), &flags)
            .await;
        assert!(!out.status.success(), "pull with {flags:?} must fail");
        let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(
            stderr.contains("unauthorized") || stderr.contains("authentication required"),
            "{stderr}"
        );
    }
    server.stop().await;
}

/// oci-client pushes and pulls an image with `RegistryAuth::Basic`; anonymous pulls are refused.
#[tokio::test(flavor = "multi_thread")]
async fn oci_client_with_basic_auth() {
    let (_dir, path) = users_dir(&[CI]);
    let server = start(&path, &[]).await;
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(vec![server.host()]),
        ..Default::default()
    });
    let reference = Reference::with_tag(server.host(), "auth/oci-client".into(), "v1".into());
    let auth = RegistryAuth::Basic(CI.0.into(), CI.1.into());
    let layer = ImageLayer::new(
        b"oci-client layer behind auth".to_vec(),
        IMAGE_LAYER_MEDIA_TYPE.into(),
        None,
    );
    let config = Config::oci_v1(br#"{"architecture":"amd64","os":"linux"}"#.to_vec(), None);
    client
        .push(
            &reference,
            std::slice::from_ref(&layer),
            config,
            &auth,
            None,
        )
        .await
        .expect("push with Basic credentials");

    let fresh = Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(vec![server.host()]),
        ..Default::default()
    });
    let pulled = fresh
        .pull(&reference, &auth, vec![IMAGE_LAYER_MEDIA_TYPE])
        .await
        .expect("pull with Basic credentials");
    assert_eq!(pulled.layers.len(), 1);
    assert_eq!(pulled.layers[0].data, layer.data);

    let anonymous = Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(vec![server.host()]),
        ..Default::default()
    });
    let refused = anonymous
        .pull(
            &reference,
            &RegistryAuth::Anonymous,
            vec![IMAGE_LAYER_MEDIA_TYPE, IMAGE_LAYER_GZIP_MEDIA_TYPE],
        )
        .await;
    assert!(refused.is_err(), "anonymous pull must be refused");
    server.stop().await;
}

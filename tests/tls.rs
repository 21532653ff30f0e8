//! TLS through the real server: certificates from a test CA, HTTP/2, real clients (skopeo with
//! `--cert-dir`, oci-client with the CA), mutual TLS, the minimum version, and certificate reload.
#[path = "common/certs.rs"]
mod certs;
mod common;
#[path = "common/oci_layout.rs"]
mod oci_layout;
#[path = "common/skopeo.rs"]
mod skopeo;

use std::time::Duration;

use certs::Ca;
use common::TestServer;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

fn tls_env<'a>(leaf: &'a certs::Leaf, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("REGISTRY_HTTP_TLS_CERTIFICATE", leaf.cert.to_str().unwrap()),
        ("REGISTRY_HTTP_TLS_KEY", leaf.key.to_str().unwrap()),
    ];
    env.extend_from_slice(extra);
    env
}

/// Over TLS the API answers on HTTP/2 (ALPN), or HTTP/1.1 when `http.http2.disabled`; plain HTTP to
/// the TLS port gets no API answer.
#[tokio::test(flavor = "multi_thread")]
async fn https_with_http2() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Test CA");
    let leaf = ca.server(dir.path(), "server");
    let server = TestServer::start_env(&tls_env(&leaf, &[])).await;
    assert!(server.url.starts_with("https://"));
    let r = ca
        .client()
        .build()
        .unwrap()
        .get(format!("{}/v2/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    let plain = common::http()
        .get(format!("http://{}/v2/", server.host()))
        .send()
        .await;
    assert!(
        plain.map(|r| r.status() != 200).unwrap_or(true),
        "plain HTTP must not be served"
    );
    server.stop().await;

    let server =
        TestServer::start_env(&tls_env(&leaf, &[("REGISTRY_HTTP_HTTP2_DISABLED", "true")])).await;
    let r = ca
        .client()
        .build()
        .unwrap()
        .get(format!("{}/v2/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    server.stop().await;
}

/// skopeo (trusting the CA through `--cert-dir`) pushes an image over TLS, and oci-client (with the CA
/// as an extra root) pulls it back byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn real_clients_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Test CA");
    let leaf = ca.server(dir.path(), "server");
    let server = TestServer::start_env(&tls_env(&leaf, &[])).await;
    let sk = skopeo::Skopeo::new();
    ca.write(&std::path::PathBuf::from(sk.path("certs.d")).join("ca.crt"));
    let layout_dir = tempfile::tempdir().unwrap();
    let mut layout = oci_layout::OciLayout::create(layout_dir.path());
    let image = layout.add_image("tls", oci_layout::LINUX_AMD64, 2);
    layout.tag("v1", oci_layout::OCI_MANIFEST, &image.manifest);
    sk.run(
        "copy",
        &[
            &format!("oci:{}:v1", layout_dir.path().display()),
            &format!("docker://{}/secure/app:v1", server.host()),
        ],
    )
    .await;

    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Https,
        extra_root_certificates: vec![Certificate {
            encoding: CertificateEncoding::Pem,
            data: ca.pem.clone().into_bytes(),
        }],
        ..Default::default()
    });
    let reference: Reference = format!("{}/secure/app:v1", server.host()).parse().unwrap();
    let (manifest, digest) = client
        .pull_manifest_raw(
            &reference,
            &RegistryAuth::Anonymous,
            &[oci_layout::OCI_MANIFEST],
        )
        .await
        .unwrap();
    assert_eq!(manifest.as_ref(), image.manifest.bytes.as_slice());
    assert_eq!(digest, image.manifest.digest);
    for layer in &image.layers {
        let mut pulled = Vec::new();
        client
            .pull_blob(&reference, layer.digest.as_str(), &mut pulled)
            .await
            .unwrap();
        assert_eq!(pulled, layer.bytes);
    }
    server.stop().await;
}

/// With `http.tls.clientcas`, a client without a certificate from that CA is refused at the handshake,
/// and one with it is served.
#[tokio::test(flavor = "multi_thread")]
async fn mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Server CA");
    let client_ca = Ca::new("Client CA");
    let other_ca = Ca::new("Other CA");
    let leaf = ca.server(dir.path(), "server");
    let client_ca_file = dir.path().join("clients.pem");
    client_ca.write(&client_ca_file);
    let server = TestServer::start_env(&tls_env(
        &leaf,
        &[(
            "REGISTRY_HTTP_TLS_CLIENTCAS",
            &format!("[{}]", client_ca_file.display()),
        )],
    ))
    .await;
    let url = format!("{}/v2/", server.url);
    assert!(
        ca.client().build().unwrap().get(&url).send().await.is_err(),
        "no client certificate"
    );
    let stranger = other_ca.issue(dir.path(), "stranger", &["stranger"]);
    let with = |identity: &str| {
        ca.client()
            .identity(reqwest::Identity::from_pem(identity.as_bytes()).unwrap())
            .build()
            .unwrap()
    };
    assert!(
        with(&stranger.identity_pem).get(&url).send().await.is_err(),
        "certificate from an unknown CA"
    );
    let good = client_ca.issue(dir.path(), "client", &["client"]);
    let r = with(&good.identity_pem).get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    server.stop().await;
}

/// `http.tls.minimumtls: tls1.3` refuses a TLS 1.2 client.
#[tokio::test(flavor = "multi_thread")]
async fn minimum_version() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Test CA");
    let leaf = ca.server(dir.path(), "server");
    let server = TestServer::start_env(&tls_env(
        &leaf,
        &[("REGISTRY_HTTP_TLS_MINIMUMTLS", "tls1.3")],
    ))
    .await;
    let url = format!("{}/v2/", server.url);
    let old = ca
        .client()
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    assert!(old.get(&url).send().await.is_err());
    assert_eq!(
        ca.client()
            .build()
            .unwrap()
            .get(&url)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.stop().await;
}

/// Replacing the certificate files switches the served certificate without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn certificate_reload() {
    let dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::new("Old CA");
    let new_ca = Ca::new("New CA");
    let leaf = old_ca.server(dir.path(), "server");
    let server = TestServer::start_env(&tls_env(&leaf, &[])).await;
    let url = format!("{}/v2/", server.url);
    let trusts_new = new_ca.client().build().unwrap();
    assert!(trusts_new.get(&url).send().await.is_err());
    let renewed = new_ca.server(dir.path(), "renewed");
    std::fs::copy(&renewed.key, &leaf.key).unwrap();
    std::fs::copy(&renewed.cert, &leaf.cert).unwrap();
    let mut served = false;
    for _ in 0..100 {
        if trusts_new
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        served,
        "the renewed certificate is served after the files change"
    );
    server.stop().await;
}

/// A missing key or unreadable certificate stops start-up and `wharf config --check` (exit 2) with a
/// message naming the setting: the configuration's checks, then the files read before serving.
#[test]
fn bad_tls_settings() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Test CA");
    let leaf = ca.server(dir.path(), "server");
    let cert = leaf.cert.to_str().unwrap();
    let cases = [
        (
            vec![("REGISTRY_HTTP_TLS_CERTIFICATE", cert)],
            "http.tls.key",
        ),
        (
            vec![
                ("REGISTRY_HTTP_TLS_CERTIFICATE", "/nonexistent.pem"),
                ("REGISTRY_HTTP_TLS_KEY", cert),
            ],
            "http.tls.certificate",
        ),
        (
            vec![
                ("REGISTRY_HTTP_TLS_CERTIFICATE", cert),
                ("REGISTRY_HTTP_TLS_KEY", cert),
            ],
            "http.tls.key",
        ),
        (
            vec![
                ("REGISTRY_HTTP_TLS_CERTIFICATE", cert),
                ("REGISTRY_HTTP_TLS_KEY", leaf.key.to_str().unwrap()),
                ("REGISTRY_HTTP_TLS_MINIMUMTLS", "ssl3"),
            ],
            "http.tls.minimumtls",
        ),
    ];
    for (env, key) in cases {
        for command in [&["config", "--check"][..], &["serve"]] {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
                .args(command)
                .env_clear()
                .env("REGISTRY_HTTP_ADDR", "127.0.0.1:0")
                .env("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", dir.path())
                .envs(env.iter().copied())
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{command:?} {env:?}: {err}");
            assert!(err.contains(key), "{command:?} {env:?}: {err}");
            assert!(
                err.contains("(from environment variable REGISTRY_HTTP_TLS_"),
                "{err}"
            );
        }
    }
}

/// `http.tls.letsencrypt` needs hosts, an e-mail and a cache path, and excludes certificate files.
#[test]
fn letsencrypt_settings() {
    let cases: [(Vec<(&str, &str)>, &str); 4] = [
        (
            vec![
                ("REGISTRY_HTTP_TLS_LETSENCRYPT_EMAIL", "ops@example.com"),
                ("REGISTRY_HTTP_TLS_LETSENCRYPT_CACHEFILE", "/tmp/le"),
            ],
            "http.tls.letsencrypt.hosts",
        ),
        (
            vec![
                ("REGISTRY_HTTP_TLS_LETSENCRYPT_HOSTS", "[r.example.com]"),
                ("REGISTRY_HTTP_TLS_LETSENCRYPT_CACHEFILE", "/tmp/le"),
            ],
            "http.tls.letsencrypt.email",
        ),
        (
            vec![
                ("REGISTRY_HTTP_TLS_LETSENCRYPT_HOSTS", "[r.example.com]"),
                ("REGISTRY_HTTP_TLS_LETSENCRYPT_EMAIL", "ops@example.com"),
            ],
            "http.tls.letsencrypt.cachefile",
        ),
        (
            vec![
                ("REGISTRY_HTTP_TLS_LETSENCRYPT_HOSTS", "[r.example.com]"),
                ("REGISTRY_HTTP_TLS_LETSENCRYPT_EMAIL", "ops@example.com"),
                ("REGISTRY_HTTP_TLS_LETSENCRYPT_CACHEFILE", "/tmp/le"),
                ("REGISTRY_HTTP_TLS_CERTIFICATE", "/tmp/cert.pem"),
            ],
            "cannot be combined",
        ),
    ];
    for (env, want) in cases {
        let vars = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let err = wharf::config::Config::load(None, wharf::config::RegistryEnv::from_vars(vars))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{env:?}: {err}");
    }
}

/// With `http.tls.letsencrypt` the server starts and asks the configured ACME directory for a
/// certificate (a stand-in directory here, as there is no internet), keeping its account in the cache.
#[tokio::test(flavor = "multi_thread")]
async fn letsencrypt_contacts_the_acme_directory() {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    let acme = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let record = record.clone();
        async move {
            record.lock().unwrap().push(uri.path().to_string());
            axum::http::StatusCode::SERVICE_UNAVAILABLE
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let directory = format!("http://{}/directory", listener.local_addr().unwrap());
    let stand_in = tokio::spawn(async move { axum::serve(listener, acme).await });
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("letsencrypt").display().to_string();
    let server = TestServer::start_env(&[
        (
            "REGISTRY_HTTP_TLS_LETSENCRYPT_HOSTS",
            "[registry.example.com]",
        ),
        ("REGISTRY_HTTP_TLS_LETSENCRYPT_EMAIL", "ops@example.com"),
        ("REGISTRY_HTTP_TLS_LETSENCRYPT_CACHEFILE", &cache_dir),
        ("REGISTRY_HTTP_TLS_LETSENCRYPT_DIRECTORYURL", &directory),
    ])
    .await;
    let mut asked = false;
    for _ in 0..100 {
        if seen.lock().unwrap().iter().any(|p| p == "/directory") {
            asked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        asked,
        "the ACME directory was not contacted: {:?}",
        seen.lock().unwrap()
    );
    server.stop().await;
    stand_in.abort();
}

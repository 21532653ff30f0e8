//! `wharf ui` against a registry whose certificate comes from a private CA, through the real binary:
//! refused with the real cause and the setting that fixes it until the CA is given by
//! `WHARF_UI_UPSTREAM_CA` or `SSL_CERT_FILE`; `WHARF_UI_UPSTREAM_INSECURE` works and is warned about;
//! a name mismatch and a refused connection are told apart, on the pages and on the `/v2/` proxy.
#[path = "common/certs.rs"]
mod certs;
mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestServer;

/// A `wharf ui` process, killed when dropped.
struct Ui {
    child: Child,
    url: String,
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Ui {
    /// Starts `wharf ui` for `upstream` with `env` only, and waits until it answers.
    async fn start(upstream: &str, env: &[(&str, &str)]) -> Ui {
        let port = common::binary::free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_wharf"))
            .arg("ui")
            .env_clear()
            .env("WHARF_UI_UPSTREAM", upstream)
            .env("WHARF_UI_LISTEN", format!("127.0.0.1:{port}"))
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wharf ui");
        let ui = Ui {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        let css = format!("{}/assets/style.css", ui.url);
        while common::http().get(&css).send().await.is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "wharf ui did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ui
    }

    /// Status and body of the catalog page and of `/v2/` through the proxy.
    async fn page_and_proxy(&self) -> [(u16, String); 2] {
        let mut out = Vec::new();
        for path in ["/", "/v2/"] {
            let r = common::http()
                .get(format!("{}{path}", self.url))
                .send()
                .await
                .unwrap();
            out.push((r.status().as_u16(), r.text().await.unwrap()));
        }
        out.try_into().unwrap()
    }

    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

/// A TLS registry with a certificate for `names` from a new private CA; the CA's PEM file.
async fn tls_registry(dir: &std::path::Path, names: &[&str]) -> (TestServer, String) {
    let ca = certs::Ca::new("Private CA");
    let leaf = ca.issue(dir, "registry", names);
    let ca_file = dir.join("ca.pem");
    ca.write(&ca_file);
    let server = TestServer::start_env(&[
        ("REGISTRY_HTTP_TLS_CERTIFICATE", leaf.cert.to_str().unwrap()),
        ("REGISTRY_HTTP_TLS_KEY", leaf.key.to_str().unwrap()),
    ])
    .await;
    (server, ca_file.display().to_string())
}

/// Without the CA every page and `/v2/` answer 502 naming the unknown issuer and the setting; with it
/// given by `WHARF_UI_UPSTREAM_CA` or `SSL_CERT_FILE` they answer 200; skipping verification works
/// too, with a warning at start.
#[tokio::test(flavor = "multi_thread")]
async fn private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, ca_file) = tls_registry(dir.path(), &["127.0.0.1", "localhost"]).await;
    let upstream = registry.url.clone();

    let ui = Ui::start(&upstream, &[]).await;
    for (status, body) in ui.page_and_proxy().await {
        assert_eq!(status, 502, "{body}");
        assert!(body.contains("unknown issuer"), "{body}");
        assert!(body.contains("WHARF_UI_UPSTREAM_CA"), "{body}");
    }
    let log = ui.stop();
    assert!(log.contains("unknown issuer"), "{log}");

    for env in [
        ("WHARF_UI_UPSTREAM_CA", &ca_file),
        ("SSL_CERT_FILE", &ca_file),
    ] {
        let ui = Ui::start(&upstream, &[(env.0, env.1.as_str())]).await;
        for (status, body) in ui.page_and_proxy().await {
            assert_eq!(status, 200, "{}: {body}", env.0);
        }
    }

    let ui = Ui::start(&upstream, &[("WHARF_UI_UPSTREAM_INSECURE", "true")]).await;
    for (status, body) in ui.page_and_proxy().await {
        assert_eq!(status, 200, "{body}");
    }
    let log = ui.stop();
    assert!(
        log.contains("WARN") && log.contains("not verified"),
        "{log}"
    );
    registry.stop().await;
}

/// A certificate for another name is reported as a name mismatch, and a closed port as a refused
/// connection, each with what to check.
#[tokio::test(flavor = "multi_thread")]
async fn causes_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, ca_file) = tls_registry(dir.path(), &["registry.internal"]).await;
    let ui = Ui::start(&registry.url, &[("WHARF_UI_UPSTREAM_CA", &ca_file)]).await;
    for (status, body) in ui.page_and_proxy().await {
        assert_eq!(status, 502, "{body}");
        assert!(body.contains("name mismatch"), "{body}");
    }
    drop(ui);
    registry.stop().await;

    let closed = format!("http://127.0.0.1:{}", common::binary::free_port());
    let ui = Ui::start(&closed, &[]).await;
    for (status, body) in ui.page_and_proxy().await {
        assert_eq!(status, 502, "{body}");
        assert!(body.contains("refused the connection"), "{body}");
    }
}

//! `wharf healthcheck` through the real binary: healthy against a running server (plain and TLS),
//! unhealthy with a one-line reason when nothing listens or the storage check fails.
#[path = "common/certs.rs"]
mod certs;
mod common;

use std::process::Command;

use common::TestServer;

/// Runs `wharf healthcheck` with `env` (and no other `REGISTRY_*`, `WHARF_*` or `NGINX_*` variables).
async fn healthcheck(env: &[(&str, &str)]) -> (i32, String) {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || run(&env))
        .await
        .unwrap()
}

fn run(env: &[(String, String)]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
    cmd.arg("healthcheck");
    for (k, _) in std::env::vars() {
        if k.starts_with("REGISTRY_") || k.starts_with("WHARF_") || k.starts_with("NGINX_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let out = cmd.output().expect("run wharf healthcheck");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// A running server is healthy at the configured address; a stopped one is unhealthy, in one line.
#[tokio::test(flavor = "multi_thread")]
async fn plain_server() {
    let server = TestServer::start().await;
    let addr = server.host();
    let (code, text) = healthcheck(&[("REGISTRY_HTTP_ADDR", &addr)]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("healthy: "), "{text}");
    server.stop().await;
    let (code, text) = healthcheck(&[("REGISTRY_HTTP_ADDR", &addr)]).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.starts_with("unhealthy: no answer from"), "{text}");
    assert_eq!(text.trim().lines().count(), 1, "{text}");
}

/// With TLS configured the probe speaks https to the loopback address.
#[tokio::test(flavor = "multi_thread")]
async fn tls_server() {
    let dir = tempfile::tempdir().unwrap();
    let ca = certs::Ca::new("Test CA");
    let leaf = ca.server(dir.path(), "server");
    let (cert, key) = (
        leaf.cert.display().to_string(),
        leaf.key.display().to_string(),
    );
    let server = TestServer::start_env(&[
        ("REGISTRY_HTTP_TLS_CERTIFICATE", &cert),
        ("REGISTRY_HTTP_TLS_KEY", &key),
    ])
    .await;
    let addr = server.host();
    let env = [
        ("REGISTRY_HTTP_ADDR", addr.as_str()),
        ("REGISTRY_HTTP_TLS_CERTIFICATE", cert.as_str()),
        ("REGISTRY_HTTP_TLS_KEY", key.as_str()),
    ];
    let (code, text) = healthcheck(&env).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("https://"), "{text}");
    server.stop().await;
}

/// While the storage check fails, the server answers 503 and the probe reports it.
#[tokio::test(flavor = "multi_thread")]
async fn failing_storage() {
    let server = TestServer::start_env(&[
        ("REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL", "100ms"),
        ("REGISTRY_HEALTH_STORAGEDRIVER_THRESHOLD", "1"),
    ])
    .await;
    common::push_blob(&server, "r", b"x").await;
    let docker = server.root.join("docker");
    std::fs::rename(&docker, server.root.join("moved")).unwrap();
    std::fs::write(&docker, b"not a directory").unwrap();
    let addr = server.host();
    let mut last = (0, String::new());
    for _ in 0..50 {
        last = healthcheck(&[("REGISTRY_HTTP_ADDR", &addr)]).await;
        if last.0 == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(last.0, 1, "{}", last.1);
    assert!(last.1.contains("503"), "{}", last.1);
    std::fs::remove_file(&docker).unwrap();
    std::fs::rename(server.root.join("moved"), &docker).unwrap();
    server.stop().await;
}

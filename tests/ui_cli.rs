//! The `wharf ui` command itself: started as a process with joxit/docker-registry-ui's environment
//! variables only (as a compose file written for joxit would), it serves the registry's pages.
mod common;
#[path = "common/ui_fixture.rs"]
mod ui_fixture;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::TestServer;
use ui_fixture::{client, get, seed};

/// Stops the child process by its PID when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `NGINX_PROXY_PASS_URL`, `NGINX_LISTEN_PORT`, `REGISTRY_TITLE`, `DELETE_IMAGES`,
/// `SHOW_CONTENT_DIGEST` and `PULL_URL` configure the UI; a missing upstream is a clear error.
#[tokio::test(flavor = "multi_thread")]
async fn joxit_environment_configures_wharf_ui() {
    let registry = TestServer::start().await;
    let f = seed(&registry.url, false).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ui = Running(
        Command::new(env!("CARGO_BIN_EXE_wharf"))
            .arg("ui")
            .env_clear()
            .env("NGINX_PROXY_PASS_URL", &registry.url)
            .env("WHARF_UI_LISTEN", format!("127.0.0.1:{port}"))
            .env("REGISTRY_TITLE", "Compose Registry")
            .env("DELETE_IMAGES", "true")
            .env("SHOW_CONTENT_DIGEST", "true")
            .env("PULL_URL", "pull.example.com")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start wharf ui"),
    );
    let url = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..100 {
        if client().get(&url).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "wharf ui did not start");
    let (status, catalog) = get(&url).await;
    assert_eq!(status, 200, "{catalog}");
    assert!(catalog.contains("Compose Registry"));
    assert!(catalog.contains(">team/tools/cli</a>"));
    let (_, repo) = get(&format!("{url}/r/alpine")).await;
    assert!(repo.contains("Delete selected"), "DELETE_IMAGES=true");
    assert!(
        repo.contains(&f.alpine_current[..19]),
        "SHOW_CONTENT_DIGEST=true"
    );
    let (_, tag) = get(&format!("{url}/r/alpine/-/tags/3.19")).await;
    assert!(tag.contains("docker pull pull.example.com/alpine:3.19"));
    drop(ui);

    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("ui")
        .env_clear()
        .output()
        .expect("run wharf ui");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no upstream registry"));
    registry.stop().await;
}

//! `wharf serve` as a process of its own: the real binary on `:PORT` over a storage root, its log
//! collected, killed when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::TestServer;

/// A port free on both IPv6 and IPv4.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("[::]:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A `wharf serve` process, killed when dropped.
pub struct Served {
    child: Child,
    port: u16,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn handle(&self, root: &Path) -> TestServer {
        TestServer::attach(&self.url(), root)
    }

    /// The process's real, effective, saved and file-system user ids.
    pub fn uids(&self) -> Vec<u32> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        line.split_whitespace()
            .skip(1)
            .map(|n| n.parse().unwrap())
            .collect()
    }

    /// Stops the process and returns what it logged.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

/// `wharf serve` with `env`, on `:PORT` over `root`, with nothing else of the environment's
/// `REGISTRY_*` or `WHARF_*`.
pub fn command(root: &Path, port: u16, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
    cmd.arg("serve");
    for (k, _) in std::env::vars() {
        if k.starts_with("REGISTRY_") || k.starts_with("WHARF_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("REGISTRY_HTTP_ADDR", format!(":{port}"))
        .env("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", root)
        .env("REGISTRY_STORAGE_DELETE_ENABLED", "true")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Starts `cmd` and waits until `GET /v2/` answers on the IPv4 loopback (200, or 401 with auth).
pub async fn serve(mut cmd: Command, port: u16) -> Served {
    let mut served = Served {
        child: cmd.spawn().expect("start wharf serve"),
        port,
    };
    let start = Instant::now();
    loop {
        if let Ok(r) = super::http()
            .get(format!("{}/v2/", served.url()))
            .send()
            .await
        {
            assert!(matches!(r.status().as_u16(), 200 | 401), "{}", r.status());
            return served;
        }
        if served.child.try_wait().unwrap().is_some() {
            panic!("wharf serve exited before answering:\n{}", served.stop());
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "wharf serve did not answer"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

//! The real `wharf serve` binary as a child process on 127.0.0.1 over a filesystem root, killed
//! (SIGKILL) when dropped, with the process figures the reliability tests read from `/proc`.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `wharf serve`.
pub struct WharfProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// `127.0.0.1:PORT`, as registry clients want it.
    pub host: String,
}

impl WharfProcess {
    /// Starts `wharf serve` on a free port over `root` with extra `REGISTRY_*` variables, and waits
    /// until `/v2/` answers 200.
    pub async fn start(root: &Path, vars: &[(&str, &str)]) -> WharfProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind a free port")
            .local_addr()
            .expect("local addr")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_wharf"))
            .arg("serve")
            .env("REGISTRY_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", root)
            .env("REGISTRY_LOG_LEVEL", "error")
            .envs(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn wharf");
        let process = WharfProcess {
            child,
            url: format!("http://127.0.0.1:{port}"),
            host: format!("127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{}/v2/", process.url)).send().await {
                if r.status() == 200 {
                    return process;
                }
            }
            assert!(Instant::now() < deadline, "wharf did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill(mut self) {
        self.kill_now();
    }

    fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Resident memory in bytes (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/<pid>/status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS line");
        kib * 1024
    }

    /// Open file descriptors (entries of `/proc/<pid>/fd`).
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/<pid>/fd")
            .count()
    }
}

impl Drop for WharfProcess {
    fn drop(&mut self) {
        self.kill_now();
    }
}

//! A private Docker engine for tests: Debian's dockerd 20.10 with its own data root and socket, `vfs`
//! storage, no bridge or iptables (as this sandbox requires), and a proxy that refuses every
//! connection but loopback's, so that no test reaches a network even where one exists. Stopped by
//! PID when dropped. Tests in one file take turns with a mutex of their own: one engine at a time.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// Fails the test naming `tool` when it is not installed.
pub fn require(tool: &str) {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{tool} not found: run ./scripts/test (it installs docker.io and docker-compose)"
    );
}

/// The standard output of a command that must have succeeded.
pub fn check(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `ready` until it holds, failing the test after `within`.
pub fn wait_until(what: &str, within: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// SIGTERM by PID (dockerd stops its containers and exits).
pub fn unsafe_kill(pid: u32) {
    let _ = Command::new("kill").arg(pid.to_string()).status();
}

/// Debian's dockerd on a socket of the test's own, stopped (by PID) when dropped.
pub struct Engine {
    pub dir: tempfile::TempDir,
    daemon: Child,
}

impl Engine {
    /// An engine with the sandbox's settings.
    pub fn start() -> Engine {
        Self::start_with(serde_json::json!({}))
    }

    /// An engine with the sandbox's settings plus `extra` `daemon.json` keys (`registry-mirrors`).
    pub fn start_with(extra: serde_json::Value) -> Engine {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut config = serde_json::json!({
            "data-root": d.join("data"),
            "exec-root": d.join("exec"),
            "pidfile": d.join("docker.pid"),
            "hosts": [format!("unix://{}", d.join("docker.sock").display())],
            "storage-driver": "vfs",
            "bridge": "none",
            "iptables": false,
            "ip-forward": false,
            "ip-masq": false,
            "default-ulimits": {
                "nofile": {"Name": "nofile", "Soft": 1024, "Hard": 1024},
                "nproc": {"Name": "nproc", "Soft": 1024, "Hard": 1024}
            }
        });
        if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
            config.extend(extra.clone());
        }
        std::fs::write(d.join("daemon.json"), serde_json::to_vec(&config).unwrap()).unwrap();
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let daemon = Command::new("/usr/sbin/dockerd")
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("NO_PROXY", "127.0.0.0/8,localhost,::1")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let engine = Engine { dir, daemon };
        wait_until("dockerd", Duration::from_secs(60), || {
            engine.docker(&["version"]).status.success()
        });
        engine
    }

    /// `DOCKER_HOST` of the engine.
    pub fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    /// `program` set up to talk to this engine (its own client config, the classic builder).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("client"))
            .env("DOCKER_BUILDKIT", "0");
        cmd
    }

    /// `docker <args>` against this engine.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.command("/usr/bin/docker").args(args).output().unwrap()
    }

    /// The engine's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// The engine's data directory.
    pub fn data(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let listed = self.docker(&["ps", "-aq"]);
        let ids = String::from_utf8_lossy(&listed.stdout).into_owned();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids);
            let _ = self.docker(&args);
        }
        unsafe_kill(self.daemon.id());
        let _ = self.daemon.wait();
    }
}

//! The real deployment path, offline: the image built from this repository's Dockerfile (its
//! `prebuilt` stage, around a static binary built here, since no base image can be pulled), the
//! compose stack of compose/docker-compose.yml brought up by Debian's docker-compose on a private
//! Docker engine, then `docker login`, `docker push` and `docker pull` through the registry and
//! through the UI's proxy, and the image's HEALTHCHECK reporting healthy.
//!
//! The engine is Debian's dockerd 20.10, started by the test with its own data root and socket,
//! `vfs` storage and no bridge or iptables (as this sandbox requires), so services run with
//! `network_mode: host`: the test's copy of the compose file differs from compose/docker-compose.yml
//! only in that, in its ports, in naming the image built here, and in running the image's health
//! check every 2 seconds.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The image must stay small (issue 4: at most 15 MB).
const MAX_IMAGE_BYTES: u64 = 15 * 1024 * 1024;

fn require(tool: &str) {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{tool} not found: run ./scripts/test (it installs docker.io and docker-compose)"
    );
}

fn check(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_until(what: &str, within: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A static `wharf` (glibc, `crt-static`): the runtime image is FROM scratch.
fn static_binary() -> PathBuf {
    let target_dir = Path::new(ROOT).join("target/static");
    let out = Command::new(env!("CARGO"))
        .current_dir(ROOT)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", &target_dir)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "x86_64-unknown-linux-gnu",
            "--bin",
            "wharf",
        ])
        .output()
        .unwrap();
    check(out, "static build of wharf");
    target_dir.join("x86_64-unknown-linux-gnu/release/wharf")
}

/// Debian's dockerd on a socket of the test's own, stopped (by PID) when dropped.
struct Engine {
    dir: tempfile::TempDir,
    daemon: Child,
}

impl Engine {
    fn start() -> Engine {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let config = serde_json::json!({
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
        std::fs::write(d.join("daemon.json"), serde_json::to_vec(&config).unwrap()).unwrap();
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let daemon = Command::new("/usr/sbin/dockerd")
            .arg("--config-file")
            .arg(d.join("daemon.json"))
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

    fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("client"))
            .env("DOCKER_BUILDKIT", "0");
        cmd
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.command("/usr/bin/docker").args(args).output().unwrap()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.docker(&["rm", "-f", "-v", "wharf-registry", "wharf-ui"]);
        unsafe_kill(self.daemon.id());
        let _ = self.daemon.wait();
    }
}

/// SIGTERM by PID (dockerd stops its containers and exits).
fn unsafe_kill(pid: u32) {
    let _ = Command::new("kill").arg(pid.to_string()).status();
}

/// A build context with the Dockerfile, its inputs and the binary, as `docker build` of a clone sees it.
fn build_context(binary: &Path) -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    let copy = Command::new("cp")
        .args(["-a", "Dockerfile", ".dockerignore", "docker"])
        .arg(ctx.path())
        .current_dir(ROOT)
        .output()
        .unwrap();
    check(copy, "copying the build context");
    std::fs::copy(binary, ctx.path().join("wharf")).unwrap();
    ctx
}

/// compose/docker-compose.yml for this sandbox: host networking, the ports of this test, the image
/// built here.
fn compose_file(dir: &Path, registry_port: u16, ui_port: u16) -> PathBuf {
    let text = std::fs::read_to_string(Path::new(ROOT).join("compose/docker-compose.yml")).unwrap();
    let mut stack: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let services = stack["services"].as_mapping_mut().unwrap();
    for (name, service) in services.iter_mut() {
        let service = service.as_mapping_mut().unwrap();
        service.remove("ports");
        service.remove("build");
        service.insert("network_mode".into(), "host".into());
        service.insert(
            "container_name".into(),
            format!("wharf-{}", name.as_str().unwrap()).into(),
        );
        // The image's own HEALTHCHECK command, checked every 2 s instead of every 30 s.
        let health: serde_yaml::Value =
            serde_yaml::from_str("{interval: 2s, timeout: 5s, retries: 3}").unwrap();
        service.insert("healthcheck".into(), health);
        let env = service
            .get_mut("environment")
            .unwrap()
            .as_mapping_mut()
            .unwrap();
        match name.as_str().unwrap() {
            "registry" => {
                env.insert(
                    "REGISTRY_HTTP_ADDR".into(),
                    format!("127.0.0.1:{registry_port}").into(),
                );
            }
            _ => {
                env.insert(
                    "NGINX_PROXY_PASS_URL".into(),
                    format!("http://127.0.0.1:{registry_port}").into(),
                );
                env.insert(
                    "WHARF_UI_LISTEN".into(),
                    format!("127.0.0.1:{ui_port}").into(),
                );
            }
        }
    }
    let path = dir.join("docker-compose.yml");
    std::fs::write(&path, serde_yaml::to_string(&stack).unwrap()).unwrap();
    path
}

/// Builds the image, brings the compose stack up, and pushes and pulls with the docker CLI through
/// the registry (with `docker login`) and through the UI; the containers report healthy and the
/// image is at most 15 MB.
#[test]
fn compose_stack_with_docker() {
    require("/usr/sbin/dockerd");
    require("docker-compose");
    let binary = static_binary();
    let engine = Engine::start();
    let ctx = build_context(&binary);
    let built = engine
        .command("/usr/bin/docker")
        .args(["build", "--target", "prebuilt", "-t", "wharf:test"])
        .arg(ctx.path())
        .output()
        .unwrap();
    check(built, "docker build --target prebuilt");
    let size: u64 = check(
        engine.docker(&["image", "inspect", "--format", "{{.Size}}", "wharf:test"]),
        "inspect",
    )
    .trim()
    .parse()
    .unwrap();
    assert!(size <= MAX_IMAGE_BYTES, "image is {size} bytes");

    let (registry_port, ui_port) = (free_port(), free_port());
    let work = tempfile::tempdir().unwrap();
    let compose = compose_file(work.path(), registry_port, ui_port);
    let up = engine
        .command("docker-compose")
        .arg("-f")
        .arg(&compose)
        .args(["-p", "wharftest", "up", "-d"])
        .env("WHARF_IMAGE", "wharf:test")
        .env("REGISTRY_USERNAME", "admin")
        .env("REGISTRY_PASSWORD", "stack-test-password")
        .output()
        .unwrap();
    check(up, "docker-compose up");
    let registry = format!("127.0.0.1:{registry_port}");
    wait_until("the registry", Duration::from_secs(60), || {
        engine
            .docker(&[
                "login",
                &registry,
                "-u",
                "admin",
                "-p",
                "stack-test-password",
            ])
            .status
            .success()
    });
    let wrong = engine.docker(&["login", &registry, "-u", "admin", "-p", "wrong"]);
    assert!(!wrong.status.success(), "a wrong password is refused");

    // An image of the test's own, FROM scratch.
    let image_dir = work.path().join("image");
    std::fs::create_dir_all(&image_dir).unwrap();
    std::fs::write(
        image_dir.join("hello.txt"),
        b"hello from the docker stack test\n",
    )
    .unwrap();
    std::fs::write(
        image_dir.join("Dockerfile"),
        "FROM scratch\nCOPY hello.txt /hello.txt\nCMD [\"/hello\"]\n",
    )
    .unwrap();
    let tag = format!("{registry}/stack/hello:1");
    check(
        engine.docker(&["build", "-t", &tag, image_dir.to_str().unwrap()]),
        "docker build of the test image",
    );
    check(engine.docker(&["push", &tag]), "docker push");
    let pushed_id = check(
        engine.docker(&["image", "inspect", "--format", "{{.Id}}", &tag]),
        "inspect",
    )
    .trim()
    .to_string();
    check(engine.docker(&["rmi", &tag]), "docker rmi");
    check(engine.docker(&["pull", &tag]), "docker pull");
    let pulled_id = check(
        engine.docker(&["image", "inspect", "--format", "{{.Id}}", &tag]),
        "inspect",
    )
    .trim()
    .to_string();
    assert_eq!(pulled_id, pushed_id, "the pulled image is the pushed one");

    // Through the UI's /v2/ proxy, with the same credentials.
    let ui = format!("127.0.0.1:{ui_port}");
    wait_until("the UI", Duration::from_secs(60), || {
        engine
            .docker(&["login", &ui, "-u", "admin", "-p", "stack-test-password"])
            .status
            .success()
    });
    let via_ui = format!("{ui}/stack/via-ui:1");
    check(engine.docker(&["tag", &tag, &via_ui]), "docker tag");
    check(
        engine.docker(&["push", &via_ui]),
        "docker push through the UI",
    );
    let listed = check(
        engine.docker(&[
            "manifest",
            "inspect",
            "--insecure",
            &format!("{registry}/stack/via-ui:1"),
        ]),
        "manifest inspect",
    );
    assert!(listed.contains("schemaVersion"), "{listed}");

    for container in ["wharf-registry", "wharf-ui"] {
        wait_until(
            &format!("{container} to be healthy"),
            Duration::from_secs(120),
            || {
                let out =
                    engine.docker(&["inspect", "--format", "{{.State.Health.Status}}", container]);
                String::from_utf8_lossy(&out.stdout).trim() == "healthy"
            },
        );
    }
    let down = engine
        .command("docker-compose")
        .arg("-f")
        .arg(&compose)
        .args(["-p", "wharftest", "down", "-v"])
        .env("WHARF_IMAGE", "wharf:test")
        .env("REGISTRY_USERNAME", "admin")
        .env("REGISTRY_PASSWORD", "stack-test-password")
        .stdout(Stdio::null())
        .output()
        .unwrap();
    check(down, "docker-compose down");
}

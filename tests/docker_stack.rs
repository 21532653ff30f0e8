//! The real deployment paths, offline, on a private Docker engine:
//! - the Dockerfile with Docker's classic builder (as CapRover and docker-compose 1.x build it): every
//!   stage it can build without a network runs, and the build context after `.dockerignore` holds
//!   every file either Dockerfile copies;
//! - the image built from docker/prebuilt.Dockerfile (around a static binary built here, since no
//!   base image can be pulled), the compose stack of compose/docker-compose.yml brought up by
//!   Debian's docker-compose, then `docker login`, `docker push` and `docker pull` through the
//!   registry and through the UI's proxy, and the image's HEALTHCHECK reporting healthy;
//! - a volume distribution 2.8.2 wrote as root, served by that image as it is: the old image pulls,
//!   a new one pushes and pulls.
//!
//! The engine is Debian's dockerd 20.10, started by each test with its own data root and socket,
//! `vfs` storage and no bridge or iptables (as this sandbox requires), and a proxy that refuses every
//! connection but loopback's, so that no test reaches a network even where one exists. Containers
//! run with host networking: the test's copy of the compose file differs from
//! compose/docker-compose.yml only in that, in its ports, in naming the image built here, and in
//! running the image's health check every 2 seconds. The tests take turns: one engine at a time.

#[path = "common/dockerfile.rs"]
mod dockerfile;
#[path = "common/engine.rs"]
mod engine;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use engine::{check, require, unsafe_kill, wait_until, Engine};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The image must stay small (issue 4: at most 15 MB).
const MAX_IMAGE_BYTES: u64 = 15 * 1024 * 1024;
/// One engine at a time.
static ENGINES: Mutex<()> = Mutex::new(());

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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

/// The repository as a clone has it (without `target/`, `.git/` and the tests' node_modules), plus
/// the release binary where docker/prebuilt.Dockerfile expects it.
fn build_context(binary: &Path) -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(ROOT).unwrap() {
        let name = entry.unwrap().file_name();
        if ["target", ".git", "tests"].contains(&name.to_str().unwrap()) {
            continue;
        }
        let copy = Command::new("cp")
            .arg("-a")
            .arg(&name)
            .arg(ctx.path())
            .current_dir(ROOT)
            .output()
            .unwrap();
        check(copy, "copying the build context");
    }
    let dist = ctx.path().join("dist/linux-amd64");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::copy(binary, dist.join("wharf")).unwrap();
    ctx
}

/// Builds `wharf:test` from docker/prebuilt.Dockerfile with the classic builder, and checks its size.
fn build_image(engine: &Engine, ctx: &Path) {
    let built = engine
        .command("/usr/bin/docker")
        .args([
            "build",
            "-f",
            "docker/prebuilt.Dockerfile",
            "--build-arg",
            "TARGETARCH=amd64",
            "-t",
            "wharf:test",
            ".",
        ])
        .current_dir(ctx)
        .output()
        .unwrap();
    check(built, "docker build -f docker/prebuilt.Dockerfile");
    let size: u64 = check(
        engine.docker(&["image", "inspect", "--format", "{{.Size}}", "wharf:test"]),
        "inspect",
    )
    .trim()
    .parse()
    .unwrap();
    assert!(size <= MAX_IMAGE_BYTES, "image is {size} bytes");
}

/// Builds a FROM-scratch image of the test's own holding `text`, tagged `tag`.
fn build_test_image(engine: &Engine, dir: &Path, tag: &str, text: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("hello.txt"), text).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY hello.txt /hello.txt\nCMD [\"/hello\"]\n",
    )
    .unwrap();
    check(
        engine.docker(&["build", "-t", tag, dir.to_str().unwrap()]),
        "docker build of a test image",
    );
    image_id(engine, tag)
}

fn image_id(engine: &Engine, tag: &str) -> String {
    check(
        engine.docker(&["image", "inspect", "--format", "{{.Id}}", tag]),
        "inspect",
    )
    .trim()
    .to_string()
}

/// Removes `tag` locally, pulls it again and checks it is the image `id`.
fn pull_back(engine: &Engine, tag: &str, id: &str) {
    check(engine.docker(&["rmi", tag]), "docker rmi");
    check(engine.docker(&["pull", tag]), "docker pull");
    assert_eq!(
        image_id(engine, tag),
        id,
        "the pulled {tag} is the pushed one"
    );
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
    let _turn = ENGINES.lock().unwrap_or_else(|p| p.into_inner());
    require("/usr/sbin/dockerd");
    require("docker-compose");
    let binary = static_binary();
    let engine = Engine::start();
    let ctx = build_context(&binary);
    build_image(&engine, ctx.path());

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

    let tag = format!("{registry}/stack/hello:1");
    let pushed_id = build_test_image(
        &engine,
        &work.path().join("image"),
        &tag,
        "hello from the docker stack test\n",
    );
    check(engine.docker(&["push", &tag]), "docker push");
    pull_back(&engine, &tag, &pushed_id);

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

/// The files of the build context after `.dockerignore`, as the engine sees them: a throwaway image
/// that copies the whole context, exported.
fn context_files(engine: &Engine, ctx: &Path) -> Vec<String> {
    let probe = tempfile::tempdir().unwrap();
    let dockerfile = probe.path().join("Dockerfile");
    std::fs::write(&dockerfile, "FROM scratch\nCOPY . /context/\n").unwrap();
    let built = engine
        .command("/usr/bin/docker")
        .arg("build")
        .arg("-f")
        .arg(&dockerfile)
        .args(["-t", "wharf-context:test", "."])
        .current_dir(ctx)
        .output()
        .unwrap();
    check(built, "docker build of the context probe");
    check(
        engine.docker(&[
            "create",
            "--name",
            "wharf-context",
            "wharf-context:test",
            "/none",
        ]),
        "docker create",
    );
    let tar = probe.path().join("context.tar");
    check(
        engine.docker(&["export", "-o", tar.to_str().unwrap(), "wharf-context"]),
        "docker export",
    );
    check(engine.docker(&["rm", "wharf-context"]), "docker rm");
    let listed = check(
        Command::new("tar").arg("-tf").arg(&tar).output().unwrap(),
        "tar -t",
    );
    listed
        .lines()
        .filter_map(|l| l.strip_prefix("context/"))
        .map(|l| l.trim_end_matches('/').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Docker's classic builder (CapRover's, compose 1.x's) builds the Dockerfile's every stage until the
/// first base image it would have to download, and fails there and nowhere else; the build context
/// after `.dockerignore` holds every file both Dockerfiles copy, and nothing of `target/`.
#[test]
fn classic_builder() {
    let _turn = ENGINES.lock().unwrap_or_else(|p| p.into_inner());
    require("/usr/sbin/dockerd");
    let binary = static_binary();
    let engine = Engine::start();
    let ctx = build_context(&binary);

    let files = context_files(&engine, ctx.path());
    for dockerfile in ["Dockerfile", "docker/prebuilt.Dockerfile"] {
        let text = std::fs::read_to_string(ctx.path().join(dockerfile)).unwrap();
        let sources = dockerfile::copy_sources(&text).into_iter().map(|source| {
            source
                .trim_end_matches('/')
                .replace("${TARGETARCH}", "amd64")
        });
        for source in sources {
            assert!(
                files.contains(&source),
                "{dockerfile} copies {source}, which is not in the build context: {files:?}"
            );
        }
    }
    assert!(!files.iter().any(|f| f.starts_with("target")), "{files:?}");

    let out = engine
        .command("/usr/bin/docker")
        .args(["build", "-t", "wharf:source", "."])
        .current_dir(ctx.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "built with no network?\n{text}");
    let steps: Vec<&str> = text.lines().filter(|l| l.starts_with("Step ")).collect();
    let last = steps.last().expect("the classic builder's steps");
    assert!(
        last.ends_with(": FROM rust:1-alpine AS build"),
        "the build stopped before the download of the build stage's base image:\n{text}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s.contains(": COPY --chown=1000:1000 docker/volumes/ /")),
        "{text}"
    );
    assert!(!text.contains("COPY failed"), "{text}");
    assert!(!text.contains("not found in build context"), "{text}");
}

/// A volume distribution 2.8.2 wrote as root (registry:2's) is served by Wharf's image with no
/// manual step: the image hands it to uid 1000 and runs as that user, the old image pulls, and a new
/// image pushes and pulls.
#[test]
fn registry2_volume() {
    let _turn = ENGINES.lock().unwrap_or_else(|p| p.into_inner());
    require("/usr/sbin/dockerd");
    require("/usr/bin/docker-registry");
    let binary = static_binary();
    let engine = Engine::start();
    let ctx = build_context(&binary);
    build_image(&engine, ctx.path());
    let work = tempfile::tempdir().unwrap();

    check(
        engine.docker(&["volume", "create", "r2data"]),
        "volume create",
    );
    let volume = PathBuf::from(
        check(
            engine.docker(&["volume", "inspect", "--format", "{{.Mountpoint}}", "r2data"]),
            "volume inspect",
        )
        .trim(),
    );
    let old_port = free_port();
    let config = work.path().join("registry2.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{old_port}\n",
            volume.display()
        ),
    )
    .unwrap();
    let mut distribution = Command::new("/usr/bin/docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let old_tag = format!("127.0.0.1:{old_port}/old/hello:1");
    let old_id = build_test_image(
        &engine,
        &work.path().join("old"),
        &old_tag,
        "pushed to registry:2\n",
    );
    wait_until("distribution", Duration::from_secs(30), || {
        engine.docker(&["push", &old_tag]).status.success()
    });
    unsafe_kill(distribution.id());
    let _ = distribution.wait();
    let data = volume.join("docker/registry/v2");
    assert_eq!(
        std::fs::metadata(&data).unwrap().uid(),
        0,
        "registry:2 wrote as root"
    );

    let port = free_port();
    check(
        engine.docker(&[
            "run",
            "-d",
            "--name",
            "wharf-r2",
            "--network",
            "host",
            "-v",
            "r2data:/var/lib/registry",
            "-e",
            &format!("REGISTRY_HTTP_ADDR=:{port}"),
            "wharf:test",
        ]),
        "docker run over registry:2's volume",
    );
    let registry = format!("127.0.0.1:{port}");
    let migrated = old_tag.replace(&format!("127.0.0.1:{old_port}"), &registry);
    check(engine.docker(&["rmi", &old_tag]), "docker rmi");
    wait_until(
        "the old image through Wharf",
        Duration::from_secs(60),
        || engine.docker(&["pull", &migrated]).status.success(),
    );
    assert_eq!(
        image_id(&engine, &migrated),
        old_id,
        "the old image is served"
    );

    let new_tag = format!("{registry}/new/hello:1");
    let new_id = build_test_image(
        &engine,
        &work.path().join("new"),
        &new_tag,
        "pushed to Wharf\n",
    );
    check(engine.docker(&["push", &new_tag]), "docker push to Wharf");
    pull_back(&engine, &new_tag, &new_id);
    pull_back(&engine, &migrated, &old_id);

    let pid = check(
        engine.docker(&["inspect", "--format", "{{.State.Pid}}", "wharf-r2"]),
        "inspect",
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    let uids = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uids.split_whitespace().skip(1).collect::<Vec<_>>(),
        ["1000"; 4],
        "the server runs as uid 1000 only"
    );
    assert_eq!(std::fs::metadata(&data).unwrap().uid(), 1000);
    let logs = engine.docker(&["logs", "wharf-r2"]);
    let logs = String::from_utf8_lossy(&logs.stderr);
    assert!(
        logs.contains("handed /var/lib/registry to uid 1000 (it was uid 0's)"),
        "{logs}"
    );
}

//! Container engines pulling through Wharf's pull-through cache of a second Wharf playing Docker Hub:
//! - docker with `registry-mirrors`: a private Docker engine (tests/common/engine.rs) that cannot
//!   reach any network, so `docker pull hello:1` (Docker Hub's `library/hello`) succeeds only
//!   through the mirror;
//! - podman pulling `localhost:PORT/docker.io/library/...` from a mirror with `proxy.upstreams`, with
//!   configuration and storage of the test's own.

mod common;
#[path = "common/engine.rs"]
mod engine;
#[path = "common/oci_layout.rs"]
mod oci_layout;
#[path = "common/skopeo.rs"]
mod skopeo;

use common::TestServer;
use engine::{check, require, Engine};

/// An image built by the engine and pushed to the upstream is pulled back by its Docker Hub name
/// through the mirror, with the same image id, and the mirror keeps it under `library/hello`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_pulls_hub_images_through_the_mirror() {
    require("/usr/sbin/dockerd");
    require("/usr/bin/docker");
    let hub = TestServer::start().await;
    let cache = TestServer::start_env(&[("REGISTRY_PROXY_REMOTEURL", hub.url.as_str())]).await;
    let (mirror_url, hub_host) = (cache.url.clone(), hub.host());
    let pulled = tokio::task::spawn_blocking(move || {
        let engine = Engine::start_with(serde_json::json!({ "registry-mirrors": [mirror_url] }));
        let context = engine.data().join("context");
        std::fs::create_dir_all(&context).unwrap();
        std::fs::write(context.join("hello.txt"), "pulled through the mirror").unwrap();
        std::fs::write(
            context.join("Dockerfile"),
            "FROM scratch\nCOPY hello.txt /hello.txt\nCMD [\"/hello\"]\n",
        )
        .unwrap();
        let at_hub = format!("{hub_host}/library/hello:1");
        check(
            engine.docker(&["build", "-t", &at_hub, context.to_str().unwrap()]),
            "docker build",
        );
        let id = |tag: &str| {
            check(
                engine.docker(&["image", "inspect", "--format", "{{.Id}}", tag]),
                "docker image inspect",
            )
            .trim()
            .to_string()
        };
        let built = id(&at_hub);
        check(
            engine.docker(&["push", &at_hub]),
            "docker push to the upstream",
        );
        check(engine.docker(&["rmi", &at_hub]), "docker rmi");
        check(
            engine.docker(&["pull", "hello:1"]),
            "docker pull hello:1 through registry-mirrors",
        );
        (built, id("hello:1"))
    })
    .await
    .expect("the engine's steps");
    assert_eq!(
        pulled.0, pulled.1,
        "the image pulled through the mirror is the one built"
    );
    let kept = cache
        .root
        .join("docker/registry/v2/repositories/library/hello/_manifests/tags/1/current/link");
    assert!(kept.exists(), "the mirror keeps library/hello:1");
    cache.stop().await;
    hub.stop().await;
}

/// podman pulls `localhost:PORT/docker.io/library/podman-mirror:1` (and the short Docker Hub form
/// `docker.io/podman-mirror`) from a mirror whose `docker.io` upstream has the image, and stores the
/// manifest the upstream holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn podman_pulls_prefixed_names_through_the_mirror() {
    require("podman");
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source");
    let image = oci_layout::single_image(&source, "podman-mirror", "1", 1);
    let hub = TestServer::start().await;
    skopeo::Skopeo::new()
        .copy(
            &skopeo::oci_ref(&source, "1"),
            &format!("docker://{}/library/podman-mirror:1", hub.host()),
            &[],
        )
        .await;
    let upstreams = format!("[{{prefix: docker.io, remoteurl: '{}'}}]", hub.url);
    let cache = TestServer::start_env(&[("REGISTRY_PROXY_UPSTREAMS", upstreams.as_str())]).await;
    let port = cache.addr.port();
    let dir = work.path().to_path_buf();
    let digests = tokio::task::spawn_blocking(move || {
        let conf = dir.join("containers.conf");
        std::fs::write(
            &conf,
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\nnetns = \"host\"\n\
             [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
        )
        .unwrap();
        let storage = dir.join("storage.conf");
        std::fs::write(
            &storage,
            format!(
                "[storage]\ndriver = \"vfs\"\nrunroot = \"{}\"\ngraphroot = \"{}\"\n",
                dir.join("run").display(),
                dir.join("graph").display()
            ),
        )
        .unwrap();
        let registries = dir.join("registries.conf");
        std::fs::write(&registries, "").unwrap();
        let auth = dir.join("auth.json");
        std::fs::write(&auth, r#"{"auths":{}}"#).unwrap();
        let podman = |args: &[&str]| {
            std::process::Command::new("podman")
                .env("CONTAINERS_CONF", &conf)
                .env("CONTAINERS_STORAGE_CONF", &storage)
                .env("CONTAINERS_REGISTRIES_CONF", &registries)
                .env("REGISTRY_AUTH_FILE", &auth)
                .env("TMPDIR", &dir)
                .args(args)
                .output()
                .expect("run podman")
        };
        let mut digests = Vec::new();
        for name in [
            format!("localhost:{port}/docker.io/library/podman-mirror:1"),
            format!("localhost:{port}/docker.io/podman-mirror:1"),
        ] {
            check(
                podman(&["pull", "--tls-verify=false", &name]),
                &format!("podman pull {name}"),
            );
            let digest = check(
                podman(&["image", "inspect", "--format", "{{.Digest}}", &name]),
                "podman image inspect",
            );
            digests.push(digest.trim().to_string());
        }
        digests
    })
    .await
    .expect("podman's steps");
    for digest in digests {
        assert_eq!(digest, image.manifest.digest);
    }
    cache.stop().await;
    hub.stop().await;
}

//! `wharf ui` in front of CNCF distribution 2.8.2 (Debian's `docker-registry`), the registry people
//! pair joxit's UI with today: content pushed with plain registry HTTP calls is browsed through the
//! catalog, repository and tag pages, and deleted by digest through the confirmation.

#[path = "common/ui_fixture.rs"]
mod ui_fixture;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ui_fixture::{client, get, registry_tags, seed, test_config, UiServer};

const BINARY: &str = "/usr/bin/docker-registry";

/// A `docker-registry serve` on 127.0.0.1 over a temporary directory, stopped by PID on drop.
struct Distribution {
    url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Distribution {
    async fn start() -> Distribution {
        assert!(
            std::path::Path::new(BINARY).exists(),
            "{BINARY} missing: run ./scripts/test (it installs Debian's docker-registry)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe port");
            probe.local_addr().unwrap().port()
        };
        let config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write config");
        let child = Command::new(BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let url = format!("http://127.0.0.1:{port}");
        let registry = Distribution {
            url,
            child,
            _dir: dir,
        };
        for _ in 0..100 {
            if let Ok(r) = client().get(format!("{}/v2/", registry.url)).send().await {
                if r.status() == 200 {
                    return registry;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("docker-registry did not start on {}", registry.url);
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Catalog, repository and tag pages show distribution's content (nested names, shared digests,
/// a multi-arch index); a delete by digest through the UI removes the image and its tags, and a
/// tag-only delete, which distribution 2.8 lacks, is reported as unsupported; the disk, retention
/// and trash pages say the registry lacks Wharf's extension, and no push times are shown.
#[tokio::test(flavor = "multi_thread")]
async fn browse_and_delete_on_distribution() {
    let registry = Distribution::start().await;
    let f = seed(&registry.url, false).await;
    let ui = UiServer::start(test_config(&registry.url)).await;

    let (status, catalog) = get(&ui.url).await;
    assert_eq!(status, 200, "{catalog}");
    for repo in ["alpine", "multi", "team/app", "team/tools/cli"] {
        assert!(
            catalog.contains(&format!(">{repo}</a>")),
            "{repo} in catalog"
        );
    }

    let (status, repo) = get(&format!("{}/r/alpine?sort=newest", ui.url)).await;
    assert_eq!(status, 200, "{repo}");
    assert!(repo.contains("3.0 kB") && repo.contains("2024-01-15 10:00"));
    assert!(repo.find(">3.19</a>").unwrap() < repo.find(">3.18</a>").unwrap());
    let (_, multi) = get(&format!("{}/r/multi", ui.url)).await;
    assert!(multi.contains("linux/arm64/v8"));
    assert!(
        !repo.contains("<th>Pushed</th>"),
        "no push times without Wharf's extension"
    );
    for page in ["disk", "retention", "trash"] {
        let (status, body) = get(&format!("{}/{page}", ui.url)).await;
        assert_eq!(status, 501, "/{page}: {body}");
        assert!(body.contains("no Wharf API extension"), "/{page}: {body}");
    }

    let (status, tag) = get(&format!("{}/r/alpine/-/tags/3.19", ui.url)).await;
    assert_eq!(status, 200, "{tag}");
    assert!(tag.contains(&f.alpine_current));
    assert!(tag.contains("RUN apk add --no-cache curl"));
    assert!(tag.contains("does not offer the OCI referrers API"));

    let (status, confirm) = {
        let r = client()
            .post(format!("{}/r/alpine/-/delete", ui.url))
            .form(&[("step", "confirm"), ("tag", "latest")])
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    };
    assert_eq!(status, 200, "{confirm}");
    assert!(confirm.contains(">3.19</span>") && confirm.contains(">stable</span>"));
    let r = client()
        .post(format!("{}/r/alpine/-/delete", ui.url))
        .form(&[("step", "digests"), ("digest", f.alpine_current.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(registry_tags(&registry.url, "alpine").await, ["3.18"]);

    let r = client()
        .post(format!("{}/r/alpine/-/delete", ui.url))
        .form(&[("step", "tags"), ("tag", "3.18")])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(
        status, 405,
        "distribution 2.8 cannot delete a lone tag: {body}"
    );
    assert!(body.contains("delete the image by digest instead"));
    assert_eq!(registry_tags(&registry.url, "alpine").await, ["3.18"]);

    ui.stop().await;
    drop(registry);
}

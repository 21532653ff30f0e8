//! The files that build and publish the image, checked offline: both Dockerfiles pass hadolint and
//! share their `base` stage, copy only files of the repository (the build with a real engine is in
//! docker_stack.rs), the release pipeline passes actionlint and does what docs/quickstart.md says it
//! does, and every deploy file and guide names the image that pipeline publishes.

mod common;
#[path = "common/dockerfile.rs"]
mod dockerfile;

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const DOCKERFILES: [&str; 2] = ["Dockerfile", "docker/prebuilt.Dockerfile"];
const WORKFLOW: &str = ".github/workflows/ci.yml";

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `name` (a linter `./scripts/test` installs), run at the repository's root.
fn linter(name: &str) -> Command {
    let mut cmd = common::installed_tool(name);
    cmd.current_dir(ROOT);
    cmd
}

fn assert_success(out: std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// hadolint finds nothing in either Dockerfile.
#[test]
fn dockerfiles_pass_hadolint() {
    let out = linter("hadolint").args(DOCKERFILES).output().unwrap();
    assert_success(out, "hadolint");
}

/// Both Dockerfiles open with the same `base` stage, so the published image and the one built from
/// source (by `caprover deploy` or compose) are the same image around the same binary.
#[test]
fn base_stage_is_shared() {
    let [source, prebuilt] = DOCKERFILES.map(|f| dockerfile::stages(&read(f)));
    let base = |stages: &[(String, Vec<String>)]| {
        stages
            .iter()
            .find(|(name, _)| name == "base")
            .expect("a base stage")
            .1
            .clone()
    };
    assert_eq!(base(&source), base(&prebuilt));
    assert!(
        base(&source).iter().any(|i| i.starts_with("HEALTHCHECK")),
        "{:?}",
        base(&source)
    );
}

/// Every file the source Dockerfile copies from the build context is in the repository, so the
/// classic builder, which builds every stage, finds it; the prebuilt Dockerfile copies only the
/// repository's files and the pipeline's dist/.
#[test]
fn copied_files_are_in_the_repository() {
    for file in DOCKERFILES {
        let sources = dockerfile::copy_sources(&read(file));
        assert!(!sources.is_empty(), "{file} copies nothing");
        for source in sources {
            if file == "docker/prebuilt.Dockerfile" && source.starts_with("dist/") {
                continue;
            }
            assert!(
                Path::new(ROOT).join(&source).exists(),
                "{file} copies {source}, which is not in the repository"
            );
        }
    }
}

/// actionlint finds nothing in the workflows.
#[test]
fn workflows_pass_actionlint() {
    assert!(Path::new(ROOT).join(WORKFLOW).exists());
    let out = linter("actionlint").output().unwrap();
    assert_success(out, "actionlint");
}

fn job<'a>(workflow: &'a serde_yaml::Value, name: &str) -> &'a serde_yaml::Value {
    let job = &workflow["jobs"][name];
    assert!(job.is_mapping(), "no job {name} in {WORKFLOW}");
    job
}

fn runs(job: &serde_yaml::Value) -> String {
    job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn step<'a>(job: &'a serde_yaml::Value, action: &str) -> &'a serde_yaml::Value {
    job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(action)))
        .unwrap_or_else(|| panic!("no step uses {action}"))
}

/// The pipeline tests every push with ./scripts/test, and on a version tag builds static binaries
/// for amd64 and arm64, pushes a two-platform image with semver tags, latest, an SBOM and provenance
/// to ghcr.io under the repository's owner, and attaches the binaries to a release.
#[test]
fn release_pipeline() {
    let workflow: serde_yaml::Value = serde_yaml::from_str(&read(WORKFLOW)).unwrap();
    let on = &workflow["on"];
    assert_eq!(on["push"]["branches"][0].as_str(), Some("**"));
    assert_eq!(on["push"]["tags"][0].as_str(), Some("v*"));

    let test = job(&workflow, "test");
    assert!(test["if"].is_null(), "tests run on every push");
    assert!(runs(test).lines().any(|l| l.trim() == "./scripts/test"));

    let tag_only = "startsWith(github.ref, 'refs/tags/v')";
    let binaries = job(&workflow, "binaries");
    assert_eq!(binaries["if"].as_str(), Some(tag_only));
    let targets: Vec<(&str, &str)> = binaries["strategy"]["matrix"]["include"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| (m["arch"].as_str().unwrap(), m["target"].as_str().unwrap()))
        .collect();
    assert_eq!(
        targets,
        [
            ("amd64", "x86_64-unknown-linux-musl"),
            ("arm64", "aarch64-unknown-linux-musl")
        ]
    );
    assert!(runs(binaries).contains("statically linked"));

    let image = job(&workflow, "image");
    assert_eq!(image["permissions"]["packages"].as_str(), Some("write"));
    assert!(runs(image).contains("image=ghcr.io/${GITHUB_REPOSITORY,,}"));
    let meta = &step(image, "docker/metadata-action")["with"];
    let tags = meta["tags"].as_str().unwrap();
    for pattern in ["{{version}}", "{{major}}.{{minor}}", "{{major}}"] {
        assert!(
            tags.contains(&format!("type=semver,pattern={pattern}")),
            "{tags}"
        );
    }
    assert!(meta["flavor"].as_str().unwrap().contains("latest=auto"));
    let build = &step(image, "docker/build-push-action")["with"];
    assert_eq!(build["file"].as_str(), Some("docker/prebuilt.Dockerfile"));
    assert_eq!(build["platforms"].as_str(), Some("linux/amd64,linux/arm64"));
    assert_eq!(build["push"].as_bool(), Some(true));
    assert_eq!(build["sbom"].as_bool(), Some(true));
    assert_eq!(build["provenance"].as_str(), Some("mode=max"));

    let release = job(&workflow, "release");
    assert_eq!(release["permissions"]["contents"].as_str(), Some("write"));
    assert!(runs(release).contains("gh release create"));
    assert!(runs(release).contains("wharf-*.tar.gz"));
}

/// The one-click app, the compose files and the guides name the image the pipeline publishes for this
/// repository (Cargo.toml's `repository`), at Cargo.toml's version.
#[test]
fn published_image_is_named_everywhere() {
    let version = env!("CARGO_PKG_VERSION");
    let owner_repo = env!("CARGO_PKG_REPOSITORY")
        .strip_prefix("https://github.com/")
        .expect("a GitHub repository")
        .to_lowercase();
    let image = format!("ghcr.io/{owner_repo}");
    let tagged = format!("{image}:{}", version);

    let app: serde_yaml::Value = serde_yaml::from_str(&read("one-click-app.yml")).unwrap();
    let variable = |id: &str| {
        app["caproverOneClickApp"]["variables"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["id"].as_str() == Some(id))
            .and_then(|v| v["defaultValue"].as_str())
            .unwrap()
            .to_string()
    };
    assert_eq!(variable("$$cap_image"), image);
    assert_eq!(variable("$$cap_version"), version);

    let compose: serde_yaml::Value =
        serde_yaml::from_str(&read("compose/docker-compose.yml")).unwrap();
    for service in ["registry", "ui"] {
        assert_eq!(
            compose["services"][service]["image"].as_str(),
            Some(format!("${{WHARF_IMAGE:-{tagged}}}").as_str())
        );
    }
    assert!(read("compose/.env.example").contains(&format!("WHARF_IMAGE={tagged}\n")));
    for guide in [
        "docs/quickstart.md",
        "docs/migrating.md",
        "docs/caprover.md",
    ] {
        assert!(
            read(guide).contains(&image),
            "{guide} does not name {image}"
        );
    }
}

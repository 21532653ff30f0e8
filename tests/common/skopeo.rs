//! A sandbox for running the real `skopeo` CLI in tests, isolated from the machine's configuration:
//! a temporary HOME, an empty registries.conf, a registries.d keeping signatures in the sandbox, empty
//! auth and certificate locations (`certs.d`, where TLS tests put `ca.crt`) and an accept-anything
//! policy. Two system paths remain: drop-ins in /etc/containers/registries.conf.d (short-name aliases,
//! unused by fully qualified references) and, as root, the blob-info cache in
//! /var/lib/containers/cache (every test's blobs are unique, so its entries never collide).
#![allow(dead_code)]

use std::process::{Command, Output};

use serde_json::Value;

/// A sandbox to run `skopeo` in, with every file it would read from the machine replaced by a
/// temporary one.
pub struct Skopeo {
    dir: tempfile::TempDir,
}

impl Skopeo {
    /// A sandbox; fails the test when skopeo is not installed.
    pub fn new() -> Skopeo {
        match Command::new("skopeo").arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "skopeo --version failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => panic!("skopeo not found: run ./scripts/test (it installs it) ({e})"),
        }
        let dir = tempfile::tempdir().expect("skopeo sandbox");
        for sub in ["home", "runtime", "registries.d", "certs.d", "tmp"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("sandbox dir");
        }
        let policy = serde_json::json!({ "default": [{ "type": "insecureAcceptAnything" }] });
        std::fs::write(
            dir.path().join("policy.json"),
            serde_json::to_vec(&policy).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.path().join("registries.conf"), b"").unwrap();
        // Signature lookaside (read, written, and removed by `delete`) inside the sandbox, not in
        // /var/lib/containers/sigstore. JSON is YAML.
        let lookaside = format!("file://{}", dir.path().join("sigstore").display());
        let registries_d = serde_json::json!({ "default-docker": { "lookaside": lookaside } });
        std::fs::write(
            dir.path().join("registries.d/default.yaml"),
            serde_json::to_vec(&registries_d).unwrap(),
        )
        .unwrap();
        let auth = serde_json::json!({ "auths": {} });
        std::fs::write(
            dir.path().join("auth.json"),
            serde_json::to_vec(&auth).unwrap(),
        )
        .unwrap();
        Skopeo { dir }
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Runs `skopeo <global flags> <command> <sandbox flags> <args>` and returns its output,
    /// whatever the exit status.
    pub async fn try_run(&self, command: &str, args: &[String]) -> Output {
        let (auth, certs) = (self.path("auth.json"), self.path("certs.d"));
        let sandbox_flags: Vec<&str> = match command {
            "copy" => vec![
                "--src-authfile",
                &auth,
                "--dest-authfile",
                &auth,
                "--src-cert-dir",
                &certs,
                "--dest-cert-dir",
                &certs,
            ],
            _ => vec!["--authfile", &auth, "--cert-dir", &certs],
        };
        let mut cmd = Command::new("skopeo");
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("home"))
            .env("XDG_RUNTIME_DIR", self.path("runtime"))
            .env("XDG_CONFIG_HOME", self.path("home/.config"))
            .env("XDG_DATA_HOME", self.path("home/.local/share"))
            .env("TMPDIR", self.path("tmp"))
            .env("REGISTRY_AUTH_FILE", &auth)
            .args(["--command-timeout", "120s", "--policy"])
            .arg(self.path("policy.json"))
            .arg("--registries-conf")
            .arg(self.path("registries.conf"))
            .arg("--registries.d")
            .arg(self.path("registries.d"))
            .arg("--tmpdir")
            .arg(self.path("tmp"))
            .arg(command)
            .args(&sandbox_flags)
            .args(args);
        let shown = format!("{cmd:?}");
        tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("skopeo task")
            .unwrap_or_else(|e| panic!("running {shown}: {e}"))
    }

    /// Runs skopeo and requires success, printing its stderr otherwise; returns stdout.
    pub async fn run(&self, command: &str, args: &[&str]) -> Vec<u8> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let out = self.try_run(command, &args).await;
        assert!(
            out.status.success(),
            "skopeo {command} {args:?} failed ({}):\n--- stderr ---\n{}\n--- stdout ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        out.stdout
    }

    /// `skopeo copy` from `src` to `dest` over plain HTTP, with `extra` flags.
    pub async fn copy(&self, src: &str, dest: &str, extra: &[&str]) {
        self.run("copy", &plain_http_copy(src, dest, extra)).await;
    }

    /// Like [`Skopeo::copy`], returning the output whatever the exit status (for refusals).
    pub async fn try_copy(&self, src: &str, dest: &str, extra: &[&str]) -> Output {
        let args: Vec<String> = plain_http_copy(src, dest, extra)
            .iter()
            .map(|a| a.to_string())
            .collect();
        self.try_run("copy", &args).await
    }

    /// `skopeo inspect` (with `--raw` when asked) of a `docker://` reference.
    pub async fn inspect(&self, reference: &str, raw: bool) -> Vec<u8> {
        let mut args = vec!["--tls-verify=false"];
        if raw {
            args.push("--raw");
        }
        args.push(reference);
        self.run("inspect", &args).await
    }

    /// The tags `skopeo list-tags` reports for a `docker://` repository, sorted.
    pub async fn list_tags(&self, repository: &str) -> Vec<String> {
        let out = self
            .run("list-tags", &["--tls-verify=false", repository])
            .await;
        let listing: Value = serde_json::from_slice(&out).expect("list-tags prints JSON");
        let mut tags: Vec<String> = listing["Tags"]
            .as_array()
            .unwrap_or_else(|| panic!("list-tags output has no Tags: {listing}"))
            .iter()
            .map(|t| t.as_str().expect("tag is a string").to_string())
            .collect();
        tags.sort();
        tags
    }
}

/// Arguments of `skopeo copy` over plain HTTP.
fn plain_http_copy<'a>(src: &'a str, dest: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--src-tls-verify=false", "--dest-tls-verify=false"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[src, dest]);
    args
}

/// `oci:<dir>:<tag>`.
pub fn oci_ref(dir: &std::path::Path, tag: &str) -> String {
    format!("oci:{}:{tag}", dir.display())
}

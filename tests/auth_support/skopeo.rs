//! `skopeo copy` isolated from the machine's configuration (temporary HOME, empty registries.conf,
//! accept-anything policy, empty auth file), as in `interop_skopeo.rs`, for login tests that pass
//! credentials with `--src-creds`/`--dest-creds`.

use std::path::Path;
use std::process::{Command, Output};

/// A temporary directory holding skopeo's configuration.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// A sandbox; fails the test when skopeo is not installed.
    pub fn new() -> Sandbox {
        let ok = Command::new("skopeo")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "skopeo not found: run ./scripts/test (it installs it)");
        let dir = tempfile::tempdir().expect("skopeo sandbox");
        for sub in ["home", "runtime", "registries.d", "tmp"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let write =
            |name: &str, content: &str| std::fs::write(dir.path().join(name), content).unwrap();
        write(
            "policy.json",
            r#"{"default": [{"type": "insecureAcceptAnything"}]}"#,
        );
        write("registries.conf", "");
        write("auth.json", r#"{"auths": {}}"#);
        let lookaside = format!("file://{}", dir.path().join("sigstore").display());
        write(
            "registries.d/default.yaml",
            &format!(r#"{{"default-docker": {{"lookaside": "{lookaside}"}}}}"#),
        );
        Sandbox { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// `skopeo copy` over plain HTTP with extra flags (credentials); returns the output.
    pub async fn copy(&self, src: &str, dest: &str, flags: &[&str]) -> Output {
        let auth = self.path("auth.json");
        let mut cmd = Command::new("skopeo");
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("home"))
            .env("XDG_RUNTIME_DIR", self.path("runtime"))
            .env("XDG_CONFIG_HOME", self.path("home/.config"))
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
            .args(["copy", "--src-authfile", &auth, "--dest-authfile", &auth])
            .args(["--src-tls-verify=false", "--dest-tls-verify=false"])
            .args(flags)
            .args([src, dest]);
        tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("skopeo task")
            .expect("run skopeo")
    }
}

/// `oci:<dir>:<tag>`.
pub fn oci_ref(dir: &Path, tag: &str) -> String {
    format!("oci:{}:{tag}", dir.display())
}

//! Provisioning of a missing htpasswd file through the real `wharf serve` process, as a PaaS runs
//! it: initial credentials from `WHARF_USERNAME`/`WHARF_PASSWORD` or `WHARF_HTPASSWD`, or user
//! `docker` with a random password logged once (read here from the JSON log on stderr).

mod auth_support;
mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running `wharf serve` and the log lines it printed so far.
struct Process {
    child: Child,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Starts `wharf serve` storing under `root`, htpasswd at `htpasswd`, with extra variables,
    /// and waits until it answers.
    async fn start(root: &Path, htpasswd: &Path, vars: &[(&str, &str)]) -> Process {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_wharf"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("REGISTRY_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", root)
            .env("REGISTRY_AUTH", "htpasswd")
            .env("REGISTRY_AUTH_HTPASSWD_PATH", htpasswd)
            .env("REGISTRY_LOG_FORMATTER", "json")
            .envs(vars.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wharf");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let url = format!("http://127.0.0.1:{port}");
        let up = auth_support::eventually(Duration::from_secs(20), || async {
            reqwest::get(format!("{url}/")).await.is_ok()
        })
        .await;
        let mut process = Process { child, url, log };
        if !up {
            process.child.kill().ok();
            panic!("wharf did not start: {:?}", process.log.lock().unwrap());
        }
        process
    }

    /// The status of `GET /v2/` with Basic credentials.
    async fn login(&self, user: &str, password: &str) -> u16 {
        reqwest::Client::new()
            .get(format!("{}/v2/", self.url))
            .basic_auth(user, Some(password))
            .send()
            .await
            .expect("GET /v2/")
            .status()
            .as_u16()
    }

    /// The JSON log lines whose message contains `text`.
    fn logged(&self, text: &str) -> Vec<serde_json::Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| {
                v["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(text))
            })
            .collect()
    }

    /// Like [`Process::logged`], waiting (up to 10 s) for at least one such line: stderr is read by a
    /// thread, so a line may arrive after the server already answers.
    async fn wait_logged(&self, text: &str) -> Vec<serde_json::Value> {
        auth_support::eventually(Duration::from_secs(10), || async {
            !self.logged(text).is_empty()
        })
        .await;
        self.logged(text)
    }

    /// Every log line, raw.
    fn all_log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn stop(mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A directory holding `auth/` (as the image has `/auth`), and the htpasswd path in it.
fn paths() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("auth")).unwrap();
    let htpasswd = dir.path().join("auth/htpasswd");
    (dir, htpasswd)
}

/// `wharf serve` over `dir` with `REGISTRY_AUTH_HTPASSWD_PATH=htpasswd` and `vars` only, to its end.
fn serve_to_the_end(dir: &Path, htpasswd: &Path, vars: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("serve")
        .env_clear()
        .env("REGISTRY_HTTP_ADDR", "127.0.0.1:0")
        .env("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", dir)
        .env("REGISTRY_AUTH_HTPASSWD_PATH", htpasswd)
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run wharf")
}

/// Without WHARF_* variables the file is created with user `docker` and a random 43-character
/// password, logged once at WARN as distribution does; that password logs in, and a restart over
/// the same file neither changes nor logs it again.
#[tokio::test(flavor = "multi_thread")]
async fn generated_password_is_logged_once_and_works() {
    let (dir, htpasswd) = paths();
    let wharf = Process::start(dir.path(), &htpasswd, &[]).await;
    let lines = wharf
        .wait_logged("htpasswd is missing, provisioning with default user")
        .await;
    assert_eq!(lines.len(), 1, "{}", wharf.all_log());
    assert_eq!(lines[0]["level"], "WARN");
    assert_eq!(lines[0]["fields"]["user"], "docker");
    let password = lines[0]["fields"]["password"].as_str().unwrap().to_string();
    assert_eq!(password.len(), 43);
    assert_eq!(wharf.login("docker", &password).await, 200);
    assert_eq!(wharf.login("docker", "wrong").await, 401);
    wharf.stop();

    let again = Process::start(dir.path(), &htpasswd, &[]).await;
    assert_eq!(again.login("docker", &password).await, 200);
    assert!(again.logged("provisioning").is_empty());
    assert!(!again.all_log().contains(&password));
    again.stop();
}

/// WHARF_USERNAME and WHARF_PASSWORD create the first user; the password never reaches the log.
#[tokio::test(flavor = "multi_thread")]
async fn initial_user_from_wharf_username_and_password() {
    let (dir, htpasswd) = paths();
    let password = "paas-form-secret-7";
    let wharf = Process::start(
        dir.path(),
        &htpasswd,
        &[("WHARF_USERNAME", "admin"), ("WHARF_PASSWORD", password)],
    )
    .await;
    assert_eq!(wharf.login("admin", password).await, 200);
    assert_eq!(wharf.login("docker", password).await, 401);
    assert!(!wharf.all_log().contains(password), "{}", wharf.all_log());
    wharf.stop();
}

/// WHARF_HTPASSWD holding a bcrypt line (as `wharf htpasswd -Bbn` prints it) becomes the file.
#[tokio::test(flavor = "multi_thread")]
async fn initial_users_from_wharf_htpasswd() {
    let (dir, htpasswd) = paths();
    let line = auth_support::entry("deploy", "from-a-line");
    let wharf = Process::start(dir.path(), &htpasswd, &[("WHARF_HTPASSWD", &line)]).await;
    assert_eq!(wharf.login("deploy", "from-a-line").await, 200);
    assert_eq!(std::fs::read_to_string(&htpasswd).unwrap().trim(), line);
    wharf.stop();
}

/// Inconsistent WHARF_* variables stop start-up (exit 2) with one line naming the variables, printed
/// once.
#[test]
fn inconsistent_initial_credentials_stop_startup() {
    let (dir, htpasswd) = paths();
    let out = serve_to_the_end(dir.path(), &htpasswd, &[("WHARF_USERNAME", "admin")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = "WHARF_USERNAME is set but WHARF_PASSWORD is not";
    assert_eq!(stderr.matches(said).count(), 1, "{stderr}");
    assert!(!htpasswd.exists());
}

/// An htpasswd path whose directory does not exist (a typo, a volume not mounted) stops start-up
/// with exit 2 and the setting to fix, instead of creating a file no real user is in.
#[test]
fn missing_htpasswd_directory_stops_startup() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("auht/htpasswd");
    let out = serve_to_the_end(dir.path(), &htpasswd, &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = "does not exist";
    assert_eq!(stderr.matches(said).count(), 1, "{stderr}");
    assert!(stderr.contains("REGISTRY_AUTH_HTPASSWD_PATH"), "{stderr}");
    assert!(!dir.path().join("auht").exists());
}

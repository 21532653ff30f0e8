//! The configuration as users meet it: the real `wharf` binary with a `config.yml` and `REGISTRY_*`
//! variables, through `wharf config` and `wharf serve`, including every kind of error message.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn wharf(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("REGISTRY_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run wharf")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn write(dir: &Path, body: &str) -> String {
    let path = dir.join("config.yml");
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

/// The file sets values, env variables override them, and `wharf config` says where each came from,
/// with the secret redacted.
#[test]
fn file_then_env_with_origins() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "version: 0.1\nhttp:\n  addr: :5000\n  secret: file-secret-value\nstorage:\n  delete:\n    enabled: false\n  filesystem:\n    rootdirectory: /srv/registry\n",
    );
    let out = wharf(
        &["config", &file],
        &[
            ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
            ("REGISTRY_HTTP_ADDR", ":5001"),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("addr: :5001"), "{stdout}");
    assert!(stdout.contains("enabled: true"), "{stdout}");
    assert!(stdout.contains("rootdirectory: /srv/registry"), "{stdout}");
    assert!(!stdout.contains("file-secret-value"), "{stdout}");
    assert!(
        stdout.contains("#   http.addr: environment variable REGISTRY_HTTP_ADDR"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("#   storage.filesystem.rootdirectory: {file}")),
        "{stdout}"
    );
}

/// `REGISTRY_CONFIGURATION_PATH` names the file when no argument is given.
#[test]
fn configuration_path_variable() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "version: 0.1\ncatalog:\n  maxentries: 77\n");
    let out = wharf(&["config"], &[("REGISTRY_CONFIGURATION_PATH", &file)]);
    assert!(text(&out).0.contains("maxentries: 77"), "{:?}", text(&out));
}

/// Every kind of bad input stops with exit code 2 and one line naming the setting, its source and a fix.
#[test]
fn error_messages() {
    let dir = tempfile::tempdir().unwrap();
    let typo = write(dir.path(), "version: 0.1\nhttp:\n  adr: :5000\n");
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            vec!["config", "--check", &typo],
            vec![],
            vec!["http.adr", "config.yml", "did you mean `http.addr`"],
        ),
        (
            vec!["config", "--check"],
            vec![("REGISTRY_CATALOG_MAXENTRIES", "lots")],
            vec![
                "catalog.maxentries",
                "REGISTRY_CATALOG_MAXENTRIES",
                "invalid type",
            ],
        ),
        (
            vec!["config", "--check"],
            vec![("REGISTRY_HTTP_ADDR", "5000")],
            vec!["http.addr", "REGISTRY_HTTP_ADDR", ":PORT"],
        ),
        (
            vec!["config", "--check"],
            vec![("REGISTRY_LOG_LEVEL", "chatty")],
            vec!["log.level", "REGISTRY_LOG_LEVEL", "debug"],
        ),
        (
            vec!["config", "--check"],
            vec![("REGISTRY_HTTP_HEADERS_X-Bad", "[\"a\\nb\"]")],
            vec!["http.headers", "not a valid header value"],
        ),
        (
            vec!["serve"],
            vec![
                ("REGISTRY_STORAGE", "s3"),
                ("REGISTRY_STORAGE_S3_REGION", "us-east-1"),
            ],
            vec![
                "storage.s3.bucket",
                "REGISTRY_STORAGE_S3_BUCKET",
                "required",
            ],
        ),
        (
            vec!["config", "--check", "/nonexistent/config.yml"],
            vec![],
            vec!["/nonexistent/config.yml", "pass an existing config.yml"],
        ),
        (
            vec!["config", "--check"],
            vec![("REGISTRY_HTTP_PREFIX", "registry")],
            vec!["http.prefix", "must start and end with '/'"],
        ),
        (
            vec!["config", "--check"],
            vec![
                ("REGISTRY_STORAGE", "s3"),
                ("REGISTRY_STORAGE_S3_BUCKET", "registry"),
                ("REGISTRY_STORAGE_S3_OBJECTACL", "public-read"),
            ],
            vec![
                "storage.s3.objectacl",
                "REGISTRY_STORAGE_S3_OBJECTACL",
                "bucket policy",
            ],
        ),
        (
            vec!["config", "--check"],
            vec![
                ("REGISTRY_STORAGE", "s3"),
                ("REGISTRY_STORAGE_S3_BUCKET", "registry.example.com"),
                ("REGISTRY_STORAGE_S3_REGION", "eu-west-1"),
                ("REGISTRY_STORAGE_S3_ACCELERATE", "true"),
            ],
            vec![
                "storage.s3.accelerate",
                "REGISTRY_STORAGE_S3_ACCELERATE",
                "without dots",
            ],
        ),
        (
            vec!["serve"],
            vec![
                ("REGISTRY_STORAGE", "s3"),
                ("REGISTRY_STORAGE_S3_BUCKET", "registry"),
                ("REGISTRY_STORAGE_S3_REGIONENDPOINT", "http://minio:9000"),
                ("REGISTRY_STORAGE_S3_USEDUALSTACK", "true"),
            ],
            vec![
                "storage.s3.usedualstack",
                "REGISTRY_STORAGE_S3_USEDUALSTACK",
                "regionendpoint",
            ],
        ),
    ];
    for (args, env, want) in cases {
        let out = wharf(&args, &env);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        for w in want {
            assert!(
                stderr.contains(w),
                "{args:?} {env:?}: {stderr:?} lacks {w:?}"
            );
        }
    }
}

/// registry:2's own default config.yml loads unchanged and without a warning, as do the maintenance
/// leaf variables that crash registry:2 (distribution #1736).
#[test]
fn registry2_default_config_and_maintenance_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "version: 0.1\nlog:\n  fields:\n    service: registry\nstorage:\n  cache:\n    blobdescriptor: inmemory\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\n  headers:\n    X-Content-Type-Options: [nosniff]\nhealth:\n  storagedriver:\n    enabled: true\n    interval: 10s\n    threshold: 3\n",
    );
    let out = wharf(
        &["config", "--check", &file],
        &[
            ("REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED", "true"),
            (
                "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_ENABLED",
                "false",
            ),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.is_empty(), "--check prints nothing on success");
    assert!(
        stderr.is_empty(),
        "registry:2's default config loads without a warning: {stderr}"
    );
}

/// registry:2's S3 tuning keys that Wharf has no use for (multipart copies, SDK logging) load without
/// a warning, as do the endpoint, user agent and ACL settings Wharf applies.
#[test]
fn s3_driver_keys_load_silently() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "version: 0.1\nstorage:\n  s3:\n    bucket: registry\n    region: eu-west-1\n    multipartcopychunksize: 33554432\n    multipartcopymaxconcurrency: 100\n    multipartcopythresholdsize: 33554432\n    loglevel: debugwithhttpbody\n    usedualstack: true\n    usefipsendpoint: true\n    useragent: wharf-prod\n    objectacl: private\n    redirectendpoint: https://blobs.example.com\n",
    );
    let out = wharf(
        &["config", "--check", &file],
        &[("REGISTRY_STORAGE_S3_LOGLEVEL", "off")],
    );
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.is_empty(), "no warning expected: {stderr}");
}

/// The seeds' `Access-Control-Origin` header (not a CORS header) is accepted with a warning.
#[test]
fn access_control_origin_warning() {
    let out = wharf(
        &["config", "--check"],
        &[("REGISTRY_HTTP_HEADERS_Access-Control-Origin", "['*']")],
    );
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("Access-Control-Allow-Origin was probably meant"),
        "{stderr}"
    );
}

/// Variables that share the prefix without being settings (Kubernetes service links for a Service
/// named `registry`, joxit's REGISTRY_TITLE) are ignored with a warning; a typo inside a real section
/// is still an error.
#[test]
fn foreign_registry_variables() {
    let out = wharf(
        &["config", "--check"],
        &[
            ("REGISTRY_SERVICE_HOST", "10.0.0.1"),
            ("REGISTRY_PORT_5000_TCP_ADDR", "10.0.0.1"),
            ("REGISTRY_TITLE", "My registry"),
        ],
    );
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("REGISTRY_SERVICE_HOST: not a registry setting"),
        "{stderr}"
    );
    let out = wharf(&["config", "--check"], &[("REGISTRY_HTTP_ADR", ":5000")]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("did you mean `http.addr`"), "{stderr}");
}

/// A stand-in S3 endpoint: answers the first request with 403 `AccessDenied` and returns its head
/// (request line and headers), or an empty string if none came within a minute.
fn fake_s3(listener: TcpListener) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut conn = loop {
            match listener.accept() {
                Ok((conn, _)) => break conn,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(_) => return String::new(),
            }
        };
        conn.set_nonblocking(false).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        let body = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
        let _ = write!(
            conn,
            "HTTP/1.1 403 Forbidden\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        String::from_utf8_lossy(&head).into_owned()
    })
}

/// `storage.s3.useragent` is the User-Agent of the start-up bucket probe, which lists the bucket in
/// the path of `regionendpoint`; its 403 stops `wharf serve` naming the credentials.
#[test]
fn s3_probe_sends_the_user_agent() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let server = fake_s3(listener);
    let agent = "wharf-test/1.0 (config_cli; ops@example.com)";
    let out = wharf(
        &["serve"],
        &[
            ("REGISTRY_STORAGE", "s3"),
            ("REGISTRY_STORAGE_S3_BUCKET", "probe"),
            ("REGISTRY_STORAGE_S3_REGIONENDPOINT", &endpoint),
            ("REGISTRY_STORAGE_S3_ACCESSKEY", "key"),
            ("REGISTRY_STORAGE_S3_SECRETKEY", "secret"),
            ("REGISTRY_STORAGE_S3_USERAGENT", agent),
            ("REGISTRY_HTTP_ADDR", "127.0.0.1:0"),
        ],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("storage.s3.accesskey"), "{stderr}");
    let head = server.join().unwrap();
    assert!(head.starts_with("GET /probe?"), "{head:?}");
    let sent = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("user-agent")
            .then(|| value.trim())
    });
    assert_eq!(sent, Some(agent), "{head}");
}

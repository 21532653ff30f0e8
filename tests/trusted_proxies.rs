//! Behind a real nginx, as on CapRover or with compose's nginx overlay: with `http.trustedproxies`
//! naming the proxy, failed-login throttling counts per client, not per proxy, and the access log
//! names the client; without it, one client's bad logins lock every client out. Clients are told
//! apart by their loopback source address (127.0.0.2, 127.0.0.3).

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::binary::{command, free_port, serve, Served};

/// nginx in the foreground with a configuration of the test's own, stopped (by PID) when dropped.
struct Nginx {
    child: Child,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    /// nginx on 127.0.0.1 proxying to `upstream` with the headers compose/nginx/registry.conf sets.
    async fn start(dir: &Path, upstream: u16) -> Nginx {
        assert!(
            Path::new("/usr/sbin/nginx").exists(),
            "nginx not found: run ./scripts/test (it installs it)"
        );
        let port = free_port();
        let d = dir.display();
        let conf = format!(
            "worker_processes 1;\nerror_log {d}/error.log;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               server {{\n    listen 127.0.0.1:{port};\n    location / {{\n\
                 proxy_pass http://127.0.0.1:{upstream};\n\
                 proxy_set_header Host $host;\n\
                 proxy_set_header X-Forwarded-Proto $scheme;\n\
                 proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
                 proxy_set_header X-Real-IP $remote_addr;\n    }}\n  }}\n}}\n"
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("/usr/sbin/nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&path)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let nginx = Nginx { child, port };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "nginx did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        nginx
    }
}

/// A client whose connections come from `source`.
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn login(client: &reqwest::Client, url: &str, password: &str) -> u16 {
    client
        .get(format!("{url}/v2/"))
        .basic_auth("alice", Some(password))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Wharf with htpasswd user `alice` behind nginx; `trusted` is `http.trustedproxies`.
async fn registry_behind_nginx(dir: &Path, trusted: Option<&str>) -> (Served, Nginx) {
    let auth = dir.join("auth");
    std::fs::create_dir_all(&auth).unwrap();
    let htpasswd = auth.join("htpasswd").display().to_string();
    let port = free_port();
    let mut env = vec![
        ("REGISTRY_AUTH", "htpasswd"),
        ("REGISTRY_AUTH_HTPASSWD_REALM", "test"),
        ("REGISTRY_AUTH_HTPASSWD_PATH", htpasswd.as_str()),
        ("WHARF_USERNAME", "alice"),
        ("WHARF_PASSWORD", "alice-password"),
    ];
    if let Some(trusted) = trusted {
        env.push(("REGISTRY_HTTP_TRUSTEDPROXIES", trusted));
    }
    let served = serve(command(&dir.join("registry"), port, &env), port).await;
    let nginx = Nginx::start(dir, port).await;
    (served, nginx)
}

/// With the proxy trusted, ten bad logins from one client get that client 429 while another client
/// behind the same proxy still logs in; the access log names each client, not the proxy.
#[tokio::test(flavor = "multi_thread")]
async fn throttling_counts_per_client_behind_a_trusted_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let (served, nginx) = registry_behind_nginx(dir.path(), Some("127.0.0.1")).await;
    let url = format!("http://127.0.0.1:{}", nginx.port);
    let (mallory, alice) = (client_from("127.0.0.2"), client_from("127.0.0.3"));
    let mut last = 0;
    for _ in 0..12 {
        last = login(&mallory, &url, "wrong").await;
    }
    assert_eq!(last, 429, "the guessing client is throttled");
    assert_eq!(login(&alice, &url, "alice-password").await, 200);
    let log = served.stop();
    let access: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("wharf::access"))
        .collect();
    let from = |client: &str| access.iter().filter(|l| l.contains(client)).count();
    assert_eq!(from("client=127.0.0.2"), 12, "{log}");
    assert_eq!(from("client=127.0.0.3"), 1, "{log}");
}

/// Without trusting the proxy, every client shares the proxy's address: one client's bad logins
/// lock the other out, and forwarding headers sent by a client directly are ignored.
#[tokio::test(flavor = "multi_thread")]
async fn untrusted_proxy_is_one_client() {
    let dir = tempfile::tempdir().unwrap();
    let (served, nginx) = registry_behind_nginx(dir.path(), None).await;
    let url = format!("http://127.0.0.1:{}", nginx.port);
    let (mallory, alice) = (client_from("127.0.0.2"), client_from("127.0.0.3"));
    for _ in 0..12 {
        login(&mallory, &url, "wrong").await;
    }
    assert_eq!(login(&alice, &url, "alice-password").await, 429);
    let direct = client_from("127.0.0.4")
        .get(format!("{}/v2/", served.url()))
        .basic_auth("alice", Some("alice-password"))
        .header("x-forwarded-for", "127.0.0.3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        direct.status(),
        200,
        "a spoofed header does not borrow a throttled address"
    );
}

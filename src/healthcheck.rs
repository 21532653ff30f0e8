//! `wharf healthcheck`: probes the local server (the image's `HEALTHCHECK`, so no curl is needed in
//! it), reporting in one line.
//!
//! - A registry container is probed at its configured listen address: `GET /` answers 200 while the
//!   server is up and its storage checks pass (it answers and can be written).
//! - A UI container (`wharf ui`, recognised by `NGINX_PROXY_PASS_URL` or `WHARF_UI_UPSTREAM` in its
//!   environment) is probed at its own listen address, on a stylesheet that needs no registry, so
//!   that an orchestrator does not restart the UI because the registry is down.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::config::Config;

/// How long the probe may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The URL probed for a configuration: the listen address (loopback when it is every interface), over
/// https when TLS is configured.
pub fn probe_url(config: &Config) -> Result<String, String> {
    let addr = config.http.listen_addr()?;
    // Every interface, IPv6 (dual-stack) or IPv4, includes IPv4's loopback.
    let ip = if addr.ip().is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        addr.ip()
    };
    let scheme = if config.http.tls.enabled() {
        "https"
    } else {
        "http"
    };
    Ok(format!("{scheme}://{}/", SocketAddr::new(ip, addr.port())))
}

/// The URL of the UI's stylesheet when the environment describes a `wharf ui` container.
pub fn ui_probe_url(env: impl Fn(&str) -> Option<String>) -> Option<String> {
    env("WHARF_UI_UPSTREAM").or_else(|| env("NGINX_PROXY_PASS_URL"))?;
    let listen: SocketAddr = env("WHARF_UI_LISTEN")
        .and_then(|a| a.parse().ok())
        .or_else(|| {
            env("NGINX_LISTEN_PORT")
                .and_then(|p| p.parse::<u16>().ok())
                .map(|p| SocketAddr::from(([0, 0, 0, 0], p)))
        })
        .unwrap_or_else(|| {
            crate::ui::args::DEFAULT_LISTEN
                .parse()
                .expect("valid default")
        });
    let ip = if listen.ip().is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        listen.ip()
    };
    Some(format!(
        "http://{}/assets/style.css",
        SocketAddr::new(ip, listen.port())
    ))
}

/// Probes `url`; `Ok` with a description when healthy, `Err` with the reason otherwise.
pub async fn probe(url: &str) -> Result<String, String> {
    // The certificate names the public host, not the loopback address probed here.
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .danger_accept_invalid_certs(true)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("no answer from {url}: {e}"))?;
    match response.status().as_u16() {
        200 => Ok(format!("{url} answered 200")),
        503 => Err(format!(
            "{url} answered 503: {}",
            error_message(&response.bytes().await.unwrap_or_default())
                .unwrap_or_else(|| "the storage health check is failing".into())
        )),
        other => Err(format!("{url} answered {other}")),
    }
}

/// The message of an OCI error body (`{"errors":[{"message":...}]}`).
fn error_message(body: &[u8]) -> Option<String> {
    let body: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some(body["errors"][0]["message"].as_str()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Registry containers are probed on their listen address (loopback for every interface, https
    /// with TLS); UI containers on their own port.
    #[test]
    fn probe_urls() {
        let mut config = Config::default();
        assert_eq!(probe_url(&config).unwrap(), "http://127.0.0.1:5000/");
        config.http.addr = "[::]:5000".into();
        assert_eq!(probe_url(&config).unwrap(), "http://127.0.0.1:5000/");
        config.http.addr = "10.1.2.3:6000".into();
        config.http.tls.certificate = Some("/c.pem".into());
        assert_eq!(probe_url(&config).unwrap(), "https://10.1.2.3:6000/");
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(ui_probe_url(env(&[])), None);
        assert_eq!(
            ui_probe_url(env(&[("NGINX_PROXY_PASS_URL", "http://registry:5000")])).as_deref(),
            Some("http://127.0.0.1:8080/assets/style.css")
        );
        assert_eq!(
            ui_probe_url(env(&[
                ("WHARF_UI_UPSTREAM", "http://r:5000"),
                ("NGINX_LISTEN_PORT", "80")
            ]))
            .as_deref(),
            Some("http://127.0.0.1:80/assets/style.css")
        );
    }
}

//! `http:` settings: listening, public URLs and extra response headers.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};

use axum::http::{HeaderName, HeaderValue};
use serde::{Deserialize, Deserializer, Serialize};

use super::debug::DebugConfig;
use super::duration::GoDuration;
use super::tls::{Http2Config, TlsConfig};

/// `http:` settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Listen address, `HOST:PORT` or `:PORT` for every interface.
    pub addr: String,
    /// Network: `tcp` (the only one Wharf serves; `unix` sockets are not supported yet).
    pub net: String,
    /// Path prefix the API is served under, e.g. `/registry/` (the API is then at `/registry/v2/`).
    pub prefix: String,
    /// Public base URL used in `Location` headers (e.g. `https://registry.example.com`).
    pub host: Option<String>,
    /// Shared secret of registry:2 replicas. Wharf keeps upload state in storage and needs none.
    pub secret: Option<String>,
    /// Send relative `Location` headers.
    pub relativeurls: bool,
    /// Headers added to every `/v2/` response, errors and 401s included: name → list of values.
    #[serde(deserialize_with = "header_map")]
    pub headers: BTreeMap<String, Vec<String>>,
    /// TLS.
    pub tls: TlsConfig,
    /// HTTP/2 over TLS.
    pub http2: Http2Config,
    /// The operators' listener (health, metrics, on-demand garbage collection).
    pub debug: DebugConfig,
    /// On SIGTERM or SIGINT, how long in-flight requests may take to finish.
    pub draintimeout: GoDuration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            addr: ":5000".into(),
            net: "tcp".into(),
            prefix: String::new(),
            host: None,
            secret: None,
            relativeurls: false,
            headers: BTreeMap::new(),
            tls: TlsConfig::default(),
            http2: Http2Config::default(),
            debug: DebugConfig::default(),
            draintimeout: GoDuration::secs(60),
        }
    }
}

/// A header's values: a YAML list as distribution requires, or (more forgiving) a single scalar.
fn header_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        S(String),
        B(bool),
        I(i64),
        F(f64),
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Values {
        Many(Vec<Scalar>),
        One(Scalar),
    }
    fn text(s: Scalar) -> String {
        match s {
            Scalar::S(s) => s,
            Scalar::B(b) => b.to_string(),
            Scalar::I(i) => i.to_string(),
            Scalar::F(f) => f.to_string(),
        }
    }
    let raw = BTreeMap::<String, Values>::deserialize(d)?;
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, values) in raw {
        let values = match values {
            Values::Many(v) => v.into_iter().map(text).collect(),
            Values::One(s) => vec![text(s)],
        };
        // Header names are case-insensitive: an env override replaces the file's spelling.
        out.insert(name.to_ascii_lowercase(), values);
    }
    Ok(out)
}

impl HttpConfig {
    /// The socket address to listen on (`:5000` means every interface).
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        let addr = &self.addr;
        let full = if addr.starts_with(':') {
            format!("0.0.0.0{addr}")
        } else {
            addr.clone()
        };
        full.to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                format!(
                    "{addr:?} is not HOST:PORT or :PORT (REGISTRY_HTTP_ADDR=:5000, for example)"
                )
            })
    }

    /// The configured headers, parsed.
    pub fn header_list(&self) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        let mut out = Vec::new();
        for (name, values) in &self.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("{name:?} is not a valid header name"))?;
            for value in values {
                let v = HeaderValue::from_str(value).map_err(|_| {
                    format!("the value {value:?} of header {name} is not a valid header value")
                })?;
                out.push((header.clone(), v));
            }
        }
        Ok(out)
    }

    /// The API path prefix without its trailing slash (`""` when the API is at `/v2/`).
    pub fn path_prefix(&self) -> &str {
        self.prefix.trim_end_matches('/')
    }

    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        self.listen_addr().map_err(|m| ("http.addr", m))?;
        if self.net != "tcp" {
            return Err((
                "http.net",
                format!("{:?} is not supported; use tcp", self.net),
            ));
        }
        if !(self.prefix.is_empty() || self.prefix.starts_with('/') && self.prefix.ends_with('/')) {
            return Err((
                "http.prefix",
                format!(
                    "{:?} must start and end with '/', e.g. /registry/",
                    self.prefix
                ),
            ));
        }
        if let Some(host) = self.host.as_deref().filter(|h| !h.is_empty()) {
            if !(host.starts_with("http://") || host.starts_with("https://")) {
                return Err((
                    "http.host",
                    format!("{host:?} must be a URL such as https://registry.example.com"),
                ));
            }
        }
        self.header_list().map_err(|m| ("http.headers", m))?;
        if self.tls.letsencrypt.is_some() {
            crate::tls::check_letsencrypt(&self.tls)?;
        } else if self.tls.enabled() || self.tls.key.is_some() {
            crate::tls::server_config(&self.tls, !self.http2.disabled)?;
        }
        Ok(())
    }
}

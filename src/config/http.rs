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
    /// Time limits on connections (Wharf only).
    pub timeouts: TimeoutsConfig,
    /// The most connections served at once (Wharf only); kept under half the file descriptor limit.
    pub maxconnections: usize,
    /// Wharf extension: addresses and CIDR ranges of reverse proxies whose `X-Forwarded-For` and
    /// `Forwarded` headers name the client (for login throttling and the access log). Empty: the
    /// connection's peer is the client. A YAML list, or one string of comma-separated entries (as a
    /// PaaS form gives it).
    #[serde(deserialize_with = "list_or_commas")]
    pub trustedproxies: Vec<String>,
}

/// `http.timeouts:` settings (Wharf only; registry:2 has none).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TimeoutsConfig {
    /// How long a client may take to send a request's header: the first one from the connection's
    /// start (TLS handshake included), later ones on HTTP/1 keep-alive connections from the end of the
    /// previous answer.
    pub header: GoDuration,
    /// How long a connection may stay with no request in flight, after its first, before it is closed.
    pub idle: GoDuration,
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        TimeoutsConfig {
            header: GoDuration::secs(30),
            idle: GoDuration::secs(120),
        }
    }
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
            trustedproxies: Vec::new(),
            timeouts: TimeoutsConfig::default(),
            maxconnections: 4096,
        }
    }
}

/// The CORS response headers, which Wharf answers as a CORS policy.
pub const CORS_HEADERS: [&str; 6] = [
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Allow-Credentials",
    "Access-Control-Expose-Headers",
    "Access-Control-Max-Age",
];

/// For an `Access-Control-*` header name (lowercase) that is not a CORS response header, the one
/// closest in spelling.
pub fn misspelt_cors_header(name: &str) -> Option<&'static str> {
    if !name.starts_with("access-control-")
        || CORS_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name))
    {
        return None;
    }
    CORS_HEADERS
        .iter()
        .copied()
        .min_by_key(|h| strsim::levenshtein(&h.to_ascii_lowercase(), name))
}

/// A lowercase header name as it is usually written (`access-control-origin` →
/// `Access-Control-Origin`).
pub fn display_header_name(name: &str) -> String {
    name.split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// A YAML list of strings, or one string of comma-separated entries.
fn list_or_commas<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Entries {
        Many(Vec<String>),
        One(String),
    }
    Ok(match Entries::deserialize(d)? {
        Entries::Many(list) => list,
        Entries::One(text) => text
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect(),
    })
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
    /// The socket address to listen on. `:5000` (an empty host) means every interface, IPv6 and IPv4,
    /// as in registry:2: the unspecified IPv6 address, which the server opens dual-stack.
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        let addr = &self.addr;
        let full = if addr.starts_with(':') {
            format!("[::]{addr}")
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

    /// The trusted proxies, parsed: an address is a range of one.
    pub fn trusted_proxies(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trustedproxies
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        format!(
                            "{entry:?} is not an IP address or CIDR range (e.g. 10.0.0.0/8, 172.17.0.1)"
                        )
                    })
            })
            .collect()
    }

    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        self.listen_addr().map_err(|m| ("http.addr", m))?;
        self.trusted_proxies()
            .map_err(|m| ("http.trustedproxies", m))?;
        if self.net != "tcp" {
            return Err((
                "http.net",
                format!("{:?} is not supported; use tcp", self.net),
            ));
        }
        if !(self.prefix.is_empty() || (self.prefix.starts_with('/') && self.prefix.ends_with('/')))
        {
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
        if self.timeouts.header.is_zero() {
            return Err((
                "http.timeouts.header",
                "must be more than 0, e.g. 30s".into(),
            ));
        }
        if self.timeouts.idle.is_zero() {
            return Err(("http.timeouts.idle", "must be more than 0, e.g. 2m".into()));
        }
        if self.maxconnections == 0 {
            return Err((
                "http.maxconnections",
                "must be at least 1, e.g. 4096".into(),
            ));
        }
        self.tls.validate()
    }
}

//! Absolute or relative URLs for `Location` and `Link` headers, built the way distribution builds them:
//! `http.host` if set; else the request's `Forwarded` (RFC 7239), else `X-Forwarded-Proto` and
//! `X-Forwarded-Host`, else `Host`; or relative paths when `http.relativeurls` is on.

use axum::http::HeaderMap;

/// How the public base URL is found.
#[derive(Debug, Clone, Default)]
pub struct UrlBuilder {
    /// `http.host`, without a trailing slash.
    pub host: Option<String>,
    /// `http.relativeurls`.
    pub relative: bool,
    /// `http.prefix` without its trailing slash, prepended to every API path.
    pub prefix: String,
    /// Whether the listener serves TLS, making `https` the scheme when no proxy header names one.
    pub tls: bool,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').next().unwrap_or("").trim())
        .filter(|v| !v.is_empty())
}

/// The `proto` and `host` parameters of the first element of a `Forwarded` header.
fn forwarded(headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let (mut proto, mut host) = (None, None);
    if let Some(first) = header(headers, "forwarded") {
        for pair in first.split(';') {
            if let Some((k, v)) = pair.split_once('=') {
                let v = v.trim().trim_matches('"').to_string();
                match k.trim().to_ascii_lowercase().as_str() {
                    "proto" => proto = Some(v),
                    "host" => host = Some(v),
                    _ => {}
                }
            }
        }
    }
    (proto, host)
}

impl UrlBuilder {
    /// The base (`scheme://host`, or empty for relative URLs) for a request with `headers`.
    pub fn base(&self, headers: &HeaderMap) -> String {
        if self.relative {
            return String::new();
        }
        if let Some(host) = &self.host {
            return host.trim_end_matches('/').to_string();
        }
        let (fwd_proto, fwd_host) = forwarded(headers);
        let proto = fwd_proto
            .or_else(|| header(headers, "x-forwarded-proto").map(str::to_string))
            .unwrap_or_else(|| if self.tls { "https" } else { "http" }.into());
        let host = fwd_host
            .or_else(|| header(headers, "x-forwarded-host").map(str::to_string))
            .or_else(|| header(headers, "host").map(str::to_string));
        match host {
            Some(h) => format!("{proto}://{h}"),
            None => String::new(),
        }
    }

    /// `path` made absolute (or kept relative) for a request with `headers`.
    pub fn url(&self, headers: &HeaderMap, path: &str) -> String {
        format!("{}{}{path}", self.base(headers), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    /// The base URL follows distribution's precedence: http.host, Forwarded, X-Forwarded-*, Host.
    #[test]
    fn base_url_table() {
        let plain = UrlBuilder::default();
        let cases = [
            (
                plain.clone(),
                headers(&[("host", "h:5000")]),
                "http://h:5000",
            ),
            (
                UrlBuilder {
                    tls: true,
                    ..Default::default()
                },
                headers(&[("host", "h:5000")]),
                "https://h:5000",
            ),
            (
                plain.clone(),
                headers(&[
                    ("host", "h"),
                    ("x-forwarded-proto", "https"),
                    ("x-forwarded-host", "r.example, other"),
                ]),
                "https://r.example",
            ),
            (
                plain.clone(),
                headers(&[
                    ("host", "h"),
                    ("forwarded", "for=1.2.3.4;proto=https;host=\"f.example\""),
                    ("x-forwarded-host", "x"),
                ]),
                "https://f.example",
            ),
            (
                UrlBuilder {
                    host: Some("https://cfg.example/".into()),
                    ..Default::default()
                },
                headers(&[("host", "h")]),
                "https://cfg.example",
            ),
            (
                UrlBuilder {
                    relative: true,
                    ..Default::default()
                },
                headers(&[("host", "h")]),
                "",
            ),
        ];
        for (builder, h, want) in cases {
            assert_eq!(builder.base(&h), want, "{h:?}");
        }
    }
}

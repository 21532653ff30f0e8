//! `http.tls:` and `http.http2:` settings.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `http.tls:` settings. TLS is on when `certificate` is set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    /// PEM file with the server certificate, followed by any intermediate certificates.
    pub certificate: Option<PathBuf>,
    /// PEM file with the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// PEM files of certificate authorities whose client certificates are accepted (mutual TLS).
    pub clientcas: Vec<PathBuf>,
    /// With `clientcas`: `require-and-verify-client-cert` (default) or `verify-client-cert-if-given`.
    pub clientauth: Option<String>,
    /// Lowest protocol version: `tls1.2` (default) or `tls1.3`. `tls1.0`/`tls1.1` are read as `tls1.2`,
    /// the lowest version Wharf speaks.
    pub minimumtls: Option<String>,
    /// Cipher suite names in Go's spelling; Wharf uses rustls's safe defaults instead (warns).
    pub ciphersuites: Vec<String>,
    /// Certificates from Let's Encrypt (or another ACME directory) instead of `certificate`/`key`.
    pub letsencrypt: Option<LetsEncryptConfig>,
}

impl TlsConfig {
    /// Checks the settings themselves, reading no file: the files are read by the start-up preflight
    /// (`crate::tls::preflight`).
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if let Some(min) = &self.minimumtls {
            if !matches!(
                min.to_ascii_lowercase().as_str(),
                "tls1.0" | "tls1.1" | "tls1.2" | "tls1.3"
            ) {
                return Err((
                    "http.tls.minimumtls",
                    format!("{min:?} is not tls1.2 or tls1.3"),
                ));
            }
        }
        let Some(le) = &self.letsencrypt else {
            if self.certificate.is_some() && self.key.is_none() {
                return Err((
                    "http.tls.key",
                    "is required with http.tls.certificate (REGISTRY_HTTP_TLS_KEY=/path/key.pem)"
                        .into(),
                ));
            }
            if self.key.is_some() && self.certificate.is_none() {
                return Err((
                    "http.tls.certificate",
                    "is required with http.tls.key (REGISTRY_HTTP_TLS_CERTIFICATE=/path/cert.pem)"
                        .into(),
                ));
            }
            return Ok(());
        };
        if self.certificate.is_some() {
            return Err((
                "http.tls.letsencrypt",
                "cannot be combined with http.tls.certificate; keep one".into(),
            ));
        }
        if !self.clientcas.is_empty() {
            return Err((
                "http.tls.clientcas",
                "is not supported with http.tls.letsencrypt".into(),
            ));
        }
        if le.hosts.is_empty() {
            return Err(("http.tls.letsencrypt.hosts", "needs at least one host name (REGISTRY_HTTP_TLS_LETSENCRYPT_HOSTS='[registry.example.com]')".into()));
        }
        if le.email.as_deref().is_none_or(|e| !e.contains('@')) {
            return Err((
                "http.tls.letsencrypt.email",
                "needs the e-mail address of the ACME account".into(),
            ));
        }
        if le.cachefile.is_none() {
            return Err(("http.tls.letsencrypt.cachefile", "needs a path where certificates are kept between restarts (e.g. /var/lib/registry/letsencrypt)".into()));
        }
        Ok(())
    }
}

/// `http.tls.letsencrypt:` settings (ACME with the TLS-ALPN-01 challenge on the TLS port, which must
/// be reachable from the internet on port 443).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LetsEncryptConfig {
    /// Where account keys and certificates are kept between restarts. registry:2 names a file; Wharf
    /// keeps a directory at this path.
    pub cachefile: Option<PathBuf>,
    /// Contact e-mail of the ACME account.
    pub email: Option<String>,
    /// Host names to get a certificate for.
    pub hosts: Vec<String>,
    /// ACME directory URL (default: Let's Encrypt production).
    pub directoryurl: Option<String>,
}

impl TlsConfig {
    /// Whether TLS is configured (with files or with ACME).
    pub fn enabled(&self) -> bool {
        self.certificate.is_some() || self.letsencrypt.is_some()
    }
}

/// `http.http2:` settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Http2Config {
    /// Serve only HTTP/1.1 over TLS (HTTP/2 is offered by ALPN otherwise).
    pub disabled: bool,
}

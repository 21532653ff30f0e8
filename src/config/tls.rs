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

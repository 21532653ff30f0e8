//! How the UI's HTTP clients trust the upstream registry's certificate, and what they say when they
//! cannot reach it.
//!
//! Trusted: the bundled Mozilla roots, the system's (`SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured),
//! and the PEM bundle of `--upstream-ca` (`WHARF_UI_UPSTREAM_CA`), for a registry whose certificate
//! comes from a private CA. `--upstream-insecure` (`WHARF_UI_UPSTREAM_INSECURE`) skips verification
//! altogether, an explicit opt-in warned about at start.
//!
//! A failed request is described by its real cause (an unknown issuer, a name the certificate does
//! not hold, an expired certificate, a refused connection, a name that does not resolve) with the
//! setting that fixes it.

use std::error::Error as _;
use std::path::PathBuf;

use rustls::CertificateError;

use super::error::UiError;

/// How the upstream's certificate is checked.
#[derive(Debug, Clone, Default)]
pub struct UpstreamTls {
    /// A PEM file of CA certificates to trust besides the bundled and system roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (no verification at all).
    pub insecure: bool,
}

impl UpstreamTls {
    /// `builder`, trusting what these settings say.
    pub fn apply(
        &self,
        builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, UiError> {
        let mut builder = builder.danger_accept_invalid_certs(self.insecure);
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                UiError::Config(format!(
                    "cannot read the CA bundle {} (--upstream-ca / WHARF_UI_UPSTREAM_CA): {e}",
                    path.display()
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    UiError::Config(format!(
                        "{} (--upstream-ca / WHARF_UI_UPSTREAM_CA) holds no PEM certificate",
                        path.display()
                    ))
                })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(builder)
    }
}

/// The error below `e`: for an I/O error, the error it wraps (its `source` skips that one).
fn below<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        return Some(inner);
    }
    e.source()
}

/// What went wrong reaching `upstream`, with the fix when one setting is it.
pub fn describe(error: &reqwest::Error, upstream: &str) -> String {
    let causes = || std::iter::successors(error.source(), |e| below(*e));
    for e in causes() {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return describe_tls(tls, upstream);
        }
        let io = e.downcast_ref::<std::io::Error>();
        if io.is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused) {
            return format!(
                "cannot reach the registry: {upstream} refused the connection; check that it runs \
                 and that --upstream (WHARF_UI_UPSTREAM) names its address and port"
            );
        }
    }
    if error.is_timeout() {
        return format!(
            "cannot reach the registry: {upstream} did not answer in time; check --upstream \
             (WHARF_UI_UPSTREAM) and the network between the UI and the registry"
        );
    }
    let chain = causes()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ");
    if chain.contains("dns error") {
        return format!(
            "cannot reach the registry: the host of {upstream} does not resolve ({chain}); check \
             --upstream (WHARF_UI_UPSTREAM)"
        );
    }
    format!("cannot reach the registry at {upstream}: {error}: {chain}")
}

fn describe_tls(error: &rustls::Error, upstream: &str) -> String {
    let fix_ca = "pass the CA that signed it with --upstream-ca FILE (WHARF_UI_UPSTREAM_CA) or \
                  SSL_CERT_FILE, or, only on a network you trust, --upstream-insecure \
                  (WHARF_UI_UPSTREAM_INSECURE=true)";
    match error {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "the certificate of {upstream} is signed by a CA the UI does not trust (unknown issuer): \
             {fix_ca}"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "the certificate of {upstream} is not valid for that host name (name mismatch): use a \
             name the certificate holds in --upstream (WHARF_UI_UPSTREAM), or reissue the \
             certificate for this name"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => format!("the certificate of {upstream} has expired: renew it on the registry"),
        other => format!("TLS with {upstream} failed: {other}; {fix_ca}"),
    }
}

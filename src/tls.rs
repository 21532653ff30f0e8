//! TLS for the registry listener: a rustls server configuration built from `http.tls`, and a watcher
//! that reloads it when the certificate, key or client-CA files change (Let's Encrypt renewals need no
//! restart). A reload that fails keeps the previous configuration and logs why.
//!
//! With `http.tls.letsencrypt`, certificates come from an ACME directory instead (rustls-acme, the
//! TLS-ALPN-01 challenge answered on the TLS port itself), cached between restarts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::config::tls::{LetsEncryptConfig, TlsConfig};

/// How often the certificate files are checked for changes.
const RELOAD_CHECK: Duration = Duration::from_secs(2);

/// A TLS setting that cannot be used: the setting's key and what to do.
pub type TlsError = (&'static str, String);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.3 and 1.2, the default.
static TLS12_AND_UP: [&rustls::SupportedProtocolVersion; 2] =
    [&rustls::version::TLS13, &rustls::version::TLS12];
/// TLS 1.3 only.
static TLS13_ONLY: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];

fn protocol_versions(
    tls: &TlsConfig,
) -> Result<&'static [&'static rustls::SupportedProtocolVersion], TlsError> {
    match tls
        .minimumtls
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("tls1.0" | "tls1.1" | "tls1.2") => Ok(&TLS12_AND_UP),
        Some("tls1.3") => Ok(&TLS13_ONLY),
        Some(other) => Err((
            "http.tls.minimumtls",
            format!("{other:?} is not tls1.2 or tls1.3"),
        )),
    }
}

fn alpn(http2: bool) -> Vec<Vec<u8>> {
    if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    }
}

/// The ACME state for `http.tls.letsencrypt`: a stream that must be polled to obtain and renew
/// certificates, and the resolver serving them.
pub fn acme_state(
    le: &LetsEncryptConfig,
) -> rustls_acme::AcmeState<std::io::Error, std::io::Error> {
    let mut config = rustls_acme::AcmeConfig::new(le.hosts.iter())
        .contact(le.email.iter().map(|e| format!("mailto:{e}")));
    config = match &le.directoryurl {
        Some(url) => config.directory(url),
        None => config.directory_lets_encrypt(true),
    };
    let cache = le
        .cachefile
        .clone()
        .unwrap_or_else(|| PathBuf::from("letsencrypt"));
    config
        .cache(rustls_acme::caches::DirCache::new(cache))
        .state()
}

/// The server configuration for certificates resolved by ACME.
pub fn acme_server_config(
    tls: &TlsConfig,
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
    http2: bool,
) -> Result<ServerConfig, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(protocol_versions(tls)?)
        .map_err(|e| ("http.tls.minimumtls", e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = alpn(http2);
    Ok(config)
}

/// Reads the certificate and key files before serving (the configuration's own checks read no file),
/// so that a missing or mismatched file stops start-up, and `wharf config --check`, naming the
/// setting. Nothing to read with Let's Encrypt or without TLS.
pub fn preflight(tls: &TlsConfig, http2: bool) -> Result<(), TlsError> {
    if tls.letsencrypt.is_some() || !tls.enabled() {
        return Ok(());
    }
    server_config(tls, http2).map(drop)
}

/// Builds the rustls configuration, reading every file it names.
pub fn server_config(tls: &TlsConfig, http2: bool) -> Result<ServerConfig, TlsError> {
    let cert_path = tls
        .certificate
        .as_deref()
        .ok_or(("http.tls.certificate", "is required for TLS".to_string()))?;
    let key_path = tls.key.as_deref().ok_or((
        "http.tls.key",
        "is required with http.tls.certificate (REGISTRY_HTTP_TLS_KEY=/path/key.pem)".to_string(),
    ))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| {
            (
                "http.tls.certificate",
                format!(
                    "cannot read PEM certificates from {}: {e}",
                    cert_path.display()
                ),
            )
        })?;
    if chain.is_empty() {
        return Err((
            "http.tls.certificate",
            format!("{} holds no PEM certificate", cert_path.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
        (
            "http.tls.key",
            format!(
                "cannot read a PEM private key from {}: {e}",
                key_path.display()
            ),
        )
    })?;
    let versions: &[&rustls::SupportedProtocolVersion] = match tls
        .minimumtls
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("tls1.0" | "tls1.1" | "tls1.2") => {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        }
        Some("tls1.3") => &[&rustls::version::TLS13],
        Some(other) => {
            return Err((
                "http.tls.minimumtls",
                format!("{other:?} is not tls1.2 or tls1.3"),
            ))
        }
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| ("http.tls.minimumtls", e.to_string()))?;
    let builder = if tls.clientcas.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        for path in &tls.clientcas {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    (
                        "http.tls.clientcas",
                        format!("cannot read PEM certificates from {}: {e}", path.display()),
                    )
                })?;
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    (
                        "http.tls.clientcas",
                        format!("{} holds an unusable CA certificate: {e}", path.display()),
                    )
                })?;
            }
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
        let verifier = match tls.clientauth.as_deref() {
            None | Some("require-and-verify-client-cert") => verifier,
            Some("verify-client-cert-if-given") => verifier.allow_unauthenticated(),
            Some(other) => {
                return Err((
                    "http.tls.clientauth",
                    format!("{other:?} is not supported; use require-and-verify-client-cert or verify-client-cert-if-given"),
                ))
            }
        };
        builder.with_client_cert_verifier(
            verifier
                .build()
                .map_err(|e| ("http.tls.clientcas", e.to_string()))?,
        )
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        (
            "http.tls.key",
            format!("does not match the certificate or is unusable: {e}"),
        )
    })?;
    config.alpn_protocols = alpn(http2);
    Ok(config)
}

fn files(tls: &TlsConfig) -> Vec<PathBuf> {
    tls.certificate
        .iter()
        .chain(tls.key.iter())
        .chain(tls.clientcas.iter())
        .cloned()
        .collect()
}

fn stamps(paths: &[PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    paths
        .iter()
        .map(|p: &PathBuf| {
            std::fs::metadata(Path::new(p))
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}

/// Reloads `live` whenever a file of `tls` changes, until the task is dropped.
pub async fn watch(live: RustlsConfig, tls: TlsConfig, http2: bool) {
    let paths = files(&tls);
    let mut seen = stamps(&paths);
    loop {
        tokio::time::sleep(RELOAD_CHECK).await;
        let now = stamps(&paths);
        if now == seen {
            continue;
        }
        seen = now;
        match server_config(&tls, http2) {
            Ok(config) => {
                live.reload_from_config(Arc::new(config));
                tracing::info!("TLS certificate reloaded");
            }
            Err((key, message)) => tracing::warn!("TLS files changed but cannot be used ({key}: {message}); keeping the previous certificate"),
        }
    }
}

//! Token signers for token-auth tests: self-signed certificates and keys made with openssl.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// openssl arguments for an EC P-256 key.
pub const EC_P256: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

/// Makes a self-signed certificate and its private key with openssl; returns (cert PEM, key PEM).
pub fn keypair(dir: &Path, name: &str, kind: &[&str]) -> (String, Vec<u8>) {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=token-signer",
        ])
        .args(kind)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (./scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        std::fs::read_to_string(cert).unwrap(),
        std::fs::read(key).unwrap(),
    )
}

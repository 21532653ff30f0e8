//! Bearer tokens as in the Docker token authentication specification, which registry:2's
//! `auth.token` implements: a JWT signed by the token server, whose `iss` must be the configured
//! issuer, whose `aud` must name this registry's service, valid now (`exp`, `nbf`, with a minute of
//! leeway), and whose `access` claim lists what it grants.
//!
//! Signatures are verified with `jsonwebtoken` against the public keys of the certificates in
//! `rootcertbundle` (RS256/384/512, PS256/384/512, ES256/384). A token is accepted when one of those
//! keys verifies it; `x5c` chains ending at a CA of the bundle are not followed.

use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::{AuthError, Grant, Principal};
use crate::config::TokenConfig;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_SECONDS: u64 = 60;

/// A trusted signing key.
struct Key {
    decoding: DecodingKey,
    rsa: bool,
}

/// Verifies bearer tokens for one registry service.
pub struct TokenAuth {
    realm: String,
    service: String,
    issuer: String,
    autoredirect: bool,
    keys: Vec<Key>,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: String,
    #[serde(default)]
    access: Vec<AccessClaim>,
}

#[derive(Deserialize)]
struct AccessClaim {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    #[serde(default)]
    actions: Vec<String>,
}

impl TokenAuth {
    /// Reads the signing certificates of `config.rootcertbundle`.
    pub fn open(config: &TokenConfig) -> Result<TokenAuth, AuthError> {
        let path = config.rootcertbundle.clone().unwrap_or_default();
        let keys = read_keys(&path)?;
        Ok(TokenAuth {
            realm: config.realm.clone(),
            service: config.service.clone(),
            issuer: config.issuer.clone(),
            autoredirect: config.autoredirect,
            keys,
        })
    }

    /// The principal a valid `token` stands for, or `None`.
    pub fn verify(&self, token: &str) -> Option<Principal> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let rsa = match header.alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => true,
            Algorithm::ES256 | Algorithm::ES384 => false,
            _ => return None,
        };
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[&self.service]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        let claims = self
            .keys
            .iter()
            .filter(|k| k.rsa == rsa)
            .find_map(|k| jsonwebtoken::decode::<Claims>(token, &k.decoding, &validation).ok())?
            .claims;
        Some(Principal::Token {
            subject: claims.sub,
            grants: claims
                .access
                .into_iter()
                .map(|a| Grant {
                    kind: a.kind,
                    name: a.name,
                    actions: a.actions,
                })
                .collect(),
        })
    }

    /// The `Bearer` challenge for `scope`; `base` is `<scheme>://<host>` of the request, used for
    /// the realm with `autoredirect`.
    pub fn challenge(&self, scope: Option<&str>, insufficient: bool, base: &str) -> String {
        let realm = if self.autoredirect {
            format!("{base}/auth/token/")
        } else {
            self.realm.clone()
        };
        let mut value = format!("Bearer realm=\"{realm}\",service=\"{}\"", self.service);
        if let Some(scope) = scope {
            value.push_str(&format!(",scope=\"{scope}\""));
        }
        if insufficient {
            value.push_str(",error=\"insufficient_scope\"");
        }
        value
    }
}

/// The public keys of every certificate in a PEM bundle.
fn read_keys(path: &Path) -> Result<Vec<Key>, AuthError> {
    let bad = |message: String| AuthError::TokenKeys(path.to_path_buf(), message);
    let bundle = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let blocks = pem::parse_many(&bundle).map_err(|e| bad(e.to_string()))?;
    let mut keys = Vec::new();
    for block in blocks.iter().filter(|b| b.tag() == "CERTIFICATE") {
        let single = pem::encode(block);
        if let Ok(decoding) = DecodingKey::from_rsa_pem(single.as_bytes()) {
            keys.push(Key {
                decoding,
                rsa: true,
            });
        } else if let Ok(decoding) = DecodingKey::from_ec_pem(single.as_bytes()) {
            keys.push(Key {
                decoding,
                rsa: false,
            });
        }
    }
    if keys.is_empty() {
        return Err(bad(
            "holds no certificate with an RSA or EC public key".into()
        ));
    }
    Ok(keys)
}

//! `storage.s3:` settings, with distribution's key names and defaults, so a registry:2 S3 configuration
//! (file or `REGISTRY_STORAGE=s3` + `REGISTRY_STORAGE_S3_*`) works unchanged. Keys left unset fall back
//! to the standard AWS sources (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION`, web identity, ECS and instance metadata credentials).

use serde::{Deserialize, Deserializer, Serialize};

/// Smallest part S3 accepts in a multipart upload (all parts but the last).
pub const MIN_CHUNK_SIZE: u64 = 5 * 1024 * 1024;
/// distribution's default `chunksize`.
pub const DEFAULT_CHUNK_SIZE: u64 = 10 * 1024 * 1024;

/// `storage.s3:` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct S3Config {
    /// Access key id. Unset: the AWS credential chain.
    pub accesskey: Option<String>,
    /// Secret access key. Unset: the AWS credential chain.
    pub secretkey: Option<String>,
    /// Session token for temporary credentials given in `accesskey`/`secretkey`.
    pub sessiontoken: Option<String>,
    /// Region (`us-east-1` when neither this nor `AWS_REGION` is set; S3-compatible engines mostly
    /// accept any).
    pub region: Option<String>,
    /// Endpoint of an S3-compatible engine (`http://minio:9000`, `https://<account>.r2.cloudflarestorage.com`).
    /// Unset: AWS.
    pub regionendpoint: Option<String>,
    /// The bucket; it must exist.
    pub bucket: Option<String>,
    /// Key prefix inside the bucket under which `docker/registry/v2` lives (`/` or unset: the bucket root).
    pub rootdirectory: Option<String>,
    /// Use HTTPS for an endpoint given without a scheme.
    pub secure: bool,
    /// Accept any TLS certificate from the endpoint.
    pub skipverify: bool,
    /// Sign requests with AWS Signature Version 4, the only signing Wharf supports.
    pub v4auth: bool,
    /// Multipart part size in bytes for uploads (at least 5 MiB).
    #[serde(deserialize_with = "size")]
    pub chunksize: u64,
    /// Address the bucket in the path (`endpoint/bucket/key`) instead of the host name. Unset: path
    /// style when `regionendpoint` is set, virtual-hosted style on AWS.
    pub forcepathstyle: Option<bool>,
    /// Storage class of written objects; `NONE` sends none (for engines that reject the header).
    pub storageclass: String,
    /// Server-side encryption: SSE-KMS with `keyid` when set, else SSE-S3 (AES256).
    pub encrypt: bool,
    /// KMS key id for `encrypt`.
    pub keyid: Option<String>,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            accesskey: None,
            secretkey: None,
            sessiontoken: None,
            region: None,
            regionendpoint: None,
            bucket: None,
            rootdirectory: None,
            secure: true,
            skipverify: false,
            v4auth: true,
            chunksize: DEFAULT_CHUNK_SIZE,
            forcepathstyle: None,
            storageclass: "STANDARD".into(),
            encrypt: false,
            keyid: None,
        }
    }
}

impl S3Config {
    /// Checks what can be checked without contacting the endpoint.
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.bucket.as_deref().is_none_or(str::is_empty) {
            return Err((
                "storage.s3.bucket",
                "is required with the s3 driver (REGISTRY_STORAGE_S3_BUCKET)".into(),
            ));
        }
        if !self.v4auth {
            return Err((
                "storage.s3.v4auth",
                "must be true: Wharf signs requests with AWS Signature Version 4 only (every current S3 engine accepts it)".into(),
            ));
        }
        if self.chunksize < MIN_CHUNK_SIZE {
            return Err((
                "storage.s3.chunksize",
                format!("must be at least {MIN_CHUNK_SIZE} (5 MiB, S3's smallest multipart part), found {}", self.chunksize),
            ));
        }
        if self.accesskey.is_some() != self.secretkey.is_some() {
            return Err((
                "storage.s3.accesskey",
                "accesskey and secretkey go together: set both, or neither to use the AWS credential chain".into(),
            ));
        }
        Ok(())
    }

    /// The key prefix under which the layout lives, without leading or trailing `/` (empty: the root).
    pub fn root_prefix(&self) -> String {
        self.rootdirectory
            .as_deref()
            .unwrap_or_default()
            .trim_matches('/')
            .to_string()
    }

    /// The endpoint URL, with a scheme chosen by `secure` when it has none.
    pub fn endpoint_url(&self) -> Option<String> {
        let endpoint = self.regionendpoint.as_deref().filter(|e| !e.is_empty())?;
        if endpoint.contains("://") {
            return Some(endpoint.trim_end_matches('/').to_string());
        }
        let scheme = if self.secure { "https" } else { "http" };
        Some(format!("{scheme}://{}", endpoint.trim_end_matches('/')))
    }

    /// Whether the bucket is addressed in the path rather than the host name.
    pub fn path_style(&self) -> bool {
        self.forcepathstyle
            .unwrap_or_else(|| self.endpoint_url().is_some())
    }

    /// The storage class to send, if any.
    pub fn storage_class(&self) -> Option<&str> {
        let class = self.storageclass.trim();
        (!class.is_empty() && !class.eq_ignore_ascii_case("none")).then_some(class)
    }
}

/// A byte count given as a number or as its text (environment variables arrive as YAML scalars).
fn size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::N(n) => Ok(n),
        Raw::S(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a byte count"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Endpoint schemes follow `secure`; path style defaults on with an endpoint; NONE sends no class.
    #[test]
    fn derived_settings() {
        let mut c = S3Config {
            regionendpoint: Some("127.0.0.1:9000".into()),
            secure: false,
            bucket: Some("b".into()),
            rootdirectory: Some("/reg/".into()),
            ..S3Config::default()
        };
        assert_eq!(c.endpoint_url().as_deref(), Some("http://127.0.0.1:9000"));
        assert!(c.path_style());
        assert_eq!(c.root_prefix(), "reg");
        assert_eq!(c.storage_class(), Some("STANDARD"));
        c.storageclass = "NONE".into();
        assert_eq!(c.storage_class(), None);
        c.regionendpoint = Some("https://s3.example/".into());
        assert_eq!(c.endpoint_url().as_deref(), Some("https://s3.example"));
        c.regionendpoint = None;
        assert!(!c.path_style());
        assert!(c.validate().is_ok());
        c.chunksize = 1024;
        assert_eq!(c.validate().unwrap_err().0, "storage.s3.chunksize");
    }
}

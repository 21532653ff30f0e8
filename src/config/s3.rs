//! `storage.s3:` settings, with distribution's key names and defaults, so a registry:2 S3 configuration
//! (file or `REGISTRY_STORAGE=s3` + `REGISTRY_STORAGE_S3_*`) works unchanged. Keys left unset fall back
//! to the standard AWS sources (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION`, web identity, ECS and instance metadata credentials).
//!
//! Only the settings and checks of each value live here. Where requests go (endpoint, region,
//! addressing) and which endpoint combinations AWS refuses is the S3 backend's business
//! (`storage/s3/endpoint.rs`), checked when its client is built and by `wharf config --check`.

use http::HeaderValue;
use serde::{Deserialize, Deserializer, Serialize};

/// Smallest part S3 accepts in a multipart upload (all parts but the last).
pub const MIN_CHUNK_SIZE: u64 = 5 * 1024 * 1024;
/// distribution's default `chunksize`.
pub const DEFAULT_CHUNK_SIZE: u64 = 10 * 1024 * 1024;
/// S3's canned ACLs, the values distribution accepts for `objectacl`.
const CANNED_ACLS: [&str; 7] = [
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
];

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
    /// Address the bucket in the path (`endpoint/bucket/key`) instead of the host name
    /// (`bucket.endpoint/key`). Unset: path style when `regionendpoint` is set, virtual-hosted style on
    /// AWS. A bucket name with dots or an endpoint given by IP address is always addressed in the path.
    pub forcepathstyle: Option<bool>,
    /// Storage class of written objects; `NONE` sends none (for engines that reject the header).
    pub storageclass: String,
    /// Server-side encryption: SSE-KMS with `keyid` when set, else SSE-S3 (AES256).
    pub encrypt: bool,
    /// KMS key id for `encrypt`.
    pub keyid: Option<String>,
    /// Use S3 Transfer Acceleration (`<bucket>.s3-accelerate.amazonaws.com`): AWS only, with
    /// virtual-hosted addressing, a bucket name without dots, and not with `usefipsendpoint`.
    pub accelerate: bool,
    /// Use AWS's dual-stack (IPv4 and IPv6) endpoints (`<bucket>.s3.dualstack.<region>.amazonaws.com`).
    pub usedualstack: bool,
    /// Use AWS's FIPS 140 endpoints (`<bucket>.s3-fips.<region>.amazonaws.com`).
    pub usefipsendpoint: bool,
    /// `User-Agent` of every S3 request. Unset: object_store's.
    pub useragent: Option<String>,
    /// Canned ACL of written objects. Only `private`, S3's own default, which needs no header: Wharf's
    /// S3 client cannot send `x-amz-acl` on object writes alone, so any other ACL is refused.
    pub objectacl: String,
    /// Public endpoint for the presigned URLs of blob redirects (`https://s3-public.example.com`): they
    /// are signed for its host, while Wharf's own requests still go to `regionendpoint` (or AWS).
    pub redirectendpoint: Option<String>,
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
            accelerate: false,
            usedualstack: false,
            usefipsendpoint: false,
            useragent: None,
            objectacl: "private".into(),
            redirectendpoint: None,
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
        self.user_agent()?;
        self.check_objectacl()?;
        Ok(())
    }

    /// Refuses a canned ACL other than `private`: objects would silently stay private.
    fn check_objectacl(&self) -> Result<(), (&'static str, String)> {
        let acl = self.objectacl.as_str();
        if acl == "private" {
            return Ok(());
        }
        let message = if CANNED_ACLS.contains(&acl) {
            let ownership = if acl == "bucket-owner-full-control" {
                " (for a bucket of another account, set its Object Ownership to \"bucket owner enforced\")"
            } else {
                ""
            };
            format!("{acl:?} cannot be applied: Wharf's S3 client cannot send an ACL with object writes only, so objects would keep the bucket's default, private; remove objectacl and grant access with a bucket policy{ownership}")
        } else {
            format!("{acl:?} is not a canned ACL; Wharf applies only private, the default")
        };
        Err(("storage.s3.objectacl", message))
    }

    /// The `User-Agent` to send, if one is set.
    pub fn user_agent(&self) -> Result<Option<HeaderValue>, (&'static str, String)> {
        let Some(agent) = self.useragent.as_deref().filter(|a| !a.is_empty()) else {
            return Ok(None);
        };
        HeaderValue::from_str(agent).map(Some).map_err(|_| {
            (
                "storage.s3.useragent",
                format!("{agent:?} is not a valid header value (printable ASCII only)"),
            )
        })
    }

    /// The key prefix under which the layout lives, without leading or trailing `/` (empty: the root).
    pub fn root_prefix(&self) -> String {
        self.rootdirectory
            .as_deref()
            .unwrap_or_default()
            .trim_matches('/')
            .to_string()
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

/// Configurations for the tests of S3 settings, here and in the storage driver.
#[cfg(test)]
pub(crate) mod cases {
    use super::S3Config;

    /// A change to the configuration of a case.
    pub type Edit = fn(&mut S3Config);

    /// A configuration for bucket `reg` in `eu-west-1`, changed by `edit`.
    pub fn with(edit: Edit) -> S3Config {
        let mut c = S3Config {
            bucket: Some("reg".into()),
            region: Some("eu-west-1".into()),
            ..S3Config::default()
        };
        edit(&mut c);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::cases::{with, Edit};
    use super::*;

    /// The root prefix loses its slashes; NONE sends no storage class.
    #[test]
    fn derived_settings() {
        let mut c = S3Config {
            bucket: Some("b".into()),
            rootdirectory: Some("/reg/".into()),
            ..S3Config::default()
        };
        assert_eq!(c.root_prefix(), "reg");
        assert_eq!(c.storage_class(), Some("STANDARD"));
        c.storageclass = "NONE".into();
        assert_eq!(c.storage_class(), None);
        assert!(c.validate().is_ok());
        c.chunksize = 1024;
        assert_eq!(c.validate().unwrap_err().0, "storage.s3.chunksize");
    }

    /// ACLs Wharf cannot apply and malformed values stop start-up, naming the setting to change.
    #[test]
    fn refusals() {
        let cases: [(Edit, &str, &str); 4] = [
            (
                |c| c.objectacl = "public-read".into(),
                "storage.s3.objectacl",
                "bucket policy",
            ),
            (
                |c| c.objectacl = "bucket-owner-full-control".into(),
                "storage.s3.objectacl",
                "Object Ownership",
            ),
            (
                |c| c.objectacl = "Private".into(),
                "storage.s3.objectacl",
                "not a canned ACL",
            ),
            (
                |c| c.useragent = Some("wharf\n1.0".into()),
                "storage.s3.useragent",
                "header value",
            ),
        ];
        for (i, (edit, setting, words)) in cases.into_iter().enumerate() {
            let (key, message) = with(edit).validate().expect_err("refused");
            assert_eq!(key, setting, "case {i}: {message}");
            assert!(
                message.contains(words),
                "case {i}: {message:?} lacks {words:?}"
            );
        }
        let fine = with(|c| c.useragent = Some("wharf/1.0 (ops@example.com)".into()));
        assert_eq!(fine.validate(), Ok(()));
    }
}

//! `storage.s3:` settings, with distribution's key names and defaults, so a registry:2 S3 configuration
//! (file or `REGISTRY_STORAGE=s3` + `REGISTRY_STORAGE_S3_*`) works unchanged. Keys left unset fall back
//! to the standard AWS sources (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION`, web identity, ECS and instance metadata credentials).
//!
//! Where requests go: `regionendpoint` when set (an S3-compatible engine), else AWS: its regional
//! endpoint, or the one `accelerate`, `usedualstack` and `usefipsendpoint` select, named as the AWS
//! SDKs name them ([`S3Config::bucket_url`]). Combinations AWS does not offer stop start-up.

use std::net::IpAddr;

use http::HeaderValue;
use reqwest::Url;
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
        self.check_endpoints()?;
        self.redirect_bucket_url()?;
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

    /// Refuses endpoint settings that cannot be combined, as the AWS SDKs do.
    fn check_endpoints(&self) -> Result<(), (&'static str, String)> {
        if let Some(endpoint) = self.endpoint_url() {
            if Url::parse(&endpoint).map_or(true, |u| u.host().is_none()) {
                return Err((
                    "storage.s3.regionendpoint",
                    format!("{endpoint:?} is not a URL such as https://minio.internal:9000"),
                ));
            }
            if let Some(flag) = self.aws_endpoint_flag() {
                return Err((flag, "selects an AWS endpoint and cannot be combined with regionendpoint, which replaces AWS's endpoints; remove one of them".into()));
            }
        }
        let region = self.aws_region();
        let china = region.starts_with("cn-");
        if self.usefipsendpoint && china {
            return Err((
                "storage.s3.usefipsendpoint",
                format!("AWS has no FIPS endpoints in {region}; remove usefipsendpoint"),
            ));
        }
        if !self.accelerate {
            return Ok(());
        }
        let bucket = self.bucket.as_deref().unwrap_or_default();
        let refusal = if self.usefipsendpoint {
            "AWS has no FIPS endpoint for Transfer Acceleration; remove accelerate or usefipsendpoint".to_string()
        } else if self.forcepathstyle == Some(true) {
            "Transfer Acceleration addresses the bucket in the host name; remove accelerate or forcepathstyle: true".to_string()
        } else if !virtual_hostable(bucket) {
            format!("Transfer Acceleration needs a bucket name without dots (a DNS label), not {bucket:?}; use such a bucket or remove accelerate")
        } else if china {
            format!("AWS has no Transfer Acceleration in {region}; remove accelerate")
        } else {
            return Ok(());
        };
        Err(("storage.s3.accelerate", refusal))
    }

    /// The first of `accelerate`, `usefipsendpoint` and `usedualstack` that is on.
    pub fn aws_endpoint_flag(&self) -> Option<&'static str> {
        [
            ("storage.s3.accelerate", self.accelerate),
            ("storage.s3.usefipsendpoint", self.usefipsendpoint),
            ("storage.s3.usedualstack", self.usedualstack),
        ]
        .into_iter()
        .find_map(|(flag, on)| on.then_some(flag))
    }

    /// The region requests are signed for: `region`, else `AWS_REGION`, else `AWS_DEFAULT_REGION`, else
    /// `us-east-1`.
    pub fn aws_region(&self) -> String {
        let env = |name| std::env::var(name).ok();
        [
            self.region.clone(),
            env("AWS_REGION"),
            env("AWS_DEFAULT_REGION"),
        ]
        .into_iter()
        .flatten()
        .find(|r| !r.is_empty())
        .unwrap_or_else(|| "us-east-1".into())
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
        self.path_style_at(self.endpoint_url().as_deref())
    }

    /// Whether the bucket is addressed in the path at `endpoint` (`None`: AWS): as `forcepathstyle`
    /// says, by default when `regionendpoint` is set; and, as the AWS SDKs do, whenever the bucket name
    /// cannot be a host name label (dots break TLS host names) or the endpoint is an IP address.
    fn path_style_at(&self, endpoint: Option<&str>) -> bool {
        let by_ip = endpoint
            .and_then(|e| Url::parse(e).ok())
            .and_then(|u| {
                u.host_str()
                    .map(|h| h.trim_matches(['[', ']']).parse::<IpAddr>())
            })
            .is_some_and(|ip| ip.is_ok());
        self.forcepathstyle
            .unwrap_or_else(|| self.endpoint_url().is_some())
            || !virtual_hostable(self.bucket.as_deref().unwrap_or_default())
            || by_ip
    }

    /// The URL of the bucket (in the host name or the path) when Wharf picks the endpoint: from
    /// `regionendpoint`, or the AWS endpoint `accelerate`, `usedualstack` and `usefipsendpoint` select
    /// in `region`. `None`: object_store's regional AWS endpoint, addressed as [`S3Config::path_style`]
    /// says.
    pub fn bucket_url(&self, region: &str) -> Option<String> {
        let bucket = self.bucket.as_deref().unwrap_or_default();
        if let Some(endpoint) = self.endpoint_url() {
            return Some(with_bucket(&endpoint, bucket, self.path_style()));
        }
        self.aws_endpoint_flag()?;
        let dualstack = if self.usedualstack { ".dualstack" } else { "" };
        let host = if self.accelerate {
            format!("s3-accelerate{dualstack}.amazonaws.com")
        } else {
            let fips = if self.usefipsendpoint { "-fips" } else { "" };
            let suffix = if region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            format!("s3{fips}{dualstack}.{region}.{suffix}")
        };
        Some(with_bucket(
            &format!("https://{host}"),
            bucket,
            self.path_style(),
        ))
    }

    /// The bucket's URL on `redirectendpoint`, for presigned redirects: its scheme and host, the path of
    /// `regionendpoint` if any, and the bucket added as for requests. `None` when unset.
    pub fn redirect_bucket_url(&self) -> Result<Option<String>, (&'static str, String)> {
        let Some(raw) = self.redirectendpoint.as_deref().filter(|e| !e.is_empty()) else {
            return Ok(None);
        };
        let refuse = |why: &str| {
            Err((
                "storage.s3.redirectendpoint",
                format!("{raw:?} {why}; give a URL such as https://s3-public.example.com"),
            ))
        };
        let Ok(url) = Url::parse(raw) else {
            return refuse("is not a URL");
        };
        let Some(host) = url
            .host_str()
            .filter(|_| matches!(url.scheme(), "http" | "https"))
        else {
            return refuse("is not an http or https URL with a host");
        };
        if url.path() != "/" {
            return refuse("has a path (the path of regionendpoint, if any, is kept)");
        }
        if url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return refuse("has a query, fragment or user name");
        }
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let base_path = self
            .endpoint_url()
            .and_then(|e| Url::parse(&e).ok())
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default();
        let base = format!("{}://{host}{port}{base_path}", url.scheme());
        let bucket = self.bucket.as_deref().unwrap_or_default();
        Ok(Some(with_bucket(
            &base,
            bucket,
            self.path_style_at(Some(&base)),
        )))
    }

    /// Where requests go, for messages: `regionendpoint`, the AWS endpoint the settings select, or
    /// `AWS S3` (the regional endpoint).
    pub fn endpoint_name(&self) -> String {
        self.endpoint_url()
            .or_else(|| self.bucket_url(&self.aws_region()))
            .unwrap_or_else(|| "AWS S3".into())
    }

    /// The storage class to send, if any.
    pub fn storage_class(&self) -> Option<&str> {
        let class = self.storageclass.trim();
        (!class.is_empty() && !class.eq_ignore_ascii_case("none")).then_some(class)
    }
}

/// Whether `bucket` can be the first label of a host name, AWS's condition for virtual-hosted
/// addressing over HTTPS: lower-case letters, digits and inner hyphens, no dots.
fn virtual_hostable(bucket: &str) -> bool {
    (1..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !bucket.starts_with('-')
        && !bucket.ends_with('-')
}

/// `endpoint` (a URL without trailing `/`) with `bucket` added: in the path, or in front of the host.
fn with_bucket(endpoint: &str, bucket: &str, path_style: bool) -> String {
    match endpoint.split_once("://") {
        Some((scheme, rest)) if !path_style => format!("{scheme}://{bucket}.{rest}"),
        _ => format!("{endpoint}/{bucket}"),
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

    /// A change to the configuration of a case.
    type Edit = fn(&mut S3Config);

    /// A configuration for bucket `reg` in `eu-west-1`, changed by `edit`.
    fn with(edit: Edit) -> S3Config {
        let mut c = S3Config {
            bucket: Some("reg".into()),
            region: Some("eu-west-1".into()),
            ..S3Config::default()
        };
        edit(&mut c);
        c
    }

    /// Requests go where the AWS SDKs send them: the endpoints `accelerate`, `usedualstack` and
    /// `usefipsendpoint` select, in the path when asked or when the bucket or host requires it, and
    /// `regionendpoint` with the bucket in its path or in front of its host.
    #[test]
    fn bucket_urls() {
        let cases: [(Edit, &str, Option<&str>); 16] = [
            (|_| {}, "eu-west-1", None),
            (|c| c.forcepathstyle = Some(true), "eu-west-1", None),
            (
                |c| c.accelerate = true,
                "eu-west-1",
                Some("https://reg.s3-accelerate.amazonaws.com"),
            ),
            (
                |c| (c.accelerate, c.usedualstack) = (true, true),
                "eu-west-1",
                Some("https://reg.s3-accelerate.dualstack.amazonaws.com"),
            ),
            (
                |c| c.usedualstack = true,
                "eu-west-1",
                Some("https://reg.s3.dualstack.eu-west-1.amazonaws.com"),
            ),
            (
                |c| (c.usedualstack, c.forcepathstyle) = (true, Some(true)),
                "eu-west-1",
                Some("https://s3.dualstack.eu-west-1.amazonaws.com/reg"),
            ),
            (
                |c| (c.usedualstack, c.bucket) = (true, Some("my.reg".into())),
                "eu-west-1",
                Some("https://s3.dualstack.eu-west-1.amazonaws.com/my.reg"),
            ),
            (
                |c| c.usedualstack = true,
                "cn-north-1",
                Some("https://reg.s3.dualstack.cn-north-1.amazonaws.com.cn"),
            ),
            (
                |c| c.usefipsendpoint = true,
                "us-gov-west-1",
                Some("https://reg.s3-fips.us-gov-west-1.amazonaws.com"),
            ),
            (
                |c| (c.usefipsendpoint, c.usedualstack) = (true, true),
                "us-east-2",
                Some("https://reg.s3-fips.dualstack.us-east-2.amazonaws.com"),
            ),
            (
                |c| (c.usefipsendpoint, c.forcepathstyle) = (true, Some(true)),
                "us-east-2",
                Some("https://s3-fips.us-east-2.amazonaws.com/reg"),
            ),
            (
                |c| (c.regionendpoint, c.secure) = (Some("minio:9000".into()), false),
                "eu-west-1",
                Some("http://minio:9000/reg"),
            ),
            (
                |c| {
                    c.regionendpoint = Some("https://minio.internal:9000/s3/".into());
                    c.forcepathstyle = Some(false);
                },
                "eu-west-1",
                Some("https://reg.minio.internal:9000/s3"),
            ),
            (
                |c| {
                    c.regionendpoint = Some("http://10.0.0.5:9000".into());
                    c.forcepathstyle = Some(false);
                },
                "eu-west-1",
                Some("http://10.0.0.5:9000/reg"),
            ),
            (
                |c| {
                    c.regionendpoint = Some("[::1]:9000".into());
                    (c.secure, c.forcepathstyle) = (false, Some(false));
                },
                "eu-west-1",
                Some("http://[::1]:9000/reg"),
            ),
            (
                |c| {
                    c.regionendpoint = Some("https://s3.example.com".into());
                    (c.forcepathstyle, c.bucket) = (Some(false), Some("my.reg".into()));
                },
                "eu-west-1",
                Some("https://s3.example.com/my.reg"),
            ),
        ];
        for (i, (edit, region, want)) in cases.into_iter().enumerate() {
            let c = with(edit);
            assert!(c.validate().is_ok(), "case {i}: {:?}", c.validate());
            assert_eq!(c.bucket_url(region).as_deref(), want, "case {i}");
        }
    }

    /// Presigned redirects use `redirectendpoint`'s scheme and host, keep `regionendpoint`'s path, and
    /// address the bucket as requests do (by path at an IP address).
    #[test]
    fn redirect_urls() {
        let cases: [(Edit, Option<&str>); 5] = [
            (|_| {}, None),
            (
                |c| c.redirectendpoint = Some("https://cdn.example.com/".into()),
                Some("https://reg.cdn.example.com"),
            ),
            (
                |c| {
                    c.redirectendpoint = Some("https://cdn.example.com".into());
                    c.forcepathstyle = Some(true);
                },
                Some("https://cdn.example.com/reg"),
            ),
            (
                |c| {
                    c.regionendpoint = Some("http://127.0.0.1:8333/s3".into());
                    c.redirectendpoint = Some("http://localhost:8333".into());
                },
                Some("http://localhost:8333/s3/reg"),
            ),
            (
                |c| {
                    c.regionendpoint = Some("https://minio.internal".into());
                    c.forcepathstyle = Some(false);
                    c.redirectendpoint = Some("http://203.0.113.9:8080".into());
                },
                Some("http://203.0.113.9:8080/reg"),
            ),
        ];
        for (i, (edit, want)) in cases.into_iter().enumerate() {
            let url = with(edit).redirect_bucket_url().expect("valid");
            assert_eq!(url.as_deref(), want, "case {i}");
        }
    }

    /// Combinations AWS does not offer, ACLs Wharf cannot apply and malformed values stop start-up,
    /// naming the setting to change.
    #[test]
    fn refusals() {
        let cases: [(Edit, &str, &str); 15] = [
            (
                |c| (c.accelerate, c.regionendpoint) = (true, Some("http://minio:9000".into())),
                "storage.s3.accelerate",
                "regionendpoint",
            ),
            (
                |c| (c.usedualstack, c.regionendpoint) = (true, Some("http://minio:9000".into())),
                "storage.s3.usedualstack",
                "regionendpoint",
            ),
            (
                |c| {
                    (c.usefipsendpoint, c.regionendpoint) = (true, Some("http://minio:9000".into()))
                },
                "storage.s3.usefipsendpoint",
                "regionendpoint",
            ),
            (
                |c| (c.accelerate, c.usefipsendpoint) = (true, true),
                "storage.s3.accelerate",
                "FIPS",
            ),
            (
                |c| (c.accelerate, c.forcepathstyle) = (true, Some(true)),
                "storage.s3.accelerate",
                "forcepathstyle",
            ),
            (
                |c| (c.accelerate, c.bucket) = (true, Some("my.reg".into())),
                "storage.s3.accelerate",
                "dots",
            ),
            (
                |c| (c.accelerate, c.region) = (true, Some("cn-north-1".into())),
                "storage.s3.accelerate",
                "cn-north-1",
            ),
            (
                |c| (c.usefipsendpoint, c.region) = (true, Some("cn-northwest-1".into())),
                "storage.s3.usefipsendpoint",
                "cn-northwest-1",
            ),
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
            (
                |c| c.redirectendpoint = Some("https://cdn.example.com/v2".into()),
                "storage.s3.redirectendpoint",
                "path",
            ),
            (
                |c| c.redirectendpoint = Some("https://cdn.example.com/?x=1".into()),
                "storage.s3.redirectendpoint",
                "query",
            ),
            (
                |c| c.redirectendpoint = Some("cdn.example.com".into()),
                "storage.s3.redirectendpoint",
                "not a URL",
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
        let fine = with(|c| {
            c.useragent = Some("wharf/1.0 (ops@example.com)".into());
            c.redirectendpoint = Some("https://cdn.example.com".into());
        });
        assert_eq!(fine.validate(), Ok(()));
    }
}

//! Where S3 requests go, worked out from the `storage.s3` settings: `regionendpoint` when set (an
//! S3-compatible engine, its scheme chosen by `secure` when it has none), else AWS: its regional
//! endpoint, or the one `accelerate`, `usedualstack` and `usefipsendpoint` select, named as the AWS
//! SDKs name them ([`bucket_url`]); the region requests are signed for; the bucket in the path or in
//! the host name; and the bucket's URL on `redirectendpoint` for presigned redirects. Combinations AWS
//! does not offer are refused by [`check`], naming the setting, before any client is built.

use std::net::IpAddr;

use reqwest::Url;

use super::S3SetupError;
use crate::config::S3Config;

/// Refuses endpoint settings that cannot be combined, as the AWS SDKs do, and a `redirectendpoint`
/// that is not a bare `http(s)://host[:port]`.
pub fn check(config: &S3Config) -> Result<(), S3SetupError> {
    check_endpoints(config).map_err(refused)?;
    redirect_bucket_url(config).map_err(refused)?;
    Ok(())
}

fn refused((setting, message): (&'static str, String)) -> S3SetupError {
    S3SetupError { setting, message }
}

fn check_endpoints(config: &S3Config) -> Result<(), (&'static str, String)> {
    if let Some(endpoint) = endpoint_url(config) {
        if Url::parse(&endpoint).map_or(true, |u| u.host().is_none()) {
            return Err((
                "storage.s3.regionendpoint",
                format!("{endpoint:?} is not a URL such as https://minio.internal:9000"),
            ));
        }
        if let Some(flag) = aws_endpoint_flag(config) {
            return Err((flag, "selects an AWS endpoint and cannot be combined with regionendpoint, which replaces AWS's endpoints; remove one of them".into()));
        }
    }
    let region = region(config);
    let china = region.starts_with("cn-");
    if config.usefipsendpoint && china {
        return Err((
            "storage.s3.usefipsendpoint",
            format!("AWS has no FIPS endpoints in {region}; remove usefipsendpoint"),
        ));
    }
    if !config.accelerate {
        return Ok(());
    }
    let bucket = config.bucket.as_deref().unwrap_or_default();
    let refusal = if config.usefipsendpoint {
        "AWS has no FIPS endpoint for Transfer Acceleration; remove accelerate or usefipsendpoint"
            .to_string()
    } else if config.forcepathstyle == Some(true) {
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
pub fn aws_endpoint_flag(config: &S3Config) -> Option<&'static str> {
    [
        ("storage.s3.accelerate", config.accelerate),
        ("storage.s3.usefipsendpoint", config.usefipsendpoint),
        ("storage.s3.usedualstack", config.usedualstack),
    ]
    .into_iter()
    .find_map(|(flag, on)| on.then_some(flag))
}

/// The region requests are signed for: `region`, else `AWS_REGION`, else `AWS_DEFAULT_REGION`, else
/// `us-east-1`.
pub fn region(config: &S3Config) -> String {
    let env = |name| std::env::var(name).ok();
    [
        config.region.clone(),
        env("AWS_REGION"),
        env("AWS_DEFAULT_REGION"),
    ]
    .into_iter()
    .flatten()
    .find(|r| !r.is_empty())
    .unwrap_or_else(|| "us-east-1".into())
}

/// The endpoint URL, with a scheme chosen by `secure` when it has none.
pub fn endpoint_url(config: &S3Config) -> Option<String> {
    let endpoint = config.regionendpoint.as_deref().filter(|e| !e.is_empty())?;
    if endpoint.contains("://") {
        return Some(endpoint.trim_end_matches('/').to_string());
    }
    let scheme = if config.secure { "https" } else { "http" };
    Some(format!("{scheme}://{}", endpoint.trim_end_matches('/')))
}

/// Whether the bucket is addressed in the path rather than the host name.
pub fn path_style(config: &S3Config) -> bool {
    path_style_at(config, endpoint_url(config).as_deref())
}

/// Whether the bucket is addressed in the path at `endpoint` (`None`: AWS): as `forcepathstyle`
/// says, by default when `regionendpoint` is set; and, as the AWS SDKs do, whenever the bucket name
/// cannot be a host name label (dots break TLS host names) or the endpoint is an IP address.
fn path_style_at(config: &S3Config, endpoint: Option<&str>) -> bool {
    let by_ip = endpoint
        .and_then(|e| Url::parse(e).ok())
        .and_then(|u| {
            u.host_str()
                .map(|h| h.trim_matches(['[', ']']).parse::<IpAddr>())
        })
        .is_some_and(|ip| ip.is_ok());
    config
        .forcepathstyle
        .unwrap_or_else(|| endpoint_url(config).is_some())
        || !virtual_hostable(config.bucket.as_deref().unwrap_or_default())
        || by_ip
}

/// The URL of the bucket (in the host name or the path) when Wharf picks the endpoint: from
/// `regionendpoint`, or the AWS endpoint `accelerate`, `usedualstack` and `usefipsendpoint` select
/// in `region`. `None`: object_store's regional AWS endpoint, addressed as [`path_style`] says.
pub fn bucket_url(config: &S3Config, region: &str) -> Option<String> {
    let bucket = config.bucket.as_deref().unwrap_or_default();
    if let Some(endpoint) = endpoint_url(config) {
        return Some(with_bucket(&endpoint, bucket, path_style(config)));
    }
    aws_endpoint_flag(config)?;
    let dualstack = if config.usedualstack {
        ".dualstack"
    } else {
        ""
    };
    let host = if config.accelerate {
        format!("s3-accelerate{dualstack}.amazonaws.com")
    } else {
        let fips = if config.usefipsendpoint { "-fips" } else { "" };
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
        path_style(config),
    ))
}

/// The bucket's URL on `redirectendpoint`, for presigned redirects: its scheme and host, the path of
/// `regionendpoint` if any, and the bucket added as for requests. `None` when unset.
pub fn redirect_bucket_url(config: &S3Config) -> Result<Option<String>, (&'static str, String)> {
    let Some(raw) = config.redirectendpoint.as_deref().filter(|e| !e.is_empty()) else {
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
    let base_path = endpoint_url(config)
        .and_then(|e| Url::parse(&e).ok())
        .map(|u| u.path().trim_end_matches('/').to_string())
        .unwrap_or_default();
    let base = format!("{}://{host}{port}{base_path}", url.scheme());
    let bucket = config.bucket.as_deref().unwrap_or_default();
    Ok(Some(with_bucket(
        &base,
        bucket,
        path_style_at(config, Some(&base)),
    )))
}

/// Where requests go, for messages: `regionendpoint`, the AWS endpoint the settings select, or
/// `AWS S3` (the regional endpoint).
pub fn endpoint_name(config: &S3Config) -> String {
    endpoint_url(config)
        .or_else(|| bucket_url(config, &region(config)))
        .unwrap_or_else(|| "AWS S3".into())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::s3::cases::{with, Edit};

    /// Endpoint schemes follow `secure`; path style defaults on with an endpoint, off on AWS.
    #[test]
    fn endpoints_and_path_style() {
        let mut c = S3Config {
            regionendpoint: Some("127.0.0.1:9000".into()),
            secure: false,
            bucket: Some("b".into()),
            ..S3Config::default()
        };
        assert_eq!(endpoint_url(&c).as_deref(), Some("http://127.0.0.1:9000"));
        assert!(path_style(&c));
        c.regionendpoint = Some("https://s3.example/".into());
        assert_eq!(endpoint_url(&c).as_deref(), Some("https://s3.example"));
        c.regionendpoint = None;
        assert!(!path_style(&c));
        assert!(check(&c).is_ok());
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
            assert!(check(&c).is_ok(), "case {i}: {:?}", check(&c));
            assert_eq!(bucket_url(&c, region).as_deref(), want, "case {i}");
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
            let url = redirect_bucket_url(&with(edit)).expect("valid");
            assert_eq!(url.as_deref(), want, "case {i}");
        }
    }

    /// Combinations AWS does not offer and malformed redirect endpoints are refused, naming the
    /// setting to change.
    #[test]
    fn refusals() {
        let cases: [(Edit, &str, &str); 11] = [
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
            let S3SetupError {
                setting: key,
                message,
            } = check(&with(edit)).expect_err("refused");
            assert_eq!(key, setting, "case {i}: {message}");
            assert!(
                message.contains(words),
                "case {i}: {message:?} lacks {words:?}"
            );
        }
        let fine = with(|c| c.redirectendpoint = Some("https://cdn.example.com".into()));
        assert!(check(&fine).is_ok());
    }
}

//! Building the S3 client from `storage.s3` settings, and the start-up check that turns the usual
//! mistakes (missing bucket, refused credentials, unreachable endpoint) into one line naming the setting.

use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{ClientOptions, RetryConfig};

use super::endpoint;
use crate::config::S3Config;

/// Connections to the endpoint kept open between requests, each with its read buffer (8–800 KiB as
/// its largest response grew it): as many as any one maintenance step keeps in flight.
const IDLE_CONNECTIONS: usize = 16;

/// A problem with `storage.s3`, naming the setting to fix.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct S3SetupError {
    /// The setting, in `config.yml` dotted form.
    pub setting: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The client for `config`: explicit settings first, then the AWS environment (`AWS_*` variables,
/// web identity, container and instance credentials).
/// Endpoint combinations AWS does not offer are refused first ([`endpoint::check`]).
pub(super) fn client(config: &S3Config) -> Result<AmazonS3, S3SetupError> {
    endpoint::check(config)?;
    let region = endpoint::region(config);
    build(config, &region, endpoint::bucket_url(config, &region))
}

/// The client that presigns redirect URLs for `redirectendpoint`'s host, if it is set (presigning
/// sends no request).
pub(super) fn redirect_signer(config: &S3Config) -> Result<Option<AmazonS3>, S3SetupError> {
    match endpoint::redirect_bucket_url(config).map_err(invalid)? {
        Some(url) => build(config, &endpoint::region(config), Some(url)).map(Some),
        None => Ok(None),
    }
}

fn invalid((setting, message): (&'static str, String)) -> S3SetupError {
    S3SetupError { setting, message }
}

/// A client for the bucket at `bucket_url` (the bucket included), or at object_store's regional AWS
/// endpoint when `None`.
fn build(
    config: &S3Config,
    region: &str,
    bucket_url: Option<String>,
) -> Result<AmazonS3, S3SetupError> {
    let mut options = ClientOptions::new()
        .with_default_content_type("application/octet-stream")
        .with_allow_invalid_certificates(config.skipverify)
        .with_connect_timeout(Duration::from_secs(5))
        // Blob streams last as long as the client reads: no whole-request deadline, only a stall limit.
        .with_timeout_disabled()
        .with_read_timeout(Duration::from_secs(60))
        .with_pool_max_idle_per_host(IDLE_CONNECTIONS);
    if let Some(agent) = config.user_agent().map_err(invalid)? {
        options = options.with_user_agent(agent);
    }
    if bucket_url
        .as_deref()
        .is_some_and(|e| e.starts_with("http://"))
    {
        options = options.with_allow_http(true);
    }
    let retry = RetryConfig {
        max_retries: 4,
        retry_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    // With a URL that names the bucket, object_store takes it as is when told "virtual-hosted".
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(config.bucket.clone().unwrap_or_default())
        .with_client_options(options)
        .with_retry(retry)
        .with_region(region)
        .with_virtual_hosted_style_request(bucket_url.is_some() || !endpoint::path_style(config));
    if let Some(url) = bucket_url {
        builder = builder.with_endpoint(url);
    }
    if let (Some(key), Some(secret)) = (&config.accesskey, &config.secretkey) {
        builder = builder
            .with_access_key_id(key)
            .with_secret_access_key(secret);
        if let Some(token) = &config.sessiontoken {
            builder = builder.with_token(token);
        }
    }
    if config.encrypt {
        builder = match &config.keyid {
            Some(key) => builder.with_sse_kms_encryption(key),
            None => {
                let key: AmazonS3ConfigKey = "aws_server_side_encryption"
                    .parse()
                    .expect("object_store knows its own encryption key");
                builder.with_config(key, "AES256")
            }
        };
    }
    builder.build().map_err(|e| S3SetupError {
        setting: "storage.s3",
        message: format!("cannot configure the S3 client: {e}"),
    })
}

/// Explains a failed probe of the bucket by the setting most likely at fault.
pub(super) fn explain(config: &S3Config, error: &object_store::Error) -> S3SetupError {
    let text = error.to_string();
    let bucket = config.bucket.as_deref().unwrap_or_default();
    let endpoint = endpoint::endpoint_name(config);
    let has = |needle: &str| text.contains(needle);
    // Matched on S3 error codes and HTTP statuses as object_store words them, never on bare numbers
    // (ports and timings in the message hold digits too).
    if has("NoSuchBucket") || has("status code: 404") {
        S3SetupError {
            setting: "storage.s3.bucket",
            message: format!(
                "bucket {bucket:?} does not exist at {endpoint}; create it first ({text})"
            ),
        }
    } else if has("InvalidAccessKeyId")
        || has("SignatureDoesNotMatch")
        || has("AccessDenied")
        || has("status code: 403")
        || has("status code: 401")
    {
        S3SetupError {
            setting: "storage.s3.accesskey",
            message: format!("{endpoint} refused the credentials for bucket {bucket:?}; check accesskey and secretkey (or the AWS_* credentials) ({text})"),
        }
    } else if let (None, Some(flag)) = (
        endpoint::endpoint_url(config),
        endpoint::aws_endpoint_flag(config),
    ) {
        S3SetupError {
            setting: flag,
            message: format!("cannot reach {endpoint} for bucket {bucket:?}; check that the bucket and region offer the endpoint {flag} selects (Transfer Acceleration must be enabled on the bucket) and the network ({text})"),
        }
    } else {
        S3SetupError {
            setting: "storage.s3.regionendpoint",
            message: format!("cannot reach {endpoint} for bucket {bucket:?}; check regionendpoint, secure and the network ({text})"),
        }
    }
}

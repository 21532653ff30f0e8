//! Building the S3 client from `storage.s3` settings, and the start-up check that turns the usual
//! mistakes (missing bucket, refused credentials, unreachable endpoint) into one line naming the setting.

use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{ClientOptions, RetryConfig};

use crate::config::S3Config;

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
pub(super) fn client(config: &S3Config) -> Result<AmazonS3, S3SetupError> {
    let endpoint = config.endpoint_url();
    let mut options = ClientOptions::new()
        .with_default_content_type("application/octet-stream")
        .with_allow_invalid_certificates(config.skipverify)
        .with_connect_timeout(Duration::from_secs(5))
        // Blob streams last as long as the client reads: no whole-request deadline, only a stall limit.
        .with_timeout_disabled()
        .with_read_timeout(Duration::from_secs(60));
    if endpoint
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
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(config.bucket.clone().unwrap_or_default())
        .with_client_options(options)
        .with_retry(retry)
        .with_virtual_hosted_style_request(!config.path_style());
    if let Some(region) = &config.region {
        builder = builder.with_region(region);
    } else if std::env::var_os("AWS_REGION").is_none()
        && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        builder = builder.with_region("us-east-1");
    }
    if let Some(endpoint) = &endpoint {
        builder = builder.with_endpoint(endpoint);
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
    let endpoint = config
        .endpoint_url()
        .unwrap_or_else(|| "AWS S3".to_string());
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
    } else {
        S3SetupError {
            setting: "storage.s3.regionendpoint",
            message: format!("cannot reach {endpoint} for bucket {bucket:?}; check regionendpoint, secure and the network ({text})"),
        }
    }
}

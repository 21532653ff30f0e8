//! Manifest endpoints: `HEAD`/`GET`/`PUT`/`DELETE /v2/<name>/manifests/<tag|digest>`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use bytes::BytesMut;
use futures_util::StreamExt;

use super::events::{self, Happened, ManifestInfo};
use super::{
    header_str, respond, ApiError, ApiResult, AppState, Code, CONTENT_DIGEST, OCI_SUBJECT,
};
use crate::registry::manifest_format::{OCI_INDEX, OCI_MANIFEST};
use crate::registry::names::{Reference, RepoName, Tag};

/// Largest manifest accepted, as in distribution.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// How much of a body refused for its size is read and dropped before the answer, and for how long,
/// so that a client still sending it finishes and reads the 413 instead of having its connection
/// reset under it. Beyond either bound the connection is closed.
const DRAIN_BYTES: usize = 16 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads and drops the rest of `body`, within [`DRAIN_BYTES`] and [`DRAIN_TIME`].
async fn drain(body: &mut axum::body::BodyDataStream) {
    let read = async {
        let mut left = DRAIN_BYTES;
        while let Some(Ok(chunk)) = body.next().await {
            match left.checked_sub(chunk.len()) {
                Some(rest) => left = rest,
                None => return,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read).await;
}

/// Serves a manifest if the client accepts its media type.
pub async fn get(
    app: &AppState,
    name: &RepoName,
    reference: &Reference,
    headers: &HeaderMap,
    head: bool,
) -> ApiResult {
    let manifest = app.registry.pull_manifest(name, reference).await?;
    if !accepts(headers, &manifest.media_type) {
        return Err(ApiError::new(
            Code::ManifestUnknown,
            format!(
                "the manifest is {}, which the Accept header does not allow",
                manifest.media_type
            ),
        ));
    }
    app.registry.record_pull(name, &manifest.digest);
    let fields = [
        (header::CONTENT_TYPE, manifest.media_type.clone()),
        (CONTENT_DIGEST, manifest.digest.to_string()),
        (header::ETAG, format!("\"{}\"", manifest.digest)),
        (header::CONTENT_LENGTH, manifest.bytes.len().to_string()),
    ];
    if head {
        return Ok(respond(StatusCode::OK, &fields, Body::empty()));
    }
    let pulled = ManifestInfo {
        size: manifest.bytes.len() as u64,
        digest: manifest.digest,
        media_type: manifest.media_type,
        tag: tag_of(reference),
    };
    let response = respond(StatusCode::OK, &fields, Body::from(manifest.bytes));
    Ok(events::attach(
        response,
        name,
        Happened::ManifestPulled(pulled),
    ))
}

fn tag_of(reference: &Reference) -> Option<Tag> {
    match reference {
        Reference::Tag(t) => Some(t.clone()),
        Reference::Digest(_) => None,
    }
}

/// Whether the request's `Accept` allows `media_type`. As in distribution, only OCI manifests and
/// indexes are withheld from clients that list types without them; no `Accept` accepts everything.
fn accepts(headers: &HeaderMap, media_type: &str) -> bool {
    let ranges: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|r| r.split(';').next().unwrap_or("").trim())
        .filter(|r| !r.is_empty())
        .collect();
    ranges.is_empty()
        || ranges.iter().any(|r| *r == media_type || *r == "*/*")
        || !matches!(media_type, OCI_MANIFEST | OCI_INDEX)
}

/// Stores a manifest after validating it and everything it references.
pub async fn put(
    app: &AppState,
    name: &RepoName,
    reference: &Reference,
    request: Request,
) -> ApiResult {
    let too_large = || {
        ApiError::new(
            Code::SizeInvalid,
            format!("manifest is larger than {MAX_MANIFEST_BYTES} bytes"),
        )
        .with_status(StatusCode::PAYLOAD_TOO_LARGE)
    };
    let declared =
        header_str(request.headers(), header::CONTENT_LENGTH).and_then(|l| l.parse::<usize>().ok());
    let headers = request.headers().clone();
    let mut body = request.into_body().into_data_stream();
    if declared.is_some_and(|l| l > MAX_MANIFEST_BYTES) {
        drain(&mut body).await;
        return Err(too_large());
    }
    let mut bytes = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                Code::ManifestInvalid,
                format!("the request body is malformed or incomplete: {e}"),
            )
        })?;
        if bytes.len() + chunk.len() > MAX_MANIFEST_BYTES {
            drain(&mut body).await;
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    let bytes = bytes.freeze();
    let size = bytes.len() as u64;
    let pushed = app
        .registry
        .put_manifest(
            name,
            reference,
            header_str(&headers, header::CONTENT_TYPE),
            bytes,
        )
        .await?;
    let mut fields = vec![
        (
            header::LOCATION,
            app.urls
                .url(&headers, &format!("/v2/{name}/manifests/{}", pushed.digest)),
        ),
        (CONTENT_DIGEST, pushed.digest.to_string()),
        (header::CONTENT_LENGTH, "0".into()),
    ];
    if let Some(subject) = pushed.subject {
        fields.push((OCI_SUBJECT, subject.to_string()));
    }
    let response = respond(StatusCode::CREATED, &fields, Body::empty());
    let info = ManifestInfo {
        digest: pushed.digest,
        media_type: pushed.media_type,
        size,
        tag: tag_of(reference),
    };
    Ok(events::attach(
        response,
        name,
        Happened::ManifestPushed(info),
    ))
}

/// `Wharf-Trash: <who>` on a `DELETE` (a Wharf extension the web UI sends): delete into the trash,
/// restorable for `retention.trashperiod`, rather than at once.
pub(crate) const TRASH: &str = "wharf-trash";

/// Deletes a manifest by digest (with its tags) or a tag; into the trash when asked.
pub async fn delete(
    app: &AppState,
    name: &RepoName,
    reference: &Reference,
    headers: &HeaderMap,
) -> ApiResult {
    let mut trash = None;
    match header_str(headers, TRASH).filter(|who| !who.is_empty()) {
        Some(who) => {
            let who: String = who
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .take(32)
                .collect();
            app.registry
                .delete_into_trash(name, reference, &who)
                .await?;
            trash = Some(app.registry.trash_size().await?);
        }
        None => app.registry.delete_manifest(name, reference).await?,
    }
    let mut response = respond(
        StatusCode::ACCEPTED,
        &[(header::CONTENT_LENGTH, "0".into())],
        Body::empty(),
    );
    if let Some(trash) = trash {
        response.extensions_mut().insert(events::RetentionApplied {
            trash,
            ..events::RetentionApplied::default()
        });
    }
    let happened = match reference {
        Reference::Digest(d) => Happened::ManifestDeleted(d.clone()),
        Reference::Tag(t) => Happened::TagDeleted(t.clone()),
    };
    Ok(events::attach(response, name, happened))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::manifest_format::DOCKER_MANIFEST;

    /// OCI types need to be accepted explicitly (or by `*/*`) when an Accept header is sent.
    #[test]
    fn accept_table() {
        let cases = [
            (vec![], OCI_MANIFEST, true),
            (vec![DOCKER_MANIFEST], OCI_MANIFEST, false),
            (vec!["application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"], OCI_MANIFEST, true),
            (vec![DOCKER_MANIFEST, "*/*;q=0.1"], OCI_INDEX, true),
            (vec![OCI_MANIFEST], DOCKER_MANIFEST, true),
        ];
        for (accept, media_type, want) in cases {
            let mut h = HeaderMap::new();
            for a in &accept {
                h.append(header::ACCEPT, a.parse().unwrap());
            }
            assert_eq!(accepts(&h, media_type), want, "{accept:?} {media_type}");
        }
    }
}

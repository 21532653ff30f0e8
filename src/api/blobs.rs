//! Blob and upload endpoints: `HEAD`/`GET`/`DELETE /v2/<name>/blobs/<digest>` (with `Range`) and the
//! upload session protocol under `/v2/<name>/blobs/uploads/`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use serde::Deserialize;

use super::events::{self, BlobInfo, Happened};
use super::{
    body_stream, header_str, query, respond, ApiError, ApiResult, AppState, Code, CONTENT_DIGEST,
    UPLOAD_UUID,
};
use crate::registry::digest::Digest;
use crate::registry::mirror::BlobPull;
use crate::registry::names::RepoName;
use crate::registry::names::UploadId;
use crate::registry::uploads::ChunkRange;
use crate::zero_copy::{FileBody, FileQueue};

/// Serves a blob, whole or one byte range; `HEAD` sends the headers only. On object storage a `GET`
/// answers 307 to a presigned URL of the object instead (unless `storage.redirect.disable`), with
/// `Docker-Content-Digest`; clients send their `Range` header again to the new location. With a
/// `zero_copy` queue and a blob kept in a local file, the file is sent to the socket directly.
pub async fn get(
    app: &AppState,
    name: &RepoName,
    digest: &Digest,
    headers: &HeaderMap,
    head: bool,
    zero_copy: Option<FileQueue>,
) -> ApiResult {
    let pulled = app.registry.pull_blob(name, digest, head).await?;
    let etag = format!("\"{digest}\"");
    let mut common = vec![
        (CONTENT_DIGEST, digest.to_string()),
        (header::ETAG, etag.clone()),
        (header::ACCEPT_RANGES, "bytes".to_string()),
        (header::CONTENT_TYPE, "application/octet-stream".to_string()),
        (header::CACHE_CONTROL, "max-age=31536000".to_string()),
    ];
    let size = match pulled {
        BlobPull::Stored(size) => size,
        BlobPull::Upstream(size) => {
            common.push((header::CONTENT_LENGTH, size.to_string()));
            return Ok(respond(StatusCode::OK, &common, Body::empty()));
        }
        BlobPull::Streaming { size, body } => {
            // Fetched from the upstream as it is sent: whole, whatever `Range` asked (HTTP allows
            // a server to ignore it); the next request is served from storage.
            common.retain(|(name, _)| *name != header::ACCEPT_RANGES);
            if let Some(size) = size {
                common.push((header::CONTENT_LENGTH, size.to_string()));
            }
            let pulled = BlobInfo {
                digest: digest.clone(),
                size: size.unwrap_or(0),
            };
            return Ok(events::attach(
                respond(StatusCode::OK, &common, Body::from_stream(body)),
                name,
                Happened::BlobPulled(pulled),
            ));
        }
    };
    if header_str(headers, header::IF_NONE_MATCH)
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return Ok(respond(StatusCode::NOT_MODIFIED, &common, Body::empty()));
    }
    if !head {
        if let Some(url) = app.registry.blob_redirect(digest).await? {
            let redirect = [
                (CONTENT_DIGEST, digest.to_string()),
                (header::LOCATION, url),
                (header::CONTENT_LENGTH, "0".to_string()),
            ];
            return Ok(respond(
                StatusCode::TEMPORARY_REDIRECT,
                &redirect,
                Body::empty(),
            ));
        }
    }
    let (status, start, len) = match header_str(headers, header::RANGE) {
        Some(range) if !head => match byte_range(range, size)? {
            Some((start, end)) => {
                common.push((header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}")));
                (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
            }
            None => (StatusCode::OK, 0, size),
        },
        _ => (StatusCode::OK, 0, size),
    };
    common.push((header::CONTENT_LENGTH, len.to_string()));
    if head {
        return Ok(respond(status, &common, Body::empty()));
    }
    let file = match zero_copy {
        Some(queue) => app
            .registry
            .blob_file(digest)
            .await?
            .map(|file| (queue, file)),
        None => None,
    };
    let body = match file {
        Some((queue, file)) => Body::new(FileBody::new(queue, file, start, len)),
        None => Body::from_stream(app.registry.read_blob(digest, start, len).await?),
    };
    let pulled = BlobInfo {
        digest: digest.clone(),
        size,
    };
    Ok(events::attach(
        respond(status, &common, body),
        name,
        Happened::BlobPulled(pulled),
    ))
}

/// The single range a `Range` header asks for, inclusive; `None` to serve everything: for several
/// ranges, which the registry may ignore, and for a header that does not parse, which HTTP says to
/// ignore (RFC 9110 §14.2). Well-formed but unsatisfiable ranges are a 416.
fn byte_range(value: &str, size: u64) -> Result<Option<(u64, u64)>, ApiError> {
    let unsatisfiable = || {
        ApiError::new(
            Code::RangeInvalid,
            format!("range {value:?} is not satisfiable for {size} bytes"),
        )
        .with_header(header::CONTENT_RANGE, &format!("bytes */{size}"))
    };
    let Ok(parsed) = http_range_header::parse_range_header(value) else {
        return Ok(None);
    };
    // A range that ends before it starts (`bytes=5-4`) is invalid syntax too, whatever the size.
    if parsed.validate(u64::MAX) == Err(http_range_header::RangeUnsatisfiableError::RangeReversed) {
        return Ok(None);
    }
    let ranges = parsed.validate(size).map_err(|_| unsatisfiable())?;
    match ranges.as_slice() {
        [one] => Ok(Some((*one.start(), *one.end()))),
        _ => Ok(None),
    }
}

/// Unlinks a blob from the repository.
pub async fn delete(app: &AppState, name: &RepoName, digest: &Digest) -> ApiResult {
    app.registry.delete_blob(name, digest).await?;
    let response = respond(
        StatusCode::ACCEPTED,
        &[(header::CONTENT_LENGTH, "0".into())],
        Body::empty(),
    );
    Ok(events::attach(
        response,
        name,
        Happened::BlobDeleted(digest.clone()),
    ))
}

#[derive(Deserialize)]
struct StartQuery {
    digest: Option<String>,
    mount: Option<String>,
    from: Option<String>,
}

#[derive(Deserialize)]
struct FinishQuery {
    digest: Option<String>,
}

fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    s.parse()
        .map_err(|e| ApiError::new(Code::DigestInvalid, format!("{s:?}: {e}")))
}

/// `POST .../blobs/uploads/`: mount from another repository, store a whole blob (`?digest=`), or open a
/// session.
pub async fn start_upload(app: &AppState, name: &RepoName, request: Request) -> ApiResult {
    let q: StartQuery = query(request.uri(), Code::Unsupported)?;
    if let (Some(mount), Some(from)) = (&q.mount, &q.from) {
        let digest = parse_digest(mount)?;
        let from: RepoName = from
            .parse()
            .map_err(|e| ApiError::new(Code::NameInvalid, format!("from={from:?}: {e}")))?;
        if let Some(size) = app.registry.mount_blob(name, &digest, &from).await? {
            let response = blob_created(app, name, &digest, request.headers());
            let blob = BlobInfo { digest, size };
            return Ok(events::attach(
                response,
                name,
                Happened::BlobMounted { blob, from },
            ));
        }
    }
    if let Some(digest) = &q.digest {
        let digest = parse_digest(digest)?;
        let headers = request.headers().clone();
        if let Some(len) = declared_length(&headers) {
            app.registry.admit_upload(name, 0, len).await?;
        }
        let size = app
            .registry
            .put_blob(name, &digest, body_stream(request.into_body()))
            .await?;
        return Ok(pushed(app, name, digest, size, &headers));
    }
    let id = app.registry.start_upload(name).await?;
    Ok(upload_progress(
        app,
        name,
        id,
        0,
        request.headers(),
        StatusCode::ACCEPTED,
    ))
}

/// `GET` on a session: how much it holds.
pub async fn upload_status(
    app: &AppState,
    name: &RepoName,
    id: UploadId,
    headers: &HeaderMap,
) -> ApiResult {
    let size = app.registry.upload_size(name, id).await?;
    Ok(upload_progress(
        app,
        name,
        id,
        size,
        headers,
        StatusCode::NO_CONTENT,
    ))
}

/// `PATCH` on a session: append a chunk, checked against `Content-Range` when given.
pub async fn patch_upload(
    app: &AppState,
    name: &RepoName,
    id: UploadId,
    request: Request,
) -> ApiResult {
    let range = chunk_range(request.headers())?;
    let headers = request.headers().clone();
    admit(app, name, id, &headers).await?;
    let size = app
        .registry
        .append_upload(name, id, range, body_stream(request.into_body()))
        .await
        .map_err(|e| with_location(ApiError::from(e), app, name, id, &headers))?;
    Ok(upload_progress(
        app,
        name,
        id,
        size,
        &headers,
        StatusCode::ACCEPTED,
    ))
}

/// `PUT ?digest=` on a session: append the last chunk if any, verify and store.
pub async fn finish_upload(
    app: &AppState,
    name: &RepoName,
    id: UploadId,
    request: Request,
) -> ApiResult {
    let q: FinishQuery = query(request.uri(), Code::Unsupported)?;
    let digest = parse_digest(q.digest.as_deref().ok_or_else(|| {
        ApiError::new(
            Code::DigestInvalid,
            "the digest query parameter is required to finish an upload",
        )
    })?)?;
    let range = chunk_range(request.headers())?;
    let has_body =
        range.is_some() || header_str(request.headers(), header::CONTENT_LENGTH) != Some("0");
    let headers = request.headers().clone();
    admit(app, name, id, &headers).await?;
    let last = has_body.then(|| (range, body_stream(request.into_body())));
    let size = app
        .registry
        .finish_upload(name, id, &digest, last)
        .await
        .map_err(|e| with_location(ApiError::from(e), app, name, id, &headers))?;
    Ok(pushed(app, name, digest, size, &headers))
}

/// The body length a request declares, if any.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    header_str(headers, header::CONTENT_LENGTH).and_then(|l| l.parse().ok())
}

/// Refuses a chunk whose declared length would take the repository over its quota, counting what
/// the session already holds.
async fn admit(
    app: &AppState,
    name: &RepoName,
    id: UploadId,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if let Some(len) = declared_length(headers).filter(|l| *l > 0) {
        let already = app.registry.upload_size(name, id).await?;
        app.registry.admit_upload(name, already, len).await?;
    }
    Ok(())
}

/// `DELETE` on a session.
pub async fn cancel_upload(app: &AppState, name: &RepoName, id: UploadId) -> ApiResult {
    app.registry.cancel_upload(name, id).await?;
    Ok(respond(StatusCode::NO_CONTENT, &[], Body::empty()))
}

/// A 416 tells the client where the session stands so it can resume.
fn with_location(
    e: ApiError,
    app: &AppState,
    name: &RepoName,
    id: UploadId,
    headers: &HeaderMap,
) -> ApiError {
    if e.code() == Code::RangeInvalid {
        e.with_header(header::LOCATION, &upload_url(app, name, id, headers))
            .with_header(UPLOAD_UUID, &id.to_string())
    } else {
        e
    }
}

/// The first and last byte offsets of an upload chunk's `Content-Range: <start>-<end>` (also accepting
/// `bytes <start>-<end>/<total>`), or `None` when the value is not of that form or `end < start`.
pub fn parse_content_range(value: &str) -> Option<(u64, u64)> {
    let spec = value.trim().trim_start_matches("bytes").trim();
    let spec = spec.split('/').next().unwrap_or(spec);
    let (start, end) = spec.split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    (end >= start).then_some((start, end))
}

/// Parses an upload chunk's `Content-Range` ([`parse_content_range`]), and checks it against
/// `Content-Length`.
fn chunk_range(headers: &HeaderMap) -> Result<Option<ChunkRange>, ApiError> {
    let Some(value) = header_str(headers, header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::new(
            Code::RangeInvalid,
            format!("Content-Range {value:?} is not <start>-<end>"),
        )
    };
    let (start, end) = parse_content_range(value).ok_or_else(invalid)?;
    if let Some(len) =
        header_str(headers, header::CONTENT_LENGTH).and_then(|l| l.parse::<u64>().ok())
    {
        if len != end - start + 1 {
            return Err(ApiError::new(
                Code::SizeInvalid,
                format!("Content-Length {len} does not match Content-Range {value}"),
            ));
        }
    }
    Ok(Some(ChunkRange { start, end }))
}

fn upload_url(app: &AppState, name: &RepoName, id: UploadId, headers: &HeaderMap) -> String {
    app.urls
        .url(headers, &format!("/v2/{name}/blobs/uploads/{id}"))
}

fn upload_progress(
    app: &AppState,
    name: &RepoName,
    id: UploadId,
    size: u64,
    headers: &HeaderMap,
    status: StatusCode,
) -> axum::response::Response {
    respond(
        status,
        &[
            (header::LOCATION, upload_url(app, name, id, headers)),
            (header::RANGE, format!("0-{}", size.saturating_sub(1))),
            (UPLOAD_UUID, id.to_string()),
            (header::CONTENT_LENGTH, "0".into()),
        ],
        Body::empty(),
    )
}

/// The `201 Created` answer to a finished upload, recorded as a blob push.
fn pushed(
    app: &AppState,
    name: &RepoName,
    digest: Digest,
    size: u64,
    headers: &HeaderMap,
) -> axum::response::Response {
    let response = blob_created(app, name, &digest, headers);
    events::attach(
        response,
        name,
        Happened::BlobPushed(BlobInfo { digest, size }),
    )
}

fn blob_created(
    app: &AppState,
    name: &RepoName,
    digest: &Digest,
    headers: &HeaderMap,
) -> axum::response::Response {
    respond(
        StatusCode::CREATED,
        &[
            (
                header::LOCATION,
                app.urls.url(headers, &format!("/v2/{name}/blobs/{digest}")),
            ),
            (CONTENT_DIGEST, digest.to_string()),
            (header::CONTENT_LENGTH, "0".into()),
        ],
        Body::empty(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Content-Range` parses in the spec's form and the RFC form, and must agree with `Content-Length`.
    #[test]
    fn chunk_range_table() {
        type Case = (
            &'static str,
            Option<&'static str>,
            Result<Option<(u64, u64)>, Code>,
        );
        let cases: &[Case] = &[
            ("0-99", None, Ok(Some((0, 99)))),
            ("bytes 100-199/1000", Some("100"), Ok(Some((100, 199)))),
            ("5-4", None, Err(Code::RangeInvalid)),
            ("abc", None, Err(Code::RangeInvalid)),
            ("0-99", Some("10"), Err(Code::SizeInvalid)),
        ];
        for (range, len, want) in cases {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_RANGE, range.parse().unwrap());
            if let Some(l) = len {
                h.insert(header::CONTENT_LENGTH, l.parse().unwrap());
            }
            let got = chunk_range(&h)
                .map(|r| r.map(|r| (r.start, r.end)))
                .map_err(|e| e.code());
            assert_eq!(got, *want, "{range}");
        }
    }

    /// A single satisfiable range is served as such; several ranges or an unparseable header mean the
    /// whole blob; a range past the end is a 416.
    #[test]
    fn byte_range_table() {
        assert_eq!(byte_range("bytes=0-9", 100).unwrap(), Some((0, 9)));
        assert_eq!(byte_range("bytes=90-", 100).unwrap(), Some((90, 99)));
        assert_eq!(byte_range("bytes=-10", 100).unwrap(), Some((90, 99)));
        assert_eq!(byte_range("bytes=0-1,5-6", 100).unwrap(), None);
        assert_eq!(
            byte_range("bytes=100-200", 100).unwrap_err().code(),
            Code::RangeInvalid
        );
        for unparseable in ["pages=1", "bytes=abc", "bytes=5-4", "bytes="] {
            assert_eq!(byte_range(unparseable, 100).unwrap(), None, "{unparseable}");
        }
    }
}

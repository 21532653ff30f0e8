//! What a request is, worked out once before any other layer looks at it: its method and its path
//! (after `http.prefix`) parsed into one flat [`Endpoint`] (`GetManifest`, `PutManifest`,
//! `PatchUpload`, …) that carries its validated parameters, the [`Access`] it needs and its
//! repository. Authentication, read-only mode, metrics, the health gate, notifications, the access log
//! (`route=`) and the API's dispatch read this value from the request's extensions; none of them looks
//! at the URL again, so a prefix cannot make them disagree.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::route::{self, Route, RouteError, WharfRoute};
use crate::registry::digest::Digest;
use crate::registry::names::{Reference, RepoName, UploadId};

/// What a request does to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads content (a pull).
    Read,
    /// Writes content (a push; upload sessions, their status and their cancellation included).
    Write,
    /// Deletes content.
    Delete,
}

/// One request's operation: its route and method together, with the route's validated parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `/`, answered for load balancers whatever the prefix.
    Root,
    /// `GET`/`HEAD /v2/`: the API version check.
    ApiVersion,
    /// `GET /v2/_catalog`.
    ListRepositories,
    /// `GET /v2/<name>/tags/list`.
    ListTags(RepoName),
    /// `GET /v2/<name>/referrers/<digest>`.
    ListReferrers(RepoName, Digest),
    /// `GET /v2/<name>/manifests/<reference>`.
    GetManifest(RepoName, Reference),
    /// `HEAD /v2/<name>/manifests/<reference>`.
    HeadManifest(RepoName, Reference),
    /// `PUT /v2/<name>/manifests/<reference>`.
    PutManifest(RepoName, Reference),
    /// `DELETE /v2/<name>/manifests/<reference>`.
    DeleteManifest(RepoName, Reference),
    /// `GET /v2/<name>/blobs/<digest>`.
    GetBlob(RepoName, Digest),
    /// `HEAD /v2/<name>/blobs/<digest>`.
    HeadBlob(RepoName, Digest),
    /// `DELETE /v2/<name>/blobs/<digest>`.
    DeleteBlob(RepoName, Digest),
    /// `POST /v2/<name>/blobs/uploads/`: start an upload, or mount a blob.
    StartUpload(RepoName),
    /// `GET /v2/<name>/blobs/uploads/<id>`: an upload's progress.
    GetUpload(RepoName, UploadId),
    /// `PATCH /v2/<name>/blobs/uploads/<id>`: a chunk.
    PatchUpload(RepoName, UploadId),
    /// `PUT /v2/<name>/blobs/uploads/<id>`: the last chunk and the digest.
    PutUpload(RepoName, UploadId),
    /// `DELETE /v2/<name>/blobs/uploads/<id>`: cancel.
    CancelUpload(RepoName, UploadId),
    /// `GET /v2/_wharf/catalog`: every repository, pull-through caches marked (Wharf's extension).
    MarkedCatalog,
    /// `GET /v2/_wharf/usage`: what uses the disk, by repository (Wharf's extension).
    DiskUsage,
    /// `GET /v2/_wharf/retention`: what the retention policies would delete (Wharf's extension).
    PreviewRetention,
    /// `POST /v2/_wharf/retention`: apply the retention policies, then collect garbage.
    ApplyRetention,
    /// `GET /v2/_wharf/trash`: the trash of deleted tags.
    ListTrash,
    /// `POST /v2/_wharf/trash/restore`: put a deleted tag back.
    RestoreTag,
    /// `GET /v2/_wharf/tags/<name>`: a repository's tags with push and last-pull times.
    TagTimes(RepoName),
    /// A valid route with a method it does not take (answered 405).
    MethodNotAllowed(Route),
    /// Under `<prefix>/v2`, but no valid route (answered 404 or 400, by the reason).
    Invalid(RouteError),
    /// Not under `<prefix>/v2`: not the API.
    Outside,
}

impl Endpoint {
    /// The endpoint of `method` on `path`, for an API served under `prefix` (`""` or `/reg`).
    pub fn parse(method: &Method, path: &str, prefix: &str) -> Endpoint {
        if path == "/" {
            return Endpoint::Root;
        }
        let api = path
            .strip_prefix(prefix)
            .filter(|rest| *rest == "/v2" || rest.starts_with("/v2/"));
        match api.map(route::parse) {
            Some(Ok(route)) => Endpoint::of(method, route),
            Some(Err(e)) => Endpoint::Invalid(e),
            None => Endpoint::Outside,
        }
    }

    /// The operation `method` asks of `route`.
    fn of(method: &Method, route: Route) -> Endpoint {
        use Endpoint as E;
        match (method.clone(), route) {
            (Method::GET | Method::HEAD, Route::Base) => E::ApiVersion,
            (Method::GET, Route::Catalog) => E::ListRepositories,
            (Method::GET, Route::Tags(name)) => E::ListTags(name),
            (Method::GET, Route::Referrers(name, digest)) => E::ListReferrers(name, digest),
            (Method::GET, Route::Manifest(name, r)) => E::GetManifest(name, r),
            (Method::HEAD, Route::Manifest(name, r)) => E::HeadManifest(name, r),
            (Method::PUT, Route::Manifest(name, r)) => E::PutManifest(name, r),
            (Method::DELETE, Route::Manifest(name, r)) => E::DeleteManifest(name, r),
            (Method::GET, Route::Blob(name, digest)) => E::GetBlob(name, digest),
            (Method::HEAD, Route::Blob(name, digest)) => E::HeadBlob(name, digest),
            (Method::DELETE, Route::Blob(name, digest)) => E::DeleteBlob(name, digest),
            (Method::POST, Route::Uploads(name)) => E::StartUpload(name),
            (Method::GET, Route::Upload(name, id)) => E::GetUpload(name, id),
            (Method::PATCH, Route::Upload(name, id)) => E::PatchUpload(name, id),
            (Method::PUT, Route::Upload(name, id)) => E::PutUpload(name, id),
            (Method::DELETE, Route::Upload(name, id)) => E::CancelUpload(name, id),
            (Method::GET, Route::Wharf(WharfRoute::Catalog)) => E::MarkedCatalog,
            (Method::GET, Route::Wharf(WharfRoute::Usage)) => E::DiskUsage,
            (Method::GET, Route::Wharf(WharfRoute::Retention)) => E::PreviewRetention,
            (Method::POST, Route::Wharf(WharfRoute::Retention)) => E::ApplyRetention,
            (Method::GET, Route::Wharf(WharfRoute::Trash)) => E::ListTrash,
            (Method::POST, Route::Wharf(WharfRoute::Restore)) => E::RestoreTag,
            (Method::GET, Route::Wharf(WharfRoute::TagTimes(name))) => E::TagTimes(name),
            (_, route) => E::MethodNotAllowed(route),
        }
    }

    /// The access the operation needs; `None` for what does nothing to the registry (`/`, paths
    /// outside the API, invalid routes and methods a route does not take).
    pub fn access(&self) -> Option<Access> {
        use Endpoint as E;
        match self {
            E::ApiVersion
            | E::ListRepositories
            | E::ListTags(..)
            | E::ListReferrers(..)
            | E::GetManifest(..)
            | E::HeadManifest(..)
            | E::GetBlob(..)
            | E::HeadBlob(..)
            | E::MarkedCatalog
            | E::DiskUsage
            | E::PreviewRetention
            | E::ListTrash
            | E::TagTimes(..) => Some(Access::Read),
            E::PutManifest(..)
            | E::StartUpload(..)
            | E::GetUpload(..)
            | E::PatchUpload(..)
            | E::PutUpload(..)
            | E::CancelUpload(..)
            | E::RestoreTag => Some(Access::Write),
            E::DeleteManifest(..) | E::DeleteBlob(..) | E::ApplyRetention => Some(Access::Delete),
            E::Root | E::MethodNotAllowed(_) | E::Invalid(_) | E::Outside => None,
        }
    }

    /// Whether the request is for the API under the prefix (valid or not), rather than `/` or a
    /// path outside it.
    pub fn is_api(&self) -> bool {
        !matches!(self, Endpoint::Root | Endpoint::Outside)
    }

    /// The repository the operation is about, if any.
    pub fn repository(&self) -> Option<&RepoName> {
        use Endpoint as E;
        match self {
            E::ListTags(name)
            | E::ListReferrers(name, _)
            | E::GetManifest(name, _)
            | E::HeadManifest(name, _)
            | E::PutManifest(name, _)
            | E::DeleteManifest(name, _)
            | E::GetBlob(name, _)
            | E::HeadBlob(name, _)
            | E::DeleteBlob(name, _)
            | E::StartUpload(name)
            | E::GetUpload(name, _)
            | E::PatchUpload(name, _)
            | E::PutUpload(name, _)
            | E::CancelUpload(name, _)
            | E::TagTimes(name) => Some(name),
            E::Root
            | E::ApiVersion
            | E::ListRepositories
            | E::MarkedCatalog
            | E::DiskUsage
            | E::PreviewRetention
            | E::ApplyRetention
            | E::ListTrash
            | E::RestoreTag
            | E::MethodNotAllowed(_)
            | E::Invalid(_)
            | E::Outside => None,
        }
    }

    /// The kind of endpoint, as a metrics label: the route's family, whatever the method.
    pub fn kind(&self) -> &'static str {
        use Endpoint as E;
        match self {
            E::Root => "root",
            E::ApiVersion | E::MethodNotAllowed(Route::Base) => "base",
            E::ListRepositories | E::MethodNotAllowed(Route::Catalog) => "catalog",
            E::ListTags(..) | E::MethodNotAllowed(Route::Tags(..)) => "tags",
            E::ListReferrers(..) | E::MethodNotAllowed(Route::Referrers(..)) => "referrers",
            E::GetManifest(..)
            | E::HeadManifest(..)
            | E::PutManifest(..)
            | E::DeleteManifest(..)
            | E::MethodNotAllowed(Route::Manifest(..)) => "manifest",
            E::GetBlob(..)
            | E::HeadBlob(..)
            | E::DeleteBlob(..)
            | E::MethodNotAllowed(Route::Blob(..)) => "blob",
            E::StartUpload(..)
            | E::GetUpload(..)
            | E::PatchUpload(..)
            | E::PutUpload(..)
            | E::CancelUpload(..)
            | E::MethodNotAllowed(Route::Uploads(..) | Route::Upload(..)) => "upload",
            E::MarkedCatalog
            | E::DiskUsage
            | E::PreviewRetention
            | E::ApplyRetention
            | E::ListTrash
            | E::RestoreTag
            | E::TagTimes(..)
            | E::MethodNotAllowed(Route::Wharf(..)) => "wharf",
            E::Invalid(_) | E::Outside => "other",
        }
    }
}

/// Middleware: parses the request's [`Endpoint`] under `prefix` into its extensions.
pub async fn classify(
    State(prefix): State<Arc<str>>,
    mut request: Request,
    next: Next,
) -> Response {
    let endpoint = Endpoint::parse(request.method(), request.uri().path(), &prefix);
    tracing::Span::current().record("route", endpoint.kind());
    request.extensions_mut().insert(endpoint);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of path has its metrics label, whatever the method; unknown paths share one.
    #[test]
    fn kinds() {
        let d = format!("sha256:{}", "a".repeat(64));
        let cases = [
            ("GET", "/", "root"),
            ("GET", "/v2/", "base"),
            ("GET", "/v2/_catalog", "catalog"),
            ("DELETE", "/v2/_catalog", "catalog"),
            ("GET", "/v2/a/b/tags/list", "tags"),
            ("GET", "/v2/a/manifests/latest", "manifest"),
            ("POST", "/v2/a/manifests/latest", "manifest"),
            ("GET", &format!("/v2/a/blobs/{d}"), "blob"),
            ("POST", "/v2/a/blobs/uploads/", "upload"),
            ("GET", &format!("/v2/a/referrers/{d}"), "referrers"),
            ("GET", "/v2/_wharf/usage", "wharf"),
            ("PUT", "/v2/_wharf/trash", "wharf"),
            ("GET", "/favicon.ico", "other"),
            ("GET", "/v2/a/unknown", "other"),
        ];
        for (method, path, want) in cases {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            assert_eq!(
                Endpoint::parse(&method, path, "").kind(),
                want,
                "{method} {path}"
            );
        }
    }

    /// Method and path (with and without a prefix) give the one operation, its access and its
    /// repository; a method a route does not take, an invalid path and a path outside the prefix need
    /// no access.
    #[test]
    fn endpoint_table() {
        let d: Digest = format!("sha256:{}", "c".repeat(64)).parse().unwrap();
        let id_text = "2b1f3c4e-8c2a-4a8e-9d6c-0a1b2c3d4e5f";
        let id: UploadId = id_text.parse().unwrap();
        let x: RepoName = "x".parse().unwrap();
        let ab: RepoName = "a/b".parse().unwrap();
        let tag = |t: &str| Reference::Tag(t.parse().unwrap());
        let read = Some(Access::Read);
        let write = Some(Access::Write);
        let delete = Some(Access::Delete);
        use Endpoint as E;
        type Case<'a> = (
            &'a str,
            String,
            &'a str,
            Endpoint,
            Option<Access>,
            Option<&'a str>,
        );
        let cases: Vec<Case> = vec![
            ("GET", "/".into(), "", E::Root, None, None),
            ("POST", "/".into(), "/reg", E::Root, None, None),
            ("GET", "/v2/".into(), "", E::ApiVersion, read, None),
            ("HEAD", "/reg/v2".into(), "/reg", E::ApiVersion, read, None),
            ("GET", "/v2/".into(), "/reg", E::Outside, None, None),
            ("GET", "/ui/".into(), "/reg", E::Outside, None, None),
            (
                "GET",
                "/reg/v2/_catalog".into(),
                "/reg",
                E::ListRepositories,
                read,
                None,
            ),
            (
                "GET",
                "/v2/a/b/tags/list".into(),
                "",
                E::ListTags(ab.clone()),
                read,
                Some("a/b"),
            ),
            (
                "GET",
                format!("/v2/a/b/referrers/{d}"),
                "",
                E::ListReferrers(ab.clone(), d.clone()),
                read,
                Some("a/b"),
            ),
            (
                "GET",
                "/v2/x/manifests/1".into(),
                "",
                E::GetManifest(x.clone(), tag("1")),
                read,
                Some("x"),
            ),
            (
                "HEAD",
                "/v2/x/manifests/1".into(),
                "",
                E::HeadManifest(x.clone(), tag("1")),
                read,
                Some("x"),
            ),
            (
                "PUT",
                "/v2/x/manifests/1".into(),
                "",
                E::PutManifest(x.clone(), tag("1")),
                write,
                Some("x"),
            ),
            (
                "DELETE",
                format!("/reg/v2/x/manifests/{d}"),
                "/reg",
                E::DeleteManifest(x.clone(), Reference::Digest(d.clone())),
                delete,
                Some("x"),
            ),
            (
                "GET",
                format!("/v2/x/blobs/{d}"),
                "",
                E::GetBlob(x.clone(), d.clone()),
                read,
                Some("x"),
            ),
            (
                "HEAD",
                format!("/v2/x/blobs/{d}"),
                "",
                E::HeadBlob(x.clone(), d.clone()),
                read,
                Some("x"),
            ),
            (
                "DELETE",
                format!("/v2/x/blobs/{d}"),
                "",
                E::DeleteBlob(x.clone(), d.clone()),
                delete,
                Some("x"),
            ),
            (
                "POST",
                "/reg/v2/x/blobs/uploads/".into(),
                "/reg",
                E::StartUpload(x.clone()),
                write,
                Some("x"),
            ),
            (
                "GET",
                format!("/v2/x/blobs/uploads/{id_text}"),
                "",
                E::GetUpload(x.clone(), id),
                write,
                Some("x"),
            ),
            (
                "PATCH",
                format!("/v2/x/blobs/uploads/{id_text}"),
                "",
                E::PatchUpload(x.clone(), id),
                write,
                Some("x"),
            ),
            (
                "PUT",
                format!("/v2/x/blobs/uploads/{id_text}"),
                "",
                E::PutUpload(x.clone(), id),
                write,
                Some("x"),
            ),
            (
                "DELETE",
                format!("/v2/x/blobs/uploads/{id_text}"),
                "",
                E::CancelUpload(x.clone(), id),
                write,
                Some("x"),
            ),
            (
                "GET",
                "/v2/_wharf/usage".into(),
                "",
                E::DiskUsage,
                read,
                None,
            ),
            (
                "GET",
                "/reg/v2/_wharf/retention".into(),
                "/reg",
                E::PreviewRetention,
                read,
                None,
            ),
            (
                "POST",
                "/v2/_wharf/retention".into(),
                "",
                E::ApplyRetention,
                delete,
                None,
            ),
            (
                "GET",
                "/v2/_wharf/trash".into(),
                "",
                E::ListTrash,
                read,
                None,
            ),
            (
                "POST",
                "/v2/_wharf/trash/restore".into(),
                "",
                E::RestoreTag,
                write,
                None,
            ),
            (
                "GET",
                "/v2/_wharf/tags/a/b".into(),
                "",
                E::TagTimes(ab.clone()),
                read,
                Some("a/b"),
            ),
            (
                "DELETE",
                "/v2/_wharf/trash".into(),
                "",
                E::MethodNotAllowed(Route::Wharf(WharfRoute::Trash)),
                None,
                None,
            ),
            (
                "POST",
                "/v2/x/manifests/1".into(),
                "",
                E::MethodNotAllowed(Route::Manifest(x.clone(), tag("1"))),
                None,
                None,
            ),
            (
                "PUT",
                "/v2/_catalog".into(),
                "",
                E::MethodNotAllowed(Route::Catalog),
                None,
                None,
            ),
            (
                "POST",
                "/v2/x/nothing".into(),
                "",
                E::Invalid(RouteError::NotFound),
                None,
                None,
            ),
            (
                "HEAD",
                "/v2/x/blobs/uploads/nope".into(),
                "",
                E::Invalid(RouteError::UploadId),
                None,
                None,
            ),
        ];
        for (method, path, prefix, want, access, repo) in cases {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let e = Endpoint::parse(&method, &path, prefix);
            assert_eq!(e, want, "{method} {path} under {prefix:?}");
            assert_eq!(e.access(), access, "{method} {path} under {prefix:?}");
            assert_eq!(
                e.repository().map(RepoName::as_str),
                repo,
                "{method} {path}"
            );
        }
    }
}

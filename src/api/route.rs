//! Parsing `/v2/...` paths into typed routes. Repository names contain `/`, so a path is read from its
//! tail (`/manifests/<ref>`, `/blobs/<digest>`, `/blobs/uploads/<id>`, `/tags/list`, `/referrers/<d>`),
//! as distribution's route patterns do. Every name, tag, digest and upload id is validated here, before
//! any handler runs. Wharf's own API lives under `/v2/_wharf/`: `_wharf` can never be a repository
//! name (a name starts with a letter or digit), so it cannot shadow one.

use crate::registry::digest::{Digest, DigestError};
use crate::registry::names::UploadId;
use crate::registry::names::{NameError, Reference, RepoName};

/// A registry API endpoint with its validated parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`: API version check.
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/<name>/tags/list`.
    Tags(RepoName),
    /// `/v2/<name>/manifests/<tag|digest>`.
    Manifest(RepoName, Reference),
    /// `/v2/<name>/blobs/<digest>`.
    Blob(RepoName, Digest),
    /// `/v2/<name>/blobs/uploads/`: start an upload.
    Uploads(RepoName),
    /// `/v2/<name>/blobs/uploads/<id>`.
    Upload(RepoName, UploadId),
    /// `/v2/<name>/referrers/<digest>`.
    Referrers(RepoName, Digest),
    /// `/v2/_wharf/...`: Wharf's extension for its web UI.
    Wharf(WharfRoute),
}

/// A route of Wharf's API extension, under `/v2/_wharf/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WharfRoute {
    /// `/v2/_wharf/catalog`: every repository, pull-through caches marked.
    Catalog,
    /// `/v2/_wharf/usage`: what uses the disk, by repository.
    Usage,
    /// `/v2/_wharf/retention`: the retention policies' preview, or applying them.
    Retention,
    /// `/v2/_wharf/trash`: the trash of deleted tags.
    Trash,
    /// `/v2/_wharf/trash/restore`: putting a deleted tag back.
    Restore,
    /// `/v2/_wharf/tags/<name>`: a repository's tags with push and last-pull times.
    TagTimes(RepoName),
}

/// Why a path is not a valid route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// No endpoint has this shape.
    NotFound,
    /// The repository name is invalid.
    Name(NameError),
    /// The tag is invalid.
    Tag(NameError),
    /// The digest is invalid.
    Digest(DigestError),
    /// The upload id is not one the registry issues.
    UploadId,
}

/// Splits `path` at the last `marker`, requiring the tail to be one path segment.
fn split_tail<'a>(path: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
    let (head, tail) = path.rsplit_once(marker)?;
    (!tail.contains('/')).then_some((head, tail))
}

fn name(s: &str) -> Result<RepoName, RouteError> {
    s.parse().map_err(RouteError::Name)
}

fn digest(s: &str) -> Result<Digest, RouteError> {
    s.parse().map_err(RouteError::Digest)
}

/// Parses the path after `/v2/_wharf/`.
fn wharf_route(rest: &str) -> Result<WharfRoute, RouteError> {
    match rest {
        "catalog" => Ok(WharfRoute::Catalog),
        "usage" => Ok(WharfRoute::Usage),
        "retention" => Ok(WharfRoute::Retention),
        "trash" => Ok(WharfRoute::Trash),
        "trash/restore" => Ok(WharfRoute::Restore),
        _ => match rest.strip_prefix("tags/") {
            Some(n) => Ok(WharfRoute::TagTimes(name(n)?)),
            None => Err(RouteError::NotFound),
        },
    }
}

/// Parses a request path (without query string).
pub fn parse(path: &str) -> Result<Route, RouteError> {
    let rest = match path {
        "/v2" | "/v2/" => return Ok(Route::Base),
        _ => path.strip_prefix("/v2/").ok_or(RouteError::NotFound)?,
    };
    if rest == "_catalog" {
        return Ok(Route::Catalog);
    }
    if let Some(wharf) = rest.strip_prefix("_wharf/") {
        return wharf_route(wharf).map(Route::Wharf);
    }
    if let Some(n) = rest.strip_suffix("/tags/list") {
        return Ok(Route::Tags(name(n)?));
    }
    if let Some(n) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return Ok(Route::Uploads(name(n)?));
    }
    if let Some((n, id)) = split_tail(rest, "/blobs/uploads/") {
        let id = id.parse().map_err(|_| RouteError::UploadId)?;
        return Ok(Route::Upload(name(n)?, id));
    }
    if let Some((n, d)) = split_tail(rest, "/blobs/") {
        return Ok(Route::Blob(name(n)?, digest(d)?));
    }
    if let Some((n, r)) = split_tail(rest, "/manifests/") {
        let repo = name(n)?;
        let reference = if r.contains(':') {
            Reference::Digest(digest(r)?)
        } else {
            Reference::Tag(r.parse().map_err(RouteError::Tag)?)
        };
        return Ok(Route::Manifest(repo, reference));
    }
    if let Some((n, d)) = split_tail(rest, "/referrers/") {
        return Ok(Route::Referrers(name(n)?, digest(d)?));
    }
    Err(RouteError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> RepoName {
        s.parse().unwrap()
    }

    /// Every endpoint shape parses to its route, names with slashes included, Wharf's extension
    /// under `_wharf/`; bad parts are named.
    #[test]
    fn route_table() {
        let hex = "c".repeat(64);
        let d: Digest = format!("sha256:{hex}").parse().unwrap();
        let id = "0b7c2d3e-6f35-4a9e-8f2d-1c4b5a6d7e8f";
        let cases: Vec<(String, Result<Route, RouteError>)> = vec![
            ("/v2/".into(), Ok(Route::Base)),
            ("/v2".into(), Ok(Route::Base)),
            ("/v2/_catalog".into(), Ok(Route::Catalog)),
            ("/v2/a/b/c/tags/list".into(), Ok(Route::Tags(n("a/b/c")))),
            (
                "/v2/library/ubuntu/manifests/latest".into(),
                Ok(Route::Manifest(
                    n("library/ubuntu"),
                    Reference::Tag("latest".parse().unwrap()),
                )),
            ),
            (
                format!("/v2/x/manifests/sha256:{hex}"),
                Ok(Route::Manifest(n("x"), Reference::Digest(d.clone()))),
            ),
            // A repository may contain path components that look like endpoint words.
            (
                "/v2/manifests/manifests/v1".into(),
                Ok(Route::Manifest(
                    n("manifests"),
                    Reference::Tag("v1".parse().unwrap()),
                )),
            ),
            (
                format!("/v2/a/blobs/blobs/sha256:{hex}"),
                Ok(Route::Blob(n("a/blobs"), d.clone())),
            ),
            (
                "/v2/a/b/blobs/uploads/".into(),
                Ok(Route::Uploads(n("a/b"))),
            ),
            ("/v2/a/b/blobs/uploads".into(), Ok(Route::Uploads(n("a/b")))),
            (
                format!("/v2/a/blobs/uploads/{id}"),
                Ok(Route::Upload(n("a"), id.parse().unwrap())),
            ),
            (
                format!("/v2/a/referrers/sha256:{hex}"),
                Ok(Route::Referrers(n("a"), d.clone())),
            ),
            (
                "/v2/a/blobs/uploads/not-a-uuid".into(),
                Err(RouteError::UploadId),
            ),
            (
                "/v2/a/manifests/sha256:totallywrong".into(),
                Err(RouteError::Digest(DigestError::Hex(64))),
            ),
            (
                "/v2/a/manifests/-bad".into(),
                Err(RouteError::Tag(NameError::Tag)),
            ),
            (
                "/v2/A/tags/list".into(),
                Err(RouteError::Name(NameError::Name)),
            ),
            (
                "/v2/a/../b/tags/list".into(),
                Err(RouteError::Name(NameError::Name)),
            ),
            (
                "/v2/_layers/manifests/x".into(),
                Err(RouteError::Name(NameError::Name)),
            ),
            (
                "/v2/a/blobs/md5:abc".into(),
                Err(RouteError::Digest(DigestError::Algorithm("md5".into()))),
            ),
            (
                "/v2/_wharf/usage".into(),
                Ok(Route::Wharf(WharfRoute::Usage)),
            ),
            (
                "/v2/_wharf/retention".into(),
                Ok(Route::Wharf(WharfRoute::Retention)),
            ),
            (
                "/v2/_wharf/trash".into(),
                Ok(Route::Wharf(WharfRoute::Trash)),
            ),
            (
                "/v2/_wharf/trash/restore".into(),
                Ok(Route::Wharf(WharfRoute::Restore)),
            ),
            (
                "/v2/_wharf/tags/team/app".into(),
                Ok(Route::Wharf(WharfRoute::TagTimes(n("team/app")))),
            ),
            (
                "/v2/_wharf/tags/Bad".into(),
                Err(RouteError::Name(NameError::Name)),
            ),
            ("/v2/_wharf/other".into(), Err(RouteError::NotFound)),
            ("/v2/a/unknown".into(), Err(RouteError::NotFound)),
            ("/v2/a/manifests/x/y".into(), Err(RouteError::NotFound)),
            ("/v1/a".into(), Err(RouteError::NotFound)),
        ];
        for (path, want) in cases {
            assert_eq!(parse(&path), want, "{path}");
        }
    }
}

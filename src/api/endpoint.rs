//! What a request is, worked out once before any other layer looks at it: its method and its path
//! (after `http.prefix`) parsed into an [`Endpoint`], with the access it needs and its repository.
//! Read-only mode, metrics, the health gate, authentication and the handlers read this value from
//! the request's extensions, and the access log gets its kind (`route=`); none of them looks at the
//! URL again, so a prefix cannot make them disagree.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::route::{self, Route, RouteError};
use crate::registry::names::RepoName;

/// What a request does to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads (`GET`, `HEAD`, and anything else that changes nothing).
    Read,
    /// Pushes (`POST`, `PUT`, `PATCH`).
    Write,
    /// Deletes.
    Delete,
}

/// Where a request's path leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/`, answered for load balancers whatever the prefix.
    Root,
    /// A valid API route under the prefix.
    Route(Route),
    /// Under `<prefix>/v2`, but no valid route.
    Invalid(RouteError),
    /// Not under `<prefix>/v2`: not the API.
    Outside,
}

/// A request's method and target: what every layer needs to know about the request's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The request's method.
    pub method: Method,
    /// Where its path leads.
    pub target: Target,
}

impl Endpoint {
    /// The endpoint of `method` on `path`, for an API served under `prefix` (`""` or `/reg`).
    pub fn parse(method: &Method, path: &str, prefix: &str) -> Endpoint {
        let target = if path == "/" {
            Target::Root
        } else {
            match path
                .strip_prefix(prefix)
                .filter(|rest| *rest == "/v2" || rest.starts_with("/v2/"))
            {
                Some(rest) => match route::parse(rest) {
                    Ok(route) => Target::Route(route),
                    Err(e) => Target::Invalid(e),
                },
                None => Target::Outside,
            }
        };
        Endpoint {
            method: method.clone(),
            target,
        }
    }

    /// The access an API request needs, by its method; `None` outside the API.
    pub fn access(&self) -> Option<Access> {
        if matches!(self.target, Target::Root | Target::Outside) {
            return None;
        }
        Some(match self.method {
            Method::POST | Method::PUT | Method::PATCH => Access::Write,
            Method::DELETE => Access::Delete,
            _ => Access::Read,
        })
    }

    /// The route, when the path is a valid one.
    pub fn route(&self) -> Option<&Route> {
        match &self.target {
            Target::Route(route) => Some(route),
            _ => None,
        }
    }

    /// The repository the request is about, if any.
    pub fn repository(&self) -> Option<&RepoName> {
        match self.route()? {
            Route::Base | Route::Catalog => None,
            Route::Tags(name)
            | Route::Manifest(name, _)
            | Route::Blob(name, _)
            | Route::Uploads(name)
            | Route::Upload(name, _)
            | Route::Referrers(name, _) => Some(name),
        }
    }

    /// The kind of endpoint, as a metrics label.
    pub fn kind(&self) -> &'static str {
        match &self.target {
            Target::Root => "root",
            Target::Route(Route::Base) => "base",
            Target::Route(Route::Catalog) => "catalog",
            Target::Route(Route::Tags(..)) => "tags",
            Target::Route(Route::Manifest(..)) => "manifest",
            Target::Route(Route::Blob(..)) => "blob",
            Target::Route(Route::Uploads(..) | Route::Upload(..)) => "upload",
            Target::Route(Route::Referrers(..)) => "referrers",
            Target::Invalid(_) | Target::Outside => "other",
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

    /// Every kind of path has its metrics label; unknown paths share one.
    #[test]
    fn kinds() {
        let d = format!("sha256:{}", "a".repeat(64));
        let cases = [
            ("/", "root"),
            ("/v2/", "base"),
            ("/v2/_catalog", "catalog"),
            ("/v2/a/b/tags/list", "tags"),
            ("/v2/a/manifests/latest", "manifest"),
            (&format!("/v2/a/blobs/{d}"), "blob"),
            ("/v2/a/blobs/uploads/", "upload"),
            (&format!("/v2/a/referrers/{d}"), "referrers"),
            ("/favicon.ico", "other"),
        ];
        for (path, want) in cases {
            assert_eq!(
                Endpoint::parse(&Method::GET, path, "").kind(),
                want,
                "{path}"
            );
        }
    }

    /// Method and path (with and without a prefix) give the endpoint's kind, access and repository.
    #[test]
    fn endpoint_table() {
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a str,
            &'a str,
            Option<Access>,
            Option<&'a str>,
        );
        let cases: &[Case] = &[
            ("GET", "/", "", "root", None, None),
            ("GET", "/", "/reg", "root", None, None),
            ("GET", "/v2/", "", "base", Some(Access::Read), None),
            ("GET", "/reg/v2/", "/reg", "base", Some(Access::Read), None),
            ("GET", "/v2/", "/reg", "other", None, None),
            (
                "GET",
                "/reg/v2/_catalog",
                "/reg",
                "catalog",
                Some(Access::Read),
                None,
            ),
            (
                "GET",
                "/v2/a/b/tags/list",
                "",
                "tags",
                Some(Access::Read),
                Some("a/b"),
            ),
            (
                "PUT",
                "/v2/app/manifests/1",
                "",
                "manifest",
                Some(Access::Write),
                Some("app"),
            ),
            (
                "DELETE",
                "/reg/v2/app/manifests/1",
                "/reg",
                "manifest",
                Some(Access::Delete),
                Some("app"),
            ),
            (
                "POST",
                "/reg/v2/x/blobs/uploads/",
                "/reg",
                "upload",
                Some(Access::Write),
                Some("x"),
            ),
            (
                "PATCH",
                "/v2/x/blobs/uploads/2b1f3c4e-8c2a-4a8e-9d6c-0a1b2c3d4e5f",
                "",
                "upload",
                Some(Access::Write),
                Some("x"),
            ),
            (
                "HEAD",
                "/v2/x/blobs/sha256:bad",
                "",
                "other",
                Some(Access::Read),
                None,
            ),
            (
                "POST",
                "/v2/x/nothing",
                "",
                "other",
                Some(Access::Write),
                None,
            ),
            ("GET", "/ui/", "/reg", "other", None, None),
        ];
        for (method, path, prefix, kind, access, repo) in cases {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let e = Endpoint::parse(&method, path, prefix);
            assert_eq!(e.kind(), *kind, "{method} {path} under {prefix:?}");
            assert_eq!(e.access(), *access, "{method} {path} under {prefix:?}");
            assert_eq!(
                e.repository().map(RepoName::as_str),
                *repo,
                "{method} {path} under {prefix:?}"
            );
        }
    }
}

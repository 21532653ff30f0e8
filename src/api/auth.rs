//! The HTTP side of authentication: reads the `Authorization` header and the client address, turns
//! the request's [`Endpoint`] access into what [`crate::auth`] checks (pull for reads, push for
//! writes and every upload step, delete for deletes, catalog for the catalog, Wharf's marked catalog and the disk usage,
//! admin for Wharf's registry-wide retention and trash endpoints), asks it, and answers 401 `UNAUTHORIZED` with a
//! `WWW-Authenticate` challenge, 403 `DENIED` or 429 `TOOMANYREQUESTS`. With token auth a valid
//! token without the needed access gets 401 with `error="insufficient_scope"` instead of 403, so
//! clients fetch a token for the scope the challenge names, as with registry:2. On success the
//! [`Principal`] is stored in the request's extensions.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::uri::PathAndQuery;
use axum::http::{header, HeaderMap, Uri};
use headers::authorization::{Basic, Bearer};
use headers::{Authorization, HeaderMapExt};

use super::client_addr::ClientAddr;
use super::endpoint::{self, Endpoint};
use super::{ApiError, AppState, Code};
use crate::auth::{Access, Authenticator, Failure, Presented, Principal};
use crate::config::AccessAction;
use crate::registry::names::RepoName;

/// Authenticates and authorizes `request` for `endpoint`. What needs no access (an invalid path, a
/// method the route does not take) still needs authentication, so it reveals nothing to strangers.
pub(crate) async fn authorize(
    app: &AppState,
    endpoint: &Endpoint,
    request: &mut Request,
) -> Result<(), ApiError> {
    let Some(auth) = &app.auth else {
        return Ok(());
    };
    let access = required(endpoint);
    let principal = match auth
        .authenticate(client_ip(request), presented(request.headers()))
        .await
    {
        Ok(principal) => principal,
        Err(Failure::Throttled(wait)) => {
            return Err(ApiError::new(
                Code::TooManyRequests,
                "too many failed logins from this address; try again later",
            )
            .with_header(header::RETRY_AFTER, &wait.as_secs().max(1).to_string()))
        }
        Err(Failure::Missing | Failure::Invalid) => {
            return Err(unauthorized(auth, access, false, request.headers()))
        }
    };
    if !auth.allows(&principal, access) {
        return Err(match principal {
            Principal::Anonymous => unauthorized(auth, access, false, request.headers()),
            _ if auth.rechallenges_denied() => unauthorized(auth, access, true, request.headers()),
            _ => ApiError::new(Code::Denied, "requested access to the resource is denied"),
        });
    }
    if matches!(endpoint, Endpoint::StartUpload(_)) {
        drop_unreadable_mount(auth, &principal, request);
    }
    request.extensions_mut().insert(principal);
    Ok(())
}

/// What `endpoint` needs, in the terms of the access policy and of token scopes.
fn required(endpoint: &Endpoint) -> Access<'_> {
    use Endpoint as E;
    match endpoint {
        E::ListRepositories | E::MarkedCatalog | E::DiskUsage => return Access::Catalog,
        E::PreviewRetention | E::ApplyRetention | E::ListTrash | E::RestoreTag => {
            return Access::Admin
        }
        _ => {}
    }
    match (endpoint.repository(), endpoint.access()) {
        (Some(name), Some(access)) => Access::Repository(
            name.as_str(),
            match access {
                endpoint::Access::Read => AccessAction::Pull,
                endpoint::Access::Write => AccessAction::Push,
                endpoint::Access::Delete => AccessAction::Delete,
            },
        ),
        _ => Access::Base,
    }
}

/// The credentials in the `Authorization` header.
fn presented(headers: &HeaderMap) -> Presented {
    if !headers.contains_key(header::AUTHORIZATION) {
        return Presented::Nothing;
    }
    if let Some(Authorization(basic)) = headers.typed_get::<Authorization<Basic>>() {
        return Presented::Basic {
            user: basic.username().to_string(),
            password: basic.password().to_string(),
        };
    }
    match headers.typed_get::<Authorization<Bearer>>() {
        Some(Authorization(bearer)) => Presented::Bearer(bearer.token().to_string()),
        None => Presented::Unusable,
    }
}

/// The address of the connected client (unspecified when the server runs without connect info).
/// The client's address as [`super::client_addr`] worked it out, else the connection's peer.
fn client_ip(request: &Request) -> IpAddr {
    if let Some(ClientAddr(ip)) = request.extensions().get::<ClientAddr>() {
        return *ip;
    }
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

fn unauthorized(
    auth: &Authenticator,
    access: Access<'_>,
    insufficient: bool,
    headers: &HeaderMap,
) -> ApiError {
    let proto = header_first(headers, "x-forwarded-proto").unwrap_or("https");
    let host = header_first(headers, "x-forwarded-host")
        .or_else(|| header_first(headers, header::HOST.as_str()))
        .unwrap_or("localhost");
    let challenge = auth.challenge(access, insufficient, &format!("{proto}://{host}"));
    ApiError::new(Code::Unauthorized, "authentication required")
        .with_header(header::WWW_AUTHENTICATE, &challenge)
}

/// The first value of a possibly comma-separated header.
fn header_first<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let value = headers.get(name)?.to_str().ok()?;
    value
        .split(',')
        .next()
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// A cross-repository mount (`?mount=<digest>&from=<repo>`) from a repository the principal may not
/// pull from becomes a plain upload session, as the spec allows, so blobs never leak across
/// repositories.
fn drop_unreadable_mount(auth: &Authenticator, principal: &Principal, request: &mut Request) {
    let Some(query) = request.uri().query() else {
        return;
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let Some((_, from)) = pairs.iter().find(|(k, _)| k == "from") else {
        return;
    };
    let readable = from.parse::<RepoName>().is_ok_and(|from| {
        auth.allows(
            principal,
            Access::Repository(from.as_str(), AccessAction::Pull),
        )
    });
    if readable {
        return;
    }
    let kept: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "from" && k != "mount")
        .collect();
    let path = request.uri().path();
    let rebuilt = match serde_urlencoded::to_string(&kept) {
        Ok(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_string(),
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(pq) = rebuilt.parse::<PathAndQuery>() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::*;

    /// Each endpoint needs the access distribution's token scopes would ask for; what does nothing
    /// needs only authentication.
    #[test]
    fn required_access_table() {
        let d = format!("sha256:{}", "c".repeat(64));
        let id = "0b7c2d3e-6f35-4a9e-8f2d-1c4b5a6d7e8f";
        let repo = |a| Access::Repository("a/b", a);
        use AccessAction::*;
        let cases = [
            (Method::GET, "/v2/".to_string(), Access::Base),
            (Method::GET, "/v2/_catalog".into(), Access::Catalog),
            (Method::GET, "/v2/a/b/tags/list".into(), repo(Pull)),
            (Method::GET, format!("/v2/a/b/referrers/{d}"), repo(Pull)),
            (Method::HEAD, "/v2/a/b/manifests/v1".into(), repo(Pull)),
            (Method::PUT, "/v2/a/b/manifests/v1".into(), repo(Push)),
            (Method::DELETE, "/v2/a/b/manifests/v1".into(), repo(Delete)),
            (Method::GET, format!("/v2/a/b/blobs/{d}"), repo(Pull)),
            (Method::DELETE, format!("/v2/a/b/blobs/{d}"), repo(Delete)),
            (Method::POST, "/v2/a/b/blobs/uploads/".into(), repo(Push)),
            (
                Method::GET,
                format!("/v2/a/b/blobs/uploads/{id}"),
                repo(Push),
            ),
            (
                Method::PATCH,
                format!("/v2/a/b/blobs/uploads/{id}"),
                repo(Push),
            ),
            (
                Method::DELETE,
                format!("/v2/a/b/blobs/uploads/{id}"),
                repo(Push),
            ),
            (Method::GET, "/v2/_wharf/usage".into(), Access::Catalog),
            (Method::GET, "/v2/_wharf/catalog".into(), Access::Catalog),
            (Method::GET, "/v2/_wharf/retention".into(), Access::Admin),
            (Method::POST, "/v2/_wharf/retention".into(), Access::Admin),
            (Method::GET, "/v2/_wharf/trash".into(), Access::Admin),
            (
                Method::POST,
                "/v2/_wharf/trash/restore".into(),
                Access::Admin,
            ),
            (Method::GET, "/v2/_wharf/tags/a/b".into(), repo(Pull)),
            (Method::POST, "/v2/a/b/manifests/v1".into(), Access::Base),
            (Method::GET, "/v2/a/b/nothing".into(), Access::Base),
        ];
        for (method, path, want) in cases {
            let endpoint = Endpoint::parse(&method, &path, "");
            assert_eq!(required(&endpoint), want, "{method} {path}");
        }
    }

    /// Basic credentials are decoded; other schemes and garbage are unusable, absence is nothing.
    #[test]
    fn presented_credentials() {
        let mut h = HeaderMap::new();
        assert_eq!(presented(&h), Presented::Nothing);
        h.insert(header::AUTHORIZATION, "Basic dTpwOmM=".parse().unwrap());
        assert_eq!(
            presented(&h),
            Presented::Basic {
                user: "u".into(),
                password: "p:c".into()
            }
        );
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(presented(&h), Presented::Bearer("abc".into()));
        h.insert(header::AUTHORIZATION, "Digest x=y".parse().unwrap());
        assert_eq!(presented(&h), Presented::Unusable);
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(presented(&h), Presented::Unusable);
    }
}

//! Discovery endpoints: `_catalog`, `tags/list` and `referrers`, with `n`/`last` pagination and an
//! RFC 5988 `Link` header pointing at the next page.

use axum::body::Body;
use axum::http::Uri;
use axum::http::{header, StatusCode};
use serde::{Deserialize, Serialize};

use super::{query, respond, ApiError, ApiResult, AppState, Code, OCI_FILTERS_APPLIED};
use crate::registry::digest::Digest;
use crate::registry::listing::{Page, ReferrerDescriptor};
use crate::registry::manifest_format::OCI_INDEX;
use crate::registry::names::RepoName;

#[derive(Deserialize)]
struct PageQuery {
    n: Option<String>,
    last: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReferrersQuery {
    artifact_type: Option<String>,
}

fn page_query(uri: &Uri) -> Result<(Option<usize>, Option<String>), ApiError> {
    let q: PageQuery = query(uri, Code::PaginationNumberInvalid)?;
    let n =
        q.n.map(|n| {
            n.parse::<usize>().map_err(|_| {
                ApiError::new(
                    Code::PaginationNumberInvalid,
                    format!("n={n:?} is not a number"),
                )
            })
        })
        .transpose()?;
    Ok((n, q.last))
}

/// JSON response with a `Link` to the next page when there is one.
fn page_response<T: Serialize>(body: &T, page: &Page, path: &str, n: Option<usize>) -> ApiResult {
    let mut fields = vec![(header::CONTENT_TYPE, "application/json".to_string())];
    if let (true, Some(last)) = (page.more, page.entries.last()) {
        let mut query = vec![("last", last.clone())];
        if let Some(n) = n {
            query.insert(0, ("n", n.to_string()));
        }
        let query = serde_urlencoded::to_string(query).unwrap_or_default();
        fields.push((header::LINK, format!("<{path}?{query}>; rel=\"next\"")));
    }
    Ok(respond(StatusCode::OK, &fields, json_body(body)?))
}

fn json_body<T: Serialize>(body: &T) -> Result<Body, ApiError> {
    serde_json::to_vec(body).map(Body::from).map_err(|e| {
        tracing::error!(error = %e, "serialising a listing");
        ApiError::new(Code::Unknown, "internal server error")
    })
}

#[derive(Serialize)]
struct CatalogBody<'a> {
    repositories: &'a [String],
}

/// `GET /v2/_catalog`.
pub async fn catalog(app: &AppState, uri: &Uri) -> ApiResult {
    let (n, last) = page_query(uri)?;
    let page = app.registry.catalog(n, last.as_deref()).await?;
    page_response(
        &CatalogBody {
            repositories: &page.entries,
        },
        &page,
        "/v2/_catalog",
        n.or(Some(page.entries.len())),
    )
}

#[derive(Serialize)]
struct TagsBody<'a> {
    name: &'a str,
    tags: &'a [String],
}

/// `GET /v2/<name>/tags/list`.
pub async fn tags(app: &AppState, name: &RepoName, uri: &Uri) -> ApiResult {
    let (n, last) = page_query(uri)?;
    let page = app.registry.list_tags(name, n, last.as_deref()).await?;
    let body = TagsBody {
        name: name.as_str(),
        tags: &page.entries,
    };
    page_response(
        &body,
        &page,
        &format!("{}/v2/{name}/tags/list", app.urls.prefix),
        n,
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReferrersIndex<'a> {
    schema_version: u32,
    media_type: &'static str,
    manifests: &'a [ReferrerDescriptor],
}

/// `GET /v2/<name>/referrers/<digest>`: an OCI index of the manifests whose subject is `digest`.
pub async fn referrers(app: &AppState, name: &RepoName, subject: &Digest, uri: &Uri) -> ApiResult {
    let q: ReferrersQuery = query(uri, Code::Unsupported)?;
    let found = app
        .registry
        .referrers(name, subject, q.artifact_type.as_deref())
        .await?;
    let index = ReferrersIndex {
        schema_version: 2,
        media_type: OCI_INDEX,
        manifests: &found,
    };
    let mut fields = vec![(header::CONTENT_TYPE, OCI_INDEX.to_string())];
    if q.artifact_type.is_some() {
        fields.push((OCI_FILTERS_APPLIED, "artifactType".to_string()));
    }
    Ok(respond(StatusCode::OK, &fields, json_body(&index)?))
}

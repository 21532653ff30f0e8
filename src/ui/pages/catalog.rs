//! The catalog page (`/`): every repository, filtered by `?q=`, grouped by namespace (the first path
//! component), `catalog_page_size` at a time, with tag count and storage use of each. The whole name
//! list is read from the upstream's paginated `_catalog`; only the shown page is inspected further.
//! From a Wharf registry's extension it also marks pull-through caches and sorts by size or last
//! push (`?sort=`, within each namespace; only those orders ask for every repository's usage);
//! other registries sort by name only.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::stream::{self, StreamExt};
use serde::Deserialize;

use super::{chosen_sort, credentials, finish, query, render, sort_links, Chrome, Pager, SortLink};
use crate::ui::error::UiError;
use crate::ui::inspect::CONCURRENCY;
use crate::ui::model::human_size;
use crate::ui::wharf::{self, RepoUsage};
use crate::ui::UiState;

/// The ways the page sorts.
const SORTS: [(&str, &str); 3] = [("name", "name"), ("size", "size"), ("pushed", "last push")];

/// Query parameters of the catalog.
#[derive(Debug, Default, Deserialize)]
pub struct CatalogQuery {
    /// Case-insensitive substring filter.
    #[serde(default)]
    q: String,
    /// Page number, from 1 (anything else means the first).
    #[serde(default)]
    page: Option<String>,
    /// `name` (default), `size` or `pushed`.
    #[serde(default)]
    sort: Option<String>,
}

/// One repository row.
pub struct RepoRow {
    name: String,
    href: String,
    tags: String,
    size: String,
    size_exact: String,
    mirrored: bool,
}

/// Repositories of one namespace.
pub struct Group {
    namespace: String,
    repos: Vec<RepoRow>,
}

#[derive(Template)]
#[template(path = "catalog.html")]
struct CatalogPage {
    chrome: Chrome,
    query: String,
    summary: String,
    sort: Vec<SortLink>,
    groups: Vec<Group>,
    pager: Pager,
}

/// `GET /`.
pub async fn page(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    Query(q): Query<CatalogQuery>,
) -> Response {
    finish(&state, build(&state, &headers, q).await)
}

/// The namespace of a repository: its first path component, or `""` for a top-level name.
pub fn namespace(name: &str) -> &str {
    name.split_once('/').map_or("", |(ns, _)| ns)
}

async fn build(state: &UiState, headers: &HeaderMap, q: CatalogQuery) -> Result<Response, UiError> {
    let auth = credentials(headers);
    let upstream = state.inspector.upstream();
    let mut names = upstream
        .catalog(&auth, state.config.catalog_elements_limit)
        .await?;
    let filter = q.q.trim().to_lowercase();
    if !filter.is_empty() {
        names.retain(|n| n.to_lowercase().contains(&filter));
    }
    // The mirror mark, and sorting by size or last push, come from a Wharf registry's extension.
    let marks = wharf::catalog(upstream, &auth).await.ok();
    let mirrored: HashSet<String> = marks
        .iter()
        .flatten()
        .filter(|e| e.mirrored)
        .map(|e| e.repository.clone())
        .collect();
    let wanted = chosen_sort(q.sort.as_deref(), &SORTS);
    let usage: HashMap<String, RepoUsage> = if marks.is_some() && wanted != "name" {
        wharf::disk_usage(upstream, &auth)
            .await
            .map(|u| {
                u.repositories
                    .into_iter()
                    .map(|r| (r.repository.clone(), r))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        HashMap::new()
    };
    let sort = if usage.is_empty() { "name" } else { wanted };
    let bytes = |n: &String| usage.get(n).map_or(0, |u| u.bytes);
    let pushed = |n: &String| usage.get(n).and_then(|u| u.last_pushed.clone());
    names.sort_by(|a, b| {
        let by = match sort {
            "size" => bytes(b).cmp(&bytes(a)),
            "pushed" => pushed(b).cmp(&pushed(a)),
            _ => std::cmp::Ordering::Equal,
        };
        namespace(a)
            .cmp(namespace(b))
            .then(by)
            .then_with(|| a.cmp(b))
    });
    let per_page = state.config.catalog_page_size;
    let pager = Pager::new(
        q.page.as_deref().and_then(|p| p.parse().ok()).unwrap_or(1),
        names.len(),
        per_page,
        |page| {
            let mut pairs = vec![("page", page.to_string())];
            if sort != "name" {
                pairs.insert(0, ("sort", sort.to_string()));
            }
            if !filter.is_empty() {
                pairs.insert(0, ("q", q.q.trim().to_string()));
            }
            format!("{}?{}", state.links.home(), query(&pairs))
        },
    );
    let range = pager.range(names.len(), per_page);
    let shown = &names[range.clone()];
    let (auth, mirrored) = (&auth, &mirrored);
    let usages: Vec<_> = stream::iter(shown.iter().cloned())
        .map(|name| async move {
            if !mirrored.contains(&name) {
                return state.inspector.usage(auth, &name).await;
            }
            // A pull-through cache lists the upstream's tags: count only what it stored.
            let upstream = state.inspector.upstream();
            let stored: Vec<String> = wharf::tag_times(upstream, auth, &name)
                .await?
                .into_iter()
                .map(|t| t.tag)
                .collect();
            state.inspector.usage_of(auth, &name, &stored).await
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut groups: BTreeMap<&str, Vec<RepoRow>> = BTreeMap::new();
    for (name, usage) in shown.iter().zip(usages) {
        if let Err(UiError::Unauthorized { bearer }) = usage {
            return Err(UiError::Unauthorized { bearer });
        }
        let (tags, size, size_exact) = match usage {
            Ok(u) => (
                u.tags.to_string(),
                human_size(u.size),
                format!("{} bytes", u.size),
            ),
            Err(e) => ("—".into(), "—".into(), e.to_string()),
        };
        groups.entry(namespace(name)).or_default().push(RepoRow {
            name: name.clone(),
            href: state.links.repository(name),
            tags,
            size,
            size_exact,
            mirrored: mirrored.contains(name),
        });
    }
    let summary = match (names.len(), filter.is_empty()) {
        (0, _) => String::new(),
        (1, true) => "1 repository".to_string(),
        (1, false) => "1 repository matches".to_string(),
        (n, true) => format!(
            "{n} repositories; showing {}–{}",
            range.start + 1,
            range.end
        ),
        (n, false) => format!(
            "{n} repositories match; showing {}–{}",
            range.start + 1,
            range.end
        ),
    };
    render(&CatalogPage {
        chrome: Chrome::of(state),
        query: q.q.trim().to_string(),
        summary,
        sort: if marks.is_some() {
            sort_links(state.links.home(), &SORTS, sort)
        } else {
            Vec::new()
        },
        groups: groups
            .into_iter()
            .map(|(namespace, repos)| Group {
                namespace: namespace.to_string(),
                repos,
            })
            .collect(),
        pager,
    })
}

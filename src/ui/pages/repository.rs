//! The repository page (`/r/<name>`): its tags, `taglist_page_size` at a time, sorted by name or
//! newest first, with size, creation date, platforms and (optionally) digest, and the delete form.
//! Sorting by date needs every tag's config, so that order inspects all tags; by name only the
//! shown page is inspected.

use askama::Template;
use axum::http::HeaderMap;
use axum::response::Response;

use super::{credentials, query, render, short_digest, Chrome, Pager};
use crate::registry::names::RepoName;
use crate::ui::error::UiError;
use crate::ui::inspect::TagInfo;
use crate::ui::model::{human_size, short_time};
use crate::ui::routes::Links;
use crate::ui::UiState;

/// Query parameters of the repository page.
#[derive(Debug, Default)]
pub struct RepoQuery {
    /// `name` (default) or `newest`.
    sort: Option<String>,
    /// Page number, from 1.
    page: Option<usize>,
}

impl RepoQuery {
    /// From the raw `sort` and `page` parameters; a page that is not a number means the first.
    pub fn new(sort: Option<String>, page: Option<String>) -> RepoQuery {
        RepoQuery {
            sort,
            page: page.and_then(|p| p.parse().ok()),
        }
    }
}

/// One tag row.
pub struct TagRow {
    tag: String,
    href: String,
    size: String,
    size_exact: String,
    created: String,
    platforms: Vec<String>,
    digest: String,
    digest_short: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "repository.html")]
struct RepositoryPage {
    chrome: Chrome,
    name: String,
    tag_count: usize,
    sort_newest: bool,
    sort_name_href: String,
    sort_newest_href: String,
    rows: Vec<TagRow>,
    show_digest: bool,
    delete_action: String,
    delete_repository_href: String,
    pager: Pager,
}

fn row(links: &Links, tag: String, name: &str, info: Result<TagInfo, UiError>) -> TagRow {
    let href = links.tag(name, &tag);
    match info {
        Ok(info) => TagRow {
            href,
            size: human_size(info.image.size),
            size_exact: format!("{} bytes", info.image.size),
            created: info
                .image
                .created
                .as_deref()
                .map(short_time)
                .unwrap_or_default(),
            platforms: info.image.platforms.clone(),
            digest: info.image.digest.clone(),
            digest_short: short_digest(&info.image.digest),
            error: None,
            tag,
        },
        Err(e) => TagRow {
            href,
            size: String::new(),
            size_exact: String::new(),
            created: String::new(),
            platforms: Vec::new(),
            digest: String::new(),
            digest_short: String::new(),
            error: Some(e.to_string()),
            tag,
        },
    }
}

/// Renders `/r/<name>`.
pub async fn page(
    state: &UiState,
    headers: &HeaderMap,
    name: &RepoName,
    q: RepoQuery,
) -> Result<Response, UiError> {
    let auth = credentials(headers);
    let name = name.as_str();
    let mut tags = state.inspector.upstream().tags(&auth, name).await?;
    tags.sort();
    let newest = q.sort.as_deref() == Some("newest");
    let per_page = state.config.taglist_page_size;
    let sort = if newest { "newest" } else { "name" };
    let pager = Pager::new(q.page.unwrap_or(1), tags.len(), per_page, |page| {
        format!(
            "{}?{}",
            state.links.repository(name),
            query(&[("sort", sort.to_string()), ("page", page.to_string())])
        )
    });
    let range = pager.range(tags.len(), per_page);
    let rows: Vec<TagRow> = if newest {
        let mut all = state.inspector.tags(&auth, name, &tags).await;
        all.sort_by_key(|(_, info)| {
            std::cmp::Reverse(info.as_ref().ok().and_then(|i| i.image.created_time()))
        });
        all.into_iter()
            .skip(range.start)
            .take(range.len())
            .map(|(tag, info)| row(&state.links, tag, name, info))
            .collect()
    } else {
        state
            .inspector
            .tags(&auth, name, &tags[range])
            .await
            .into_iter()
            .map(|(tag, info)| row(&state.links, tag, name, info))
            .collect()
    };
    let base = state.links.repository(name);
    render(&RepositoryPage {
        chrome: Chrome::of(state),
        name: name.to_string(),
        tag_count: tags.len(),
        sort_newest: newest,
        sort_name_href: format!("{base}?sort=name"),
        sort_newest_href: format!("{base}?sort=newest"),
        rows,
        show_digest: state.config.show_content_digest,
        delete_action: state.links.delete(name),
        delete_repository_href: state.links.delete_repository(name),
        pager,
    })
}

//! The repository page (`/r/<name>`): its tags, `taglist_page_size` at a time, sorted by name, newest
//! first (image creation), last push or size, with size, creation date, platforms, (optionally)
//! digest, and, from a Wharf registry's extension, push and last-pull times; and the delete form.
//! Sorting by creation or size needs every tag's manifest and config, so those orders inspect all
//! tags; by name or push only the shown page is inspected.

use std::collections::HashMap;

use askama::Template;
use axum::http::HeaderMap;
use axum::response::Response;

use super::SortLink;
use super::{chosen_sort, credentials, query, render, short_digest, sort_links, Chrome, Pager};
use crate::registry::names::RepoName;
use crate::ui::error::UiError;
use crate::ui::inspect::TagInfo;
use crate::ui::model::{human_size, short_time};
use crate::ui::routes::Links;
use crate::ui::wharf::{self, TagTimes};
use crate::ui::UiState;

/// The ways the page sorts.
const SORTS: [(&str, &str); 4] = [
    ("name", "name"),
    ("newest", "newest first"),
    ("pushed", "last push"),
    ("size", "size"),
];

/// Query parameters of the repository page.
#[derive(Debug, Default)]
pub struct RepoQuery {
    /// `name` (default), `newest`, `pushed` or `size`.
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
    pushed: String,
    pulled: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "repository.html")]
struct RepositoryPage {
    chrome: Chrome,
    name: String,
    tag_count: usize,
    sort: Vec<SortLink>,
    rows: Vec<TagRow>,
    show_digest: bool,
    show_times: bool,
    delete_action: String,
    delete_repository_href: String,
    pager: Pager,
}

fn row(
    links: &Links,
    times: &HashMap<String, TagTimes>,
    tag: String,
    name: &str,
    info: Result<TagInfo, UiError>,
) -> TagRow {
    let href = links.tag(name, &tag);
    let time = |pick: fn(&TagTimes) -> &Option<String>, missing: &str| {
        times
            .get(&tag)
            .map(|t| pick(t).as_deref().map_or(missing.to_string(), short_time))
            .unwrap_or_default()
    };
    let pushed = time(|t| &t.pushed, "");
    let pulled = time(|t| &t.pulled, "never");
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
            pushed,
            pulled,
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
            pushed,
            pulled,
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
    let upstream = state.inspector.upstream();
    // Push and pull times come from a Wharf registry's extension; other registries have none. Its
    // tags are the stored ones: for a pull-through cache, whose tag list is the upstream's, the page
    // shows what is cached and never pulls the other tags through it.
    let times: Option<HashMap<String, TagTimes>> = wharf::tag_times(upstream, &auth, name)
        .await
        .ok()
        .map(|all| all.into_iter().map(|t| (t.tag.clone(), t)).collect());
    let mut tags = match &times {
        Some(times) => times.keys().cloned().collect(),
        None => upstream.tags(&auth, name).await?,
    };
    tags.sort();
    let times = times.unwrap_or_default();
    let sort = chosen_sort(q.sort.as_deref(), &SORTS);
    let per_page = state.config.taglist_page_size;
    let pager = Pager::new(q.page.unwrap_or(1), tags.len(), per_page, |page| {
        format!(
            "{}?{}",
            state.links.repository(name),
            query(&[("sort", sort.to_string()), ("page", page.to_string())])
        )
    });
    let range = pager.range(tags.len(), per_page);
    let make_row = |(tag, info)| row(&state.links, &times, tag, name, info);
    let rows: Vec<TagRow> = if sort == "newest" || sort == "size" {
        let mut all = state.inspector.tags(&auth, name, &tags).await;
        if sort == "newest" {
            all.sort_by_key(|(_, info)| {
                std::cmp::Reverse(info.as_ref().ok().and_then(|i| i.image.created_time()))
            });
        } else {
            all.sort_by_key(|(_, info)| {
                std::cmp::Reverse(info.as_ref().map_or(0, |i| i.image.size))
            });
        }
        all.into_iter()
            .skip(range.start)
            .take(range.len())
            .map(make_row)
            .collect()
    } else {
        if sort == "pushed" {
            // RFC 3339 times in UTC sort as text; tags without a time go last.
            tags.sort_by(|a, b| {
                let pushed = |t: &String| times.get(t).and_then(|t| t.pushed.clone());
                pushed(b).cmp(&pushed(a)).then_with(|| a.cmp(b))
            });
        }
        state
            .inspector
            .tags(&auth, name, &tags[range])
            .await
            .into_iter()
            .map(make_row)
            .collect()
    };
    let base = state.links.repository(name);
    render(&RepositoryPage {
        chrome: Chrome::of(state),
        name: name.to_string(),
        tag_count: tags.len(),
        sort: sort_links(&base, &SORTS, sort),
        rows,
        show_digest: state.config.show_content_digest,
        show_times: !times.is_empty(),
        delete_action: state.links.delete(name),
        delete_repository_href: state.links.delete_repository(name),
        pager,
    })
}

//! The disk page (`/disk`): what uses the registry's disk, from Wharf's usage extension. Every
//! repository with its size, the bytes only it uses (what deleting it would free) and the bytes it
//! shares with others, its tag count and last push, pull-through caches marked; sorted by size
//! (default), name or last push.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::{chosen_sort, credentials, finish, render, sort_links, Chrome, SortLink};
use crate::ui::error::UiError;
use crate::ui::model::{human_size, short_time};
use crate::ui::wharf::{self, RepoUsage};
use crate::ui::UiState;

/// The ways the page sorts.
const SORTS: [(&str, &str); 3] = [("size", "size"), ("name", "name"), ("pushed", "last push")];

/// Query parameters of the disk page.
#[derive(Debug, Default, Deserialize)]
pub struct DiskQuery {
    /// `size`, `name` or `pushed`.
    sort: Option<String>,
}

/// One repository row.
pub struct DiskRow {
    name: String,
    href: String,
    mirrored: bool,
    tags: usize,
    size: String,
    unique: String,
    shared: String,
    exact: String,
    pushed: String,
}

#[derive(Template)]
#[template(path = "disk.html")]
struct DiskPage {
    chrome: Chrome,
    total: String,
    sort: Vec<SortLink>,
    rows: Vec<DiskRow>,
}

/// `GET /disk`.
pub async fn page(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    Query(q): Query<DiskQuery>,
) -> Response {
    finish(&state, build(&state, &headers, q).await)
}

fn row(state: &UiState, usage: RepoUsage) -> DiskRow {
    DiskRow {
        href: state.links.repository(&usage.repository),
        mirrored: usage.mirrored,
        tags: usage.tags,
        size: human_size(usage.bytes),
        unique: human_size(usage.unique_bytes),
        shared: human_size(usage.shared_bytes),
        exact: format!(
            "{} bytes: {} unique, {} shared",
            usage.bytes, usage.unique_bytes, usage.shared_bytes
        ),
        pushed: usage
            .last_pushed
            .as_deref()
            .map(short_time)
            .unwrap_or_default(),
        name: usage.repository,
    }
}

async fn build(state: &UiState, headers: &HeaderMap, q: DiskQuery) -> Result<Response, UiError> {
    let auth = credentials(headers);
    let mut usage = wharf::disk_usage(state.inspector.upstream(), &auth).await?;
    let sort = chosen_sort(q.sort.as_deref(), &SORTS);
    match sort {
        "name" => usage
            .repositories
            .sort_by(|a, b| a.repository.cmp(&b.repository)),
        // RFC 3339 times in UTC sort as text; repositories without tags go last.
        "pushed" => usage
            .repositories
            .sort_by(|a, b| b.last_pushed.cmp(&a.last_pushed)),
        _ => {}
    }
    render(&DiskPage {
        chrome: Chrome::of(state),
        total: human_size(usage.total_bytes),
        sort: sort_links(&state.links.disk(), &SORTS, sort),
        rows: usage
            .repositories
            .into_iter()
            .map(|u| row(state, u))
            .collect(),
    })
}

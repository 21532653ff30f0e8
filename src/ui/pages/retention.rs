//! The retention page (`/retention`): what the registry's retention policies would delete, per
//! repository, with the bytes that would be freed, from Wharf's retention extension; nothing is
//! deleted by looking. Its form is the confirmation: a same-site POST applies the policies (the tags
//! go to the trash, then the registry collects garbage) and the result lists what went.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::delete::{check_same_origin, require_enabled};
use super::{credentials, finish, render, short_digest, Chrome, MessagePage};
use crate::ui::error::UiError;
use crate::ui::model::{human_size, short_time};
use crate::ui::wharf::{self, RepoRetention};
use crate::ui::UiState;

/// A tag the policies doom.
pub struct DoomedRow {
    tag: String,
    href: String,
    digest: String,
    digest_short: String,
    pushed: String,
    pulled: String,
    reason: String,
}

/// One governed repository.
pub struct RepoSection {
    name: String,
    href: String,
    policy: usize,
    skipped_busy: bool,
    frees: String,
    rows: Vec<DoomedRow>,
}

#[derive(Template)]
#[template(path = "retention.html")]
struct RetentionPage {
    chrome: Chrome,
    action: String,
    tags: usize,
    frees: String,
    sections: Vec<RepoSection>,
}

fn section(state: &UiState, repo: RepoRetention) -> RepoSection {
    let rows = repo
        .tags
        .into_iter()
        .map(|t| DoomedRow {
            href: state.links.tag(&repo.repository, &t.tag),
            digest_short: short_digest(&t.digest),
            digest: t.digest,
            pushed: short_time(&t.pushed),
            pulled: t.pulled.as_deref().map_or("never".into(), short_time),
            reason: t.reason,
            tag: t.tag,
        })
        .collect();
    RepoSection {
        href: state.links.repository(&repo.repository),
        name: repo.repository,
        policy: repo.policy,
        skipped_busy: repo.skipped_busy,
        frees: human_size(repo.bytes_freed),
        rows,
    }
}

/// `GET /retention`: the preview.
pub async fn page(State(state): State<Arc<UiState>>, headers: HeaderMap) -> Response {
    finish(&state, preview(&state, &headers).await)
}

async fn preview(state: &UiState, headers: &HeaderMap) -> Result<Response, UiError> {
    let auth = credentials(headers);
    let summary = wharf::retention(state.inspector.upstream(), &auth, false).await?;
    render(&RetentionPage {
        chrome: Chrome::of(state),
        action: state.links.retention(),
        tags: summary.tags_deleted,
        frees: human_size(summary.bytes_freed),
        sections: summary
            .repositories
            .into_iter()
            .map(|r| section(state, r))
            .collect(),
    })
}

/// `POST /retention`: applies the policies.
pub async fn apply(State(state): State<Arc<UiState>>, headers: HeaderMap) -> Response {
    finish(&state, applied(&state, &headers).await)
}

async fn applied(state: &UiState, headers: &HeaderMap) -> Result<Response, UiError> {
    require_enabled(state)?;
    check_same_origin(headers)?;
    let auth = credentials(headers);
    let summary = wharf::retention(state.inspector.upstream(), &auth, true).await?;
    let items: Vec<String> = summary
        .repositories
        .iter()
        .flat_map(|r| {
            r.tags
                .iter()
                .map(move |t| format!("{}:{}", r.repository, t.tag))
        })
        .collect();
    render(&MessagePage {
        chrome: Chrome::of(state),
        kind: "info",
        heading: "Retention applied".into(),
        text: format!(
            "{} tag{} went to the trash.",
            summary.tags_deleted,
            if summary.tags_deleted == 1 { "" } else { "s" }
        ),
        advice: "They can be restored from the trash until the trash period ends; then garbage \
                 collection frees their bytes."
            .into(),
        items,
        back: state.links.trash(),
    })
}

//! The retention page (`/retention`): what the registry's retention policies would delete, per
//! repository, with the bytes that would be freed, from Wharf's retention extension; nothing is
//! deleted by looking. Its form is the confirmation: it carries the previewed tags, and a same-site
//! POST applies the policies to those of them the policies still doom at the same digest (the tags go
//! to the trash, then the registry collects garbage), so nothing is deleted that was not on the page;
//! the result lists what went and counts what was left because it changed since the preview.

use std::sync::Arc;

use askama::Template;
use axum::extract::{RawForm, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::delete::{check_same_origin, require_enabled, Form};
use super::{credentials, finish, render, short_digest, Chrome, MessagePage};
use crate::ui::error::UiError;
use crate::ui::model::{human_size, short_time};
use crate::ui::wharf::{self, ConfirmedTag, RepoRetention};
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
    /// Every previewed tag as `repository:tag@digest`, the form's `confirm` fields.
    confirm: Vec<String>,
}

/// Largest confirmation form: about 100,000 previewed tags.
pub const MAX_FORM: usize = 16 * 1024 * 1024;

/// The form field carrying one previewed tag.
const CONFIRM_FIELD: &str = "confirm";

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
    let summary = wharf::preview_retention(state.inspector.upstream(), &auth).await?;
    let confirm = summary
        .repositories
        .iter()
        .flat_map(|r| {
            r.tags
                .iter()
                .map(|t| ConfirmedTag::value(&r.repository, &t.tag, &t.digest))
        })
        .collect();
    render(&RetentionPage {
        chrome: Chrome::of(state),
        action: state.links.retention(),
        confirm,
        tags: summary.tags_deleted,
        frees: human_size(summary.bytes_freed),
        sections: summary
            .repositories
            .into_iter()
            .map(|r| section(state, r))
            .collect(),
    })
}

/// `POST /retention`: applies the policies to the previewed tags the form carries.
pub async fn apply(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    finish(&state, applied(&state, &headers, Form::parse(&body)).await)
}

async fn applied(state: &UiState, headers: &HeaderMap, form: Form) -> Result<Response, UiError> {
    require_enabled(state)?;
    check_same_origin(headers)?;
    let values = form.all(CONFIRM_FIELD);
    let confirmed = values
        .iter()
        .map(|v| {
            ConfirmedTag::parse(v).ok_or_else(|| {
                UiError::BadRequest(format!("{v:?} is not a previewed repository:tag@digest"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if confirmed.is_empty() {
        return Err(UiError::BadRequest(
            "the form names no previewed tag: open the retention preview and confirm it".into(),
        ));
    }
    let auth = credentials(headers);
    let summary = wharf::apply_retention(state.inspector.upstream(), &auth, &confirmed).await?;
    let left = confirmed.len().saturating_sub(summary.tags_deleted);
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
        advice: format!(
            "{}They can be restored from the trash until the trash period ends; then garbage \
             collection frees their bytes.",
            if left == 0 {
                String::new()
            } else {
                format!(
                    "{left} previewed tag{} stayed: pushed again, pulled or no longer due since \
                     the preview. ",
                    if left == 1 { "" } else { "s" }
                )
            }
        ),
        items,
        back: state.links.trash(),
    })
}

//! The trash page (`/trash`): every tag deleted into Wharf's trash (by retention or by a delete from
//! this UI), with when and why it went and until when it can come back, and a restore button per
//! entry. A restore is a same-site POST; the registry puts the tag back as a push would.

use std::sync::Arc;
use std::time::SystemTime;

use askama::Template;
use axum::extract::{RawForm, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::delete::{check_same_origin, Form};
use super::{credentials, finish, render, short_digest, Chrome, MessagePage};
use crate::ui::error::UiError;
use crate::ui::model::short_time;
use crate::ui::wharf::{self, TrashEntry};
use crate::ui::UiState;

/// One trash entry.
pub struct TrashRow {
    repository: String,
    tag: String,
    repo_href: String,
    digest: String,
    digest_short: String,
    deleted: String,
    expires: String,
    expired: bool,
    reason: String,
}

#[derive(Template)]
#[template(path = "trash.html")]
struct TrashPage {
    chrome: Chrome,
    action: String,
    rows: Vec<TrashRow>,
}

fn row(state: &UiState, entry: TrashEntry, now: SystemTime) -> TrashRow {
    let expired = humantime::parse_rfc3339(&entry.expires).map_or(true, |t| t <= now);
    TrashRow {
        repo_href: state.links.repository(&entry.repository),
        digest_short: short_digest(&entry.digest),
        digest: entry.digest,
        deleted: short_time(&entry.deleted),
        expires: short_time(&entry.expires),
        expired,
        reason: entry.reason,
        repository: entry.repository,
        tag: entry.tag,
    }
}

/// `GET /trash`.
pub async fn page(State(state): State<Arc<UiState>>, headers: HeaderMap) -> Response {
    finish(&state, list(&state, &headers).await)
}

async fn list(state: &UiState, headers: &HeaderMap) -> Result<Response, UiError> {
    let auth = credentials(headers);
    let entries = wharf::trash(state.inspector.upstream(), &auth).await?;
    let now = SystemTime::now();
    render(&TrashPage {
        chrome: Chrome::of(state),
        action: state.links.trash(),
        rows: entries.into_iter().map(|e| row(state, e, now)).collect(),
    })
}

/// `POST /trash` with `repository` and `tag`: restores that tag.
pub async fn restore(
    State(state): State<Arc<UiState>>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    finish(&state, restored(&state, &headers, Form::parse(&body)).await)
}

async fn restored(state: &UiState, headers: &HeaderMap, form: Form) -> Result<Response, UiError> {
    check_same_origin(headers)?;
    let field = |key| {
        form.first(key)
            .map(str::to_string)
            .ok_or_else(|| UiError::BadRequest(format!("the form has no {key}")))
    };
    let (repository, tag) = (field("repository")?, field("tag")?);
    let auth = credentials(headers);
    let entry = wharf::restore(state.inspector.upstream(), &auth, &repository, &tag).await?;
    render(&MessagePage {
        chrome: Chrome::of(state),
        kind: "info",
        heading: format!("Restored {repository}:{tag}"),
        text: format!("The tag points at {} again.", entry.digest),
        advice: String::new(),
        items: Vec::new(),
        back: state.links.repository(&repository),
    })
}

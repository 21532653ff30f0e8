//! The server-rendered pages: one module per page, each a handler that gathers what it shows from
//! the upstream (through [`super::inspect::Inspector`]) into an askama template struct. Templates
//! auto-escape everything they print.

pub mod catalog;
pub mod delete;
pub mod disk;
pub mod repository;
pub mod retention;
pub mod tag;
pub mod trash;

use askama::Template;
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};

use super::error::{error_response, UiError};
use super::wire::Credentials;
use super::UiState;

/// What every page's frame shows.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The registry's name.
    pub title: String,
    /// `auto`, `light` or `dark`.
    pub theme: &'static str,
    /// Whether delete controls are shown.
    pub delete_enabled: bool,
    /// The catalog's address, the UI's base path (assets are under `<home>assets/`).
    pub home: String,
}

impl Chrome {
    /// The frame for this UI's settings.
    pub fn of(state: &UiState) -> Chrome {
        Chrome {
            title: state.config.title.clone(),
            theme: state.config.theme.as_str(),
            delete_enabled: state.config.delete_enabled,
            home: state.links.home().to_string(),
        }
    }
}

/// Previous/next links of a paginated list.
#[derive(Debug, Clone)]
pub struct Pager {
    /// This page, from 1.
    pub page: usize,
    /// Number of pages (at least 1).
    pub pages: usize,
    /// Link to the previous page.
    pub prev: Option<String>,
    /// Link to the next page.
    pub next: Option<String>,
}

impl Pager {
    /// Pagination of `total` items, `per_page` at a time, on page `page` (clamped), with links made by
    /// `href(page)`.
    pub fn new(
        page: usize,
        total: usize,
        per_page: usize,
        href: impl Fn(usize) -> String,
    ) -> Pager {
        let pages = total.div_ceil(per_page.max(1)).max(1);
        let page = page.clamp(1, pages);
        Pager {
            page,
            pages,
            prev: (page > 1).then(|| href(page - 1)),
            next: (page < pages).then(|| href(page + 1)),
        }
    }

    /// The index range of this page's items.
    pub fn range(&self, total: usize, per_page: usize) -> std::ops::Range<usize> {
        let start = ((self.page - 1) * per_page).min(total);
        start..(start + per_page).min(total)
    }
}

/// A generic message page (errors and results).
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    /// The frame.
    pub chrome: Chrome,
    /// `error` or `info` (a CSS class).
    pub kind: &'static str,
    /// The heading.
    pub heading: String,
    /// The message.
    pub text: String,
    /// What to do about it.
    pub advice: String,
    /// Items to list (e.g. what was deleted).
    pub items: Vec<String>,
    /// Where "Continue" leads.
    pub back: String,
}

/// Renders a template into a response.
pub fn render<T: Template>(template: &T) -> Result<Response, UiError> {
    template
        .render()
        .map(|html| Html(html).into_response())
        .map_err(|e| UiError::Config(format!("rendering a page: {e}")))
}

/// Turns a page result into a response, rendering errors as a message page.
pub fn finish(state: &UiState, result: Result<Response, UiError>) -> Response {
    match result {
        Ok(response) => response,
        Err(error) => {
            if matches!(error, UiError::Upstream(_) | UiError::Config(_)) {
                tracing::warn!(%error, "UI page failed");
            }
            let page = MessagePage {
                chrome: Chrome::of(state),
                kind: "error",
                heading: match error {
                    UiError::Unauthorized { .. } => "Sign-in required".into(),
                    UiError::NotFound(_) => "Not found".into(),
                    _ => "Something went wrong".into(),
                },
                text: error.to_string(),
                advice: error.advice().to_string(),
                items: Vec::new(),
                back: state.links.home().to_string(),
            };
            let html = page
                .render()
                .unwrap_or_else(|_| "<!DOCTYPE html><title>Error</title><p>Error</p>".into());
            error_response(&error, html, &state.config.title)
        }
    }
}

/// The browser's credentials, forwarded to the upstream as they came.
pub fn credentials(headers: &HeaderMap) -> Credentials {
    Credentials(headers.get(header::AUTHORIZATION).cloned())
}

/// `sha256:0123456789ab`: a digest shortened for tables (the full one goes in a `title`).
pub fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algorithm, hex)) => format!("{algorithm}:{}", hex.get(..12).unwrap_or(hex)),
        None => digest.to_string(),
    }
}

/// One way to sort a list, as a link in the page's "sort by" line.
#[derive(Debug, Clone)]
pub struct SortLink {
    /// What it sorts by.
    pub label: &'static str,
    /// The page sorted that way.
    pub href: String,
    /// Whether the page is sorted that way now.
    pub active: bool,
}

/// The links for each `(value, label)` of `sorts`, `current` marked, each to `base?sort=<value>`.
pub fn sort_links(base: &str, sorts: &[(&str, &'static str)], current: &str) -> Vec<SortLink> {
    sorts
        .iter()
        .map(|(value, label)| SortLink {
            label,
            href: format!("{base}?{}", query(&[("sort", value.to_string())])),
            active: *value == current,
        })
        .collect()
}

/// The `sort` value if it is one of `sorts`, else the first of them.
pub fn chosen_sort<'a>(sort: Option<&str>, sorts: &[(&'a str, &'static str)]) -> &'a str {
    sorts
        .iter()
        .map(|(value, _)| *value)
        .find(|value| Some(*value) == sort)
        .unwrap_or(sorts[0].0)
}

/// A query string from pairs, URL-encoded.
pub fn query(pairs: &[(&str, String)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages are clamped and links appear only where there is a page to go to.
    #[test]
    fn pager() {
        let p = Pager::new(2, 250, 100, |n| format!("?page={n}"));
        assert_eq!((p.page, p.pages), (2, 3));
        assert_eq!(p.prev.as_deref(), Some("?page=1"));
        assert_eq!(p.next.as_deref(), Some("?page=3"));
        assert_eq!(p.range(250, 100), 100..200);
        let last = Pager::new(9, 250, 100, |n| n.to_string());
        assert_eq!((last.page, last.next.as_deref()), (3, None));
        assert_eq!(last.range(250, 100), 200..250);
        let empty = Pager::new(1, 0, 100, |n| n.to_string());
        assert_eq!((empty.pages, empty.range(0, 100)), (1, 0..0));
    }

    /// A known sort is kept, anything else falls back to the first; links mark the current one.
    #[test]
    fn sorts() {
        let sorts = [("name", "name"), ("size", "size")];
        assert_eq!(chosen_sort(Some("size"), &sorts), "size");
        assert_eq!(chosen_sort(Some("bogus"), &sorts), "name");
        assert_eq!(chosen_sort(None, &sorts), "name");
        let links = sort_links("/disk", &sorts, "size");
        assert_eq!(links[0].href, "/disk?sort=name");
        assert!(!links[0].active && links[1].active);
    }

    /// Digests are shortened to 12 hex digits.
    #[test]
    fn digests() {
        assert_eq!(
            short_digest("sha256:0123456789abcdef"),
            "sha256:0123456789ab"
        );
        assert_eq!(short_digest("odd"), "odd");
    }
}

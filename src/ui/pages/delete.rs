//! Deleting, always through a confirmation page. Deleting by digest removes every tag that points at
//! the image, so the confirmation names those other tags and offers two choices: remove only the
//! selected tags (OCI 1.1 tag deletion, where the registry supports it) or delete the images.
//! Deleting a repository deletes every tagged image by digest. Forms are plain POSTs, refused when
//! the browser says they come from another site.

use std::collections::{BTreeMap, BTreeSet};

use askama::Template;
use axum::http::{header, HeaderMap};
use axum::response::Response;

use super::{credentials, render, short_digest, Chrome, MessagePage};
use crate::registry::digest::Digest;
use crate::registry::names::{RepoName, Tag};
use crate::ui::error::UiError;
use crate::ui::wire::Credentials;
use crate::ui::UiState;

/// One selected tag on the confirmation page.
pub struct Selected {
    tag: String,
    digest: String,
    digest_short: String,
    siblings: Vec<String>,
}

#[derive(Template)]
#[template(path = "confirm_delete.html")]
struct ConfirmDelete {
    chrome: Chrome,
    name: String,
    repo_href: String,
    action: String,
    items: Vec<Selected>,
    all_siblings: Vec<String>,
    digests: Vec<String>,
    affected_tags: usize,
}

#[derive(Template)]
#[template(path = "confirm_delete_repository.html")]
struct ConfirmDeleteRepository {
    chrome: Chrome,
    name: String,
    repo_href: String,
    action: String,
    tags: Vec<String>,
    digests: Vec<String>,
}

/// A submitted form: every field with its values, in order.
pub struct Form(Vec<(String, String)>);

impl Form {
    /// Parses an `application/x-www-form-urlencoded` body.
    pub fn parse(body: &[u8]) -> Form {
        Form(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `key`.
    pub fn first(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Refuses a form posted from another site (the browser's `Sec-Fetch-Site`, else `Origin` vs `Host`).
pub fn check_same_origin(headers: &HeaderMap) -> Result<(), UiError> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        if site != "same-origin" && site != "none" {
            return Err(UiError::Forbidden(
                "a form from another site was refused".into(),
            ));
        }
    }
    if let (Some(origin), Some(host)) = (text(header::ORIGIN), text(header::HOST)) {
        let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
        if origin_host != host {
            return Err(UiError::Forbidden(
                "a form from another site was refused".into(),
            ));
        }
    }
    Ok(())
}

/// Refuses when this UI's deletes are off (`DELETE_IMAGES`).
pub fn require_enabled(state: &UiState) -> Result<(), UiError> {
    if state.config.delete_enabled {
        Ok(())
    } else {
        Err(UiError::BadRequest(
            "deleting is disabled in this UI (set DELETE_IMAGES=true)".into(),
        ))
    }
}

/// Every tag of `name` grouped by the digest it points at.
async fn tags_by_digest(
    state: &UiState,
    auth: &Credentials,
    name: &str,
) -> Result<(BTreeMap<String, String>, BTreeMap<String, Vec<String>>), UiError> {
    let mut tags = state.inspector.upstream().tags(auth, name).await?;
    tags.sort();
    let mut digest_of = BTreeMap::new();
    let mut by_digest: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (tag, info) in state.inspector.tags(auth, name, &tags).await {
        match info {
            Ok(info) => {
                digest_of.insert(tag.clone(), info.image.digest.clone());
                by_digest
                    .entry(info.image.digest.clone())
                    .or_default()
                    .push(tag);
            }
            Err(UiError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok((digest_of, by_digest))
}

/// `POST /r/<name>/-/delete` with `step` = `confirm`, `tags` or `digests`.
pub async fn delete(
    state: &UiState,
    headers: &HeaderMap,
    name: &RepoName,
    form: Form,
) -> Result<Response, UiError> {
    require_enabled(state)?;
    check_same_origin(headers)?;
    let auth = credentials(headers);
    let name = name.as_str();
    match form.first("step").unwrap_or("confirm") {
        "confirm" => confirm(state, &auth, name, &form).await,
        "tags" => delete_tags(state, &auth, name, &form).await,
        "digests" => {
            let digests = valid_digests(&form)?;
            delete_digests(state, &auth, name, &digests).await?;
            done(
                state,
                name,
                "The images and all their tags were deleted.",
                digests,
            )
        }
        other => Err(UiError::BadRequest(format!("unknown step {other:?}"))),
    }
}

async fn confirm(
    state: &UiState,
    auth: &Credentials,
    name: &str,
    form: &Form,
) -> Result<Response, UiError> {
    let selected = valid_tags(form)?;
    let (digest_of, by_digest) = tags_by_digest(state, auth, name).await?;
    let chosen: BTreeSet<&str> = selected.iter().map(String::as_str).collect();
    let mut items = Vec::new();
    let mut digests = BTreeSet::new();
    let mut all_siblings = BTreeSet::new();
    for tag in &selected {
        let digest = digest_of
            .get(tag)
            .ok_or_else(|| UiError::NotFound(format!("{name}:{tag}")))?;
        let siblings: Vec<String> = by_digest[digest]
            .iter()
            .filter(|t| *t != tag)
            .cloned()
            .collect();
        all_siblings.extend(
            siblings
                .iter()
                .filter(|t| !chosen.contains(t.as_str()))
                .cloned(),
        );
        digests.insert(digest.clone());
        items.push(Selected {
            tag: tag.clone(),
            digest: digest.clone(),
            digest_short: short_digest(digest),
            siblings,
        });
    }
    let affected_tags = digests.iter().map(|d| by_digest[d].len()).sum();
    render(&ConfirmDelete {
        chrome: Chrome::of(state),
        name: name.to_string(),
        repo_href: state.links.repository(name),
        action: state.links.delete(name),
        items,
        all_siblings: all_siblings.into_iter().collect(),
        digests: digests.into_iter().collect(),
        affected_tags,
    })
}

async fn delete_tags(
    state: &UiState,
    auth: &Credentials,
    name: &str,
    form: &Form,
) -> Result<Response, UiError> {
    let tags = valid_tags(form)?;
    for tag in &tags {
        match state
            .inspector
            .upstream()
            .delete_manifest(auth, name, tag)
            .await
        {
            Ok(()) => {}
            Err(
                e @ (UiError::Unauthorized { .. } | UiError::Forbidden(_) | UiError::NotFound(_)),
            ) => return Err(e),
            Err(e) => {
                return Err(UiError::Unsupported(format!(
                    "the registry did not delete the tag {tag} ({e}); it may not support deleting \
                     a tag on its own — delete the image by digest instead"
                )))
            }
        }
    }
    done(state, name, "The tags were removed.", tags)
}

async fn delete_digests(
    state: &UiState,
    auth: &Credentials,
    name: &str,
    digests: &[String],
) -> Result<(), UiError> {
    for digest in digests {
        match state
            .inspector
            .upstream()
            .delete_manifest(auth, name, digest)
            .await
        {
            Ok(()) | Err(UiError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn done(state: &UiState, name: &str, text: &str, items: Vec<String>) -> Result<Response, UiError> {
    render(&MessagePage {
        chrome: Chrome::of(state),
        kind: "info",
        heading: format!("Deleted from {name}"),
        text: text.to_string(),
        advice: "Disk space is reclaimed when the registry's garbage collection runs. A Wharf \
                 registry keeps what the UI deletes in its trash first (24 hours by default): \
                 `wharf trash restore REPOSITORY:TAG` undoes a delete until then."
            .into(),
        items,
        back: state.links.repository(name),
    })
}

fn valid_tags(form: &Form) -> Result<Vec<String>, UiError> {
    let tags = form.all("tag");
    if tags.is_empty() {
        return Err(UiError::BadRequest("select at least one tag".into()));
    }
    for tag in &tags {
        tag.parse::<Tag>()
            .map_err(|e| UiError::BadRequest(format!("{tag:?}: {e}")))?;
    }
    Ok(tags)
}

fn valid_digests(form: &Form) -> Result<Vec<String>, UiError> {
    let digests = form.all("digest");
    if digests.is_empty() {
        return Err(UiError::BadRequest("nothing to delete".into()));
    }
    for digest in &digests {
        digest
            .parse::<Digest>()
            .map_err(|e| UiError::BadRequest(format!("{digest:?}: {e}")))?;
    }
    Ok(digests)
}

/// `GET /r/<name>/-/delete-repository`: the confirmation.
pub async fn confirm_repository(
    state: &UiState,
    headers: &HeaderMap,
    name: &RepoName,
) -> Result<Response, UiError> {
    require_enabled(state)?;
    let auth = credentials(headers);
    let name = name.as_str();
    let (digest_of, by_digest) = tags_by_digest(state, &auth, name).await?;
    render(&ConfirmDeleteRepository {
        chrome: Chrome::of(state),
        name: name.to_string(),
        repo_href: state.links.repository(name),
        action: state.links.delete_repository(name),
        tags: digest_of.into_keys().collect(),
        digests: by_digest.into_keys().collect(),
    })
}

/// `POST /r/<name>/-/delete-repository`: deletes the confirmed images.
pub async fn delete_repository(
    state: &UiState,
    headers: &HeaderMap,
    name: &RepoName,
    form: Form,
) -> Result<Response, UiError> {
    require_enabled(state)?;
    check_same_origin(headers)?;
    let digests = valid_digests(&form)?;
    delete_digests(state, &credentials(headers), name.as_str(), &digests).await?;
    let mut page = MessagePage {
        chrome: Chrome::of(state),
        kind: "info",
        heading: format!("Deleted {name}"),
        text: "Every image of the repository was deleted.".into(),
        advice: "Disk space is reclaimed when the registry's garbage collection runs.".into(),
        items: digests,
        back: state.links.home().to_string(),
    };
    page.items.sort();
    render(&page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// Forms from another site are refused; same-origin and old browsers without the headers pass.
    #[test]
    fn same_origin_check() {
        let mut h = HeaderMap::new();
        assert!(check_same_origin(&h).is_ok());
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        h.insert(header::HOST, HeaderValue::from_static("ui:8080"));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://ui:8080"));
        assert!(check_same_origin(&h).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(check_same_origin(&h).is_err());
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(check_same_origin(&h).is_err());
    }

    /// Repeated fields are all kept, in order.
    #[test]
    fn form_fields() {
        let f = Form::parse(b"step=confirm&tag=a&tag=b%2Bc");
        assert_eq!(f.first("step"), Some("confirm"));
        assert_eq!(f.all("tag"), vec!["a", "b+c"]);
    }
}

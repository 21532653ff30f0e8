//! The tag page (`/r/<name>/-/tags/<tag>`): the manifest and its config, layers with sizes, history
//! with a Dockerfile view, labels and container settings, a platform selector for indexes
//! (`?platform=<digest>`), referrers, the raw documents and a copyable `docker pull` command.

use askama::Template;
use axum::http::{header, HeaderMap};
use axum::response::Response;

use super::{credentials, query, render, short_digest, Chrome};
use crate::registry::names::{RepoName, Tag};
use crate::ui::error::UiError;
use crate::ui::inspect::{is_image_config, ATTESTATION_ANNOTATION};
use crate::ui::model::{human_size, short_time, Descriptor, ImageConfig, Manifest, ReferrersIndex};
use crate::ui::upstream::Upstream;
use crate::ui::wire::{parse_json, Credentials};
use crate::ui::UiState;

/// Query parameters of the tag page.
#[derive(Debug, Default)]
pub struct TagQuery {
    /// Digest of the index entry to show.
    platform: Option<String>,
}

impl TagQuery {
    /// From the raw `platform` parameter.
    pub fn new(platform: Option<String>) -> TagQuery {
        TagQuery { platform }
    }
}

/// A platform of an index.
pub struct Choice {
    label: String,
    digest: String,
    digest_short: String,
    href: String,
    selected: bool,
}

/// A layer row.
pub struct LayerRow {
    digest: String,
    digest_short: String,
    media_type: String,
    size: String,
    size_exact: String,
}

/// A history row.
pub struct HistoryRow {
    created: String,
    created_by: String,
    dockerfile: String,
    empty_layer: bool,
}

/// A referrer row.
pub struct ReferrerRow {
    artifact_type: String,
    digest: String,
    digest_short: String,
    size: String,
    annotations: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "tag.html")]
struct TagPage {
    chrome: Chrome,
    name: String,
    tag: String,
    repo_href: String,
    pull_command: String,
    digest: String,
    media_type: String,
    size: String,
    size_exact: String,
    created: String,
    platforms: Vec<String>,
    choices: Vec<Choice>,
    selected_digest: Option<String>,
    layers: Vec<LayerRow>,
    history: Vec<HistoryRow>,
    labels: Vec<(String, String)>,
    settings: Vec<(String, String)>,
    referrers_supported: bool,
    referrers: Vec<ReferrerRow>,
    manifest_json: String,
    child_manifest_json: Option<String>,
    config_json: Option<String>,
    delete_action: String,
}

/// Renders `/r/<name>/-/tags/<tag>`.
pub async fn page(
    state: &UiState,
    headers: &HeaderMap,
    name: &RepoName,
    tag: &Tag,
    q: TagQuery,
) -> Result<Response, UiError> {
    let auth = credentials(headers);
    let (name, tag) = (name.as_str(), tag.as_str());
    let upstream = state.inspector.upstream();
    let fetched = upstream.manifest(&auth, name, tag).await?;
    let top: Manifest = parse_json(&fetched.bytes)?;
    let info = state
        .inspector
        .describe(&auth, name, fetched.clone())
        .await?;
    let tag_href = state.links.tag(name, tag);

    let mut choices = Vec::new();
    let mut selected_digest = None;
    let mut child_manifest_json = None;
    let mut image = top.clone();
    if top.is_index() {
        let entries: Vec<&Descriptor> = top
            .manifests
            .iter()
            .filter(|d| d.has_valid_digest())
            .collect();
        let chosen = q
            .platform
            .as_deref()
            .filter(|p| entries.iter().any(|d| d.digest == *p))
            .map(str::to_string)
            .or_else(|| default_entry(&entries).map(|d| d.digest.clone()));
        choices = entries
            .iter()
            .map(|d| Choice {
                label: entry_label(d),
                digest: d.digest.clone(),
                digest_short: short_digest(&d.digest),
                href: format!("{tag_href}?{}", query(&[("platform", d.digest.clone())])),
                selected: Some(&d.digest) == chosen.as_ref(),
            })
            .collect();
        if let Some(digest) = &chosen {
            let child = upstream.manifest(&auth, name, digest).await?;
            image = parse_json(&child.bytes)?;
            child_manifest_json = Some(pretty(&child.bytes));
            selected_digest = Some(digest.clone());
        }
    }

    let mut config = ImageConfig::default();
    let mut config_json = None;
    if let Some(c) = image.config.as_ref().filter(|c| c.has_valid_digest()) {
        if is_image_config(&c.media_type) {
            let bytes = upstream.blob(&auth, name, &c.digest).await?;
            config = serde_json::from_slice(&bytes).unwrap_or_default();
            config_json = Some(pretty(&bytes));
        }
    }

    let mut referrers_supported = false;
    let mut referrers = Vec::new();
    let subjects = std::iter::once(info.digest.clone()).chain(selected_digest.clone());
    for subject in subjects {
        if let Some(index) = referrers_of(upstream, &auth, name, &subject).await? {
            referrers_supported = true;
            referrers.extend(index.manifests.into_iter().map(referrer_row));
        }
    }

    render(&TagPage {
        chrome: Chrome::of(state),
        name: name.to_string(),
        tag: tag.to_string(),
        repo_href: state.links.repository(name),
        pull_command: format!("docker pull {}/{name}:{tag}", pull_host(state, headers)),
        digest: info.digest.clone(),
        media_type: info.media_type.clone(),
        size: human_size(info.size),
        size_exact: format!("{} bytes", info.size),
        created: info.created.as_deref().map(short_time).unwrap_or_default(),
        platforms: info.platforms.clone(),
        choices,
        selected_digest,
        layers: image.layers.iter().map(layer_row).collect(),
        history: config.history.iter().map(history_row).collect(),
        labels: config.labels().into_iter().collect(),
        settings: settings(&config),
        referrers_supported,
        referrers,
        manifest_json: pretty(&fetched.bytes),
        child_manifest_json,
        config_json,
        delete_action: state.links.delete(name),
    })
}

async fn referrers_of(
    upstream: &Upstream,
    auth: &Credentials,
    name: &str,
    subject: &str,
) -> Result<Option<ReferrersIndex>, UiError> {
    match upstream.referrers(auth, name, subject).await? {
        Some(bytes) => Ok(Some(parse_json(&bytes)?)),
        None => Ok(None),
    }
}

/// The entry shown first: linux/amd64 if present, else the first that is not an attestation.
fn default_entry<'a>(entries: &[&'a Descriptor]) -> Option<&'a Descriptor> {
    let platform = |d: &Descriptor| d.platform.as_ref().map(|p| p.label());
    entries
        .iter()
        .find(|d| platform(d).as_deref() == Some("linux/amd64"))
        .or_else(|| {
            entries
                .iter()
                .find(|d| !d.annotations.contains_key(ATTESTATION_ANNOTATION))
        })
        .or(entries.first())
        .copied()
}

fn entry_label(d: &Descriptor) -> String {
    let platform = d
        .platform
        .as_ref()
        .map(|p| p.label())
        .unwrap_or_else(|| "unknown platform".into());
    match d.annotations.get(ATTESTATION_ANNOTATION) {
        Some(kind) => format!("{kind} ({platform})"),
        None => platform,
    }
}

/// The host in `docker pull`: `PULL_URL` without its scheme, else the host the browser used.
fn pull_host(state: &UiState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config.pull_url {
        let url = url.trim_end_matches('/');
        return url
            .split_once("://")
            .map_or(url, |(_, rest)| rest)
            .to_string();
    }
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| state.config.title.clone())
}

fn pretty(bytes: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned())
}

fn layer_row(l: &Descriptor) -> LayerRow {
    LayerRow {
        digest: l.digest.clone(),
        digest_short: short_digest(&l.digest),
        media_type: l.media_type.clone(),
        size: human_size(l.size),
        size_exact: format!("{} bytes", l.size),
    }
}

fn history_row(h: &crate::ui::model::History) -> HistoryRow {
    HistoryRow {
        created: h.created.as_deref().map(short_time).unwrap_or_default(),
        created_by: h.created_by.clone().unwrap_or_default(),
        dockerfile: h.dockerfile_line(),
        empty_layer: h.empty_layer,
    }
}

fn referrer_row(d: Descriptor) -> ReferrerRow {
    ReferrerRow {
        artifact_type: d
            .artifact_type
            .clone()
            .unwrap_or_else(|| d.media_type.clone()),
        digest_short: short_digest(&d.digest),
        digest: d.digest,
        size: human_size(d.size),
        annotations: d.annotations.into_iter().collect(),
    }
}

/// Entrypoint, command, environment and the like, one line each.
fn settings(config: &ImageConfig) -> Vec<(String, String)> {
    let Some(c) = &config.config else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut push = |key: &str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            out.push((key.to_string(), v));
        }
    };
    let json = |v: &Option<Vec<String>>| v.as_ref().and_then(|v| serde_json::to_string(v).ok());
    push("Entrypoint", json(&c.entrypoint));
    push("Cmd", json(&c.cmd));
    push("WorkingDir", c.working_dir.clone());
    push("User", c.user.clone());
    push(
        "ExposedPorts",
        c.exposed_ports
            .as_ref()
            .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", ")),
    );
    for env in c.env.iter().flatten() {
        push("Env", Some(env.clone()));
    }
    out
}

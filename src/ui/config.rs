//! What the web UI needs to know: where the upstream registry is and how to present it. Built from the
//! command line ([`super::args::UiArgs`]) or, in tests and embedding, directly.

pub use crate::config::ui::Theme;

use super::upstream_tls::UpstreamTls;

/// The UI's settings.
#[derive(Debug, Clone)]
pub struct UiConfig {
    /// Base URL of the registry the UI browses and proxies `/v2/` to, e.g. `http://registry:5000`.
    pub upstream: String,
    /// Name shown in the header and the browser's title (defaults to the upstream's host).
    pub title: String,
    /// Show delete buttons and accept delete forms.
    pub delete_enabled: bool,
    /// Show the content digest column in tag lists.
    pub show_content_digest: bool,
    /// Tags per page on a repository page.
    pub taglist_page_size: usize,
    /// `n` asked of the upstream per `_catalog` request (must not exceed its `catalog.maxentries`).
    pub catalog_elements_limit: usize,
    /// Repositories per catalog page.
    pub catalog_page_size: usize,
    /// Registry host shown in `docker pull` commands; defaults to the host the browser used.
    pub pull_url: Option<String>,
    /// The colour theme.
    pub theme: Theme,
    /// Path the pages are served under, starting and ending with `/`: `/` for `wharf ui`,
    /// `ui.path` when `wharf serve` embeds the UI.
    pub base_path: String,
    /// How the upstream's certificate is checked.
    pub upstream_tls: UpstreamTls,
}

impl UiConfig {
    /// Settings with defaults for everything but the upstream URL.
    pub fn new(upstream: impl Into<String>) -> UiConfig {
        let upstream = upstream.into().trim_end_matches('/').to_string();
        let title = reqwest::Url::parse(&upstream)
            .ok()
            .and_then(|u| {
                u.host_str()
                    .map(|h| u.port().map_or(h.to_string(), |p| format!("{h}:{p}")))
            })
            .unwrap_or_else(|| "Registry".into());
        UiConfig {
            upstream,
            title,
            delete_enabled: false,
            show_content_digest: false,
            taglist_page_size: 100,
            catalog_elements_limit: 1000,
            catalog_page_size: 100,
            pull_url: None,
            theme: Theme::Auto,
            base_path: "/".into(),
            upstream_tls: UpstreamTls::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default title is the upstream's host and port; a trailing slash is dropped.
    #[test]
    fn defaults_from_upstream() {
        let c = UiConfig::new("http://registry:5000/");
        assert_eq!(c.upstream, "http://registry:5000");
        assert_eq!(c.title, "registry:5000");
        assert_eq!(
            UiConfig::new("https://r.example.com").title,
            "r.example.com"
        );
    }

    /// Theme names are case-insensitive and empty means auto.
    #[test]
    fn theme_names() {
        assert_eq!("DARK".parse::<Theme>(), Ok(Theme::Dark));
        assert_eq!("".parse::<Theme>(), Ok(Theme::Auto));
        assert!("blue".parse::<Theme>().is_err());
    }
}

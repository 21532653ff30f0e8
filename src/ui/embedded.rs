//! The UI inside `wharf serve` (`ui.enabled`), for one-container deployments: the pages are mounted
//! under `ui.path` beside the registry API, and every other request goes to the registry as before
//! (`GET /` still answers load balancers). The UI stays a client of the registry API: it sends its
//! requests to the server's own router in process (`tower::ServiceExt::oneshot`), so they pass the
//! same authentication, read-only mode, health gate, metrics and access log as any client's, without
//! a loopback connection, a TLS certificate to trust or a client certificate to present.

use axum::Router;

use super::config::{Theme, UiConfig};
use super::error::UiError;
use super::upstream::Upstream;
use crate::config::Config;

/// Name shown when neither `ui.title` nor `http.host` gives one.
const DEFAULT_TITLE: &str = "Wharf";

/// The UI settings of a server configuration (its `ui:` section).
pub fn settings(config: &Config) -> UiConfig {
    let section = &config.ui;
    // The in-process upstream: the host is never contacted, only the path (with `http.prefix`) counts.
    let mut ui = UiConfig::new(format!("http://localhost{}", config.http.path_prefix()));
    ui.title = section
        .title
        .clone()
        .filter(|t| !t.is_empty())
        .or_else(|| public_host(config))
        .unwrap_or_else(|| DEFAULT_TITLE.into());
    ui.delete_enabled = section.deleteimages;
    ui.pull_url = section.pullurl.clone().filter(|p| !p.is_empty());
    ui.theme = section.theme.parse().unwrap_or(Theme::Auto);
    ui.base_path = section.path.clone();
    ui
}

/// `http.host`'s host (and port), when set.
fn public_host(config: &Config) -> Option<String> {
    let url = reqwest::Url::parse(config.http.host.as_deref()?).ok()?;
    let host = url.host_str()?;
    Some(
        url.port()
            .map_or(host.to_string(), |p| format!("{host}:{p}")),
    )
}

/// `registry` (the server's router, ops layers included) with the UI's pages mounted beside it.
pub fn mount(config: &Config, registry: Router) -> Result<Router, UiError> {
    let settings = settings(config);
    let upstream = Upstream::in_process(&settings.upstream, registry.clone())?;
    let state = super::ui_state(settings, upstream)?;
    Ok(super::pages(state.links.home())
        .with_state(state)
        .layer(crate::ops::access_log::layer())
        .fallback_service(registry))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The section's values become UI settings; the title falls back to `http.host`, then a name.
    #[test]
    fn settings_from_section() {
        let mut config = Config::default();
        config.ui.path = "/browse/".into();
        config.ui.deleteimages = true;
        config.ui.theme = "dark".into();
        config.http.prefix = "/reg/".into();
        let ui = settings(&config);
        assert_eq!(ui.base_path, "/browse/");
        assert_eq!(ui.upstream, "http://localhost/reg");
        assert!(ui.delete_enabled);
        assert_eq!(ui.theme, Theme::Dark);
        assert_eq!(ui.title, DEFAULT_TITLE);
        config.http.host = Some("https://registry.example.com:8443".into());
        assert_eq!(settings(&config).title, "registry.example.com:8443");
        config.ui.title = Some("Team registry".into());
        assert_eq!(settings(&config).title, "Team registry");
    }
}

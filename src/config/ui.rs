//! `ui:`: the web UI served by `wharf serve` itself, under a path beside the registry API, for
//! one-container deployments. Keys have no underscores so they read well as variables
//! (`REGISTRY_UI_ENABLED=true`, `REGISTRY_UI_DELETEIMAGES=true`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The colour theme of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    /// Follow the browser's `prefers-color-scheme`.
    #[default]
    Auto,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

impl Theme {
    /// The value used in the page's `data-theme` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Auto => "auto",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }
}

impl FromStr for Theme {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Theme::Auto),
            "light" => Ok(Theme::Light),
            "dark" => Ok(Theme::Dark),
            other => Err(format!("theme {other:?} is not one of auto, light, dark")),
        }
    }
}

impl fmt::Display for Theme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `ui:` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UiSection {
    /// Serve the UI.
    pub enabled: bool,
    /// Path the UI is served under; starts and ends with `/`.
    pub path: String,
    /// Name shown in the header and the sign-in prompt (default: `http.host`'s host, else `Wharf`).
    pub title: Option<String>,
    /// Show delete buttons and accept delete forms.
    pub deleteimages: bool,
    /// Registry host shown in `docker pull` commands (default: the host the browser used).
    pub pullurl: Option<String>,
    /// `auto`, `light` or `dark`.
    pub theme: String,
}

impl Default for UiSection {
    fn default() -> Self {
        UiSection {
            enabled: false,
            path: "/ui/".into(),
            title: None,
            deleteimages: false,
            pullurl: None,
            theme: "auto".into(),
        }
    }
}

impl UiSection {
    /// Checks the path and theme; `api_prefix` is `http.prefix` without its trailing `/`.
    pub(super) fn validate(&self, api_prefix: &str) -> Result<(), (&'static str, String)> {
        let path = &self.path;
        let well_formed = path.len() > 1
            && path.starts_with('/')
            && path.ends_with('/')
            && !path.contains("//")
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b));
        if !well_formed {
            return Err((
                "ui.path",
                format!(
                    "{path:?} must be a path other than `/` that starts and ends with `/`, of letters, \
                     digits and `-._~`, e.g. /ui/ (`/` answers load balancers)"
                ),
            ));
        }
        if path.starts_with(&format!("{api_prefix}/v2/")) {
            return Err((
                "ui.path",
                format!("{path:?} is inside the registry API ({api_prefix}/v2/); choose e.g. /ui/"),
            ));
        }
        self.theme
            .parse::<Theme>()
            .map(drop)
            .map_err(|message| ("ui.theme", message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_path(path: &str) -> UiSection {
        UiSection {
            path: path.into(),
            ..UiSection::default()
        }
    }

    /// Paths must be absolute, end in `/`, avoid the API and the root; themes must be known.
    #[test]
    fn validation() {
        for good in ["/ui/", "/registry/browse/", "/v2ui/"] {
            assert!(with_path(good).validate("").is_ok(), "{good}");
        }
        for bad in [
            "/", "ui/", "/ui", "//ui/", "/u i/", "/{x}/", "/v2/", "/v2/ui/",
        ] {
            assert!(with_path(bad).validate("").is_err(), "{bad}");
        }
        assert!(with_path("/reg/v2/ui/").validate("/reg").is_err());
        let theme = UiSection {
            theme: "blue".into(),
            ..UiSection::default()
        };
        assert_eq!(theme.validate("").unwrap_err().0, "ui.theme");
    }
}

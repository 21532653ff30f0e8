//! The `wharf ui` command line. Every option can also come from the environment, under Wharf's own
//! name (`WHARF_UI_*`) or under the name joxit/docker-registry-ui uses, so an existing compose file
//! keeps working when the image is swapped.

use std::net::SocketAddr;

use clap::Args;

use super::config::{Theme, UiConfig};
use super::upstream_tls::UpstreamTls;

/// Options of `wharf ui`.
#[derive(Debug, Clone, Args)]
pub struct UiArgs {
    /// Base URL of the registry to browse and proxy `/v2/` to, e.g. http://registry:5000.
    #[arg(long, env = "WHARF_UI_UPSTREAM")]
    pub upstream: Option<String>,
    /// joxit's name for the upstream URL.
    #[arg(long, env = "NGINX_PROXY_PASS_URL", hide = true)]
    pub nginx_proxy_pass_url: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "WHARF_UI_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// joxit's listen port (all interfaces).
    #[arg(long, env = "NGINX_LISTEN_PORT", hide = true)]
    pub nginx_listen_port: Option<u16>,
    /// Name shown in the header.
    #[arg(long, env = "REGISTRY_TITLE")]
    pub title: Option<String>,
    /// Enable deleting tags, images and repositories ("", "false" = off; anything else = on).
    #[arg(long, env = "DELETE_IMAGES", value_parser = parse_switch)]
    pub delete_images: Option<bool>,
    /// Show the content digest column in tag lists.
    #[arg(long, env = "SHOW_CONTENT_DIGEST", value_parser = parse_switch)]
    pub show_content_digest: Option<bool>,
    /// Tags per page.
    #[arg(long, env = "TAGLIST_PAGE_SIZE")]
    pub taglist_page_size: Option<usize>,
    /// `n` asked of the registry per `_catalog` request.
    #[arg(long, env = "CATALOG_ELEMENTS_LIMIT")]
    pub catalog_elements_limit: Option<usize>,
    /// Repositories per catalog page.
    #[arg(long, env = "WHARF_UI_CATALOG_PAGE_SIZE")]
    pub catalog_page_size: Option<usize>,
    /// Registry host used in `docker pull` commands (default: the host the browser used).
    #[arg(long, env = "PULL_URL")]
    pub pull_url: Option<String>,
    /// auto, light or dark.
    #[arg(long, env = "THEME")]
    pub theme: Option<Theme>,
    /// A PEM file of CA certificates to trust for an https upstream whose certificate comes from a
    /// private CA (besides the bundled roots and SSL_CERT_FILE / SSL_CERT_DIR).
    #[arg(long, env = "WHARF_UI_UPSTREAM_CA")]
    pub upstream_ca: Option<std::path::PathBuf>,
    /// Do not verify the upstream's certificate at all (warned about at start): only on a network
    /// you trust.
    #[arg(long, env = "WHARF_UI_UPSTREAM_INSECURE", value_parser = parse_switch, num_args = 0..=1, default_missing_value = "true")]
    pub upstream_insecure: Option<bool>,
}

/// Where `wharf ui` listens when nothing says otherwise.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";

/// joxit's boolean convention: empty or `false` is off, anything else on.
fn parse_switch(s: &str) -> Result<bool, String> {
    let s = s.trim();
    Ok(!(s.is_empty() || s.eq_ignore_ascii_case("false")))
}

impl UiArgs {
    /// The listen address: `--listen`, else joxit's port on every interface, else [`DEFAULT_LISTEN`].
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
            .or_else(|| {
                self.nginx_listen_port
                    .map(|p| SocketAddr::from(([0, 0, 0, 0], p)))
            })
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default address"))
    }

    /// The UI settings; fails when no upstream is given or a number is zero.
    pub fn into_config(self) -> Result<UiConfig, String> {
        let upstream = self
            .upstream
            .or(self.nginx_proxy_pass_url)
            .filter(|u| !u.trim().is_empty())
            .ok_or("no upstream registry: pass --upstream URL (or WHARF_UI_UPSTREAM / NGINX_PROXY_PASS_URL)")?;
        let parsed = reqwest::Url::parse(&upstream)
            .map_err(|e| format!("upstream {upstream:?} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "upstream {upstream:?} must be an http or https URL"
            ));
        }
        let mut config = UiConfig::new(upstream);
        if let Some(title) = self.title.filter(|t| !t.is_empty()) {
            config.title = title;
        }
        config.delete_enabled = self.delete_images.unwrap_or(false);
        config.show_content_digest = self.show_content_digest.unwrap_or(false);
        config.taglist_page_size = positive(self.taglist_page_size, config.taglist_page_size)?;
        config.catalog_elements_limit =
            positive(self.catalog_elements_limit, config.catalog_elements_limit)?;
        config.catalog_page_size = positive(self.catalog_page_size, config.catalog_page_size)?;
        config.pull_url = self.pull_url.filter(|p| !p.is_empty());
        config.theme = self.theme.unwrap_or_default();
        config.upstream_tls = UpstreamTls {
            ca_file: self.upstream_ca.filter(|p| !p.as_os_str().is_empty()),
            insecure: self.upstream_insecure.unwrap_or(false),
        };
        Ok(config)
    }
}

fn positive(value: Option<usize>, default: usize) -> Result<usize, String> {
    match value {
        Some(0) => Err("page sizes and limits must be at least 1".into()),
        Some(n) => Ok(n),
        None => Ok(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        ui: UiArgs,
    }

    fn parse(args: &[&str]) -> UiArgs {
        let mut all = vec!["wharf-ui"];
        all.extend_from_slice(args);
        Wrapper::try_parse_from(all).expect("valid args").ui
    }

    /// joxit's switch convention: only empty and "false" mean off.
    #[test]
    fn switches() {
        assert_eq!(parse_switch(""), Ok(false));
        assert_eq!(parse_switch("FALSE"), Ok(false));
        assert_eq!(parse_switch("true"), Ok(true));
        assert_eq!(parse_switch("yes"), Ok(true));
    }

    /// Command-line options become the settings; the upstream is required.
    #[test]
    fn options_to_config() {
        let c = parse(&[
            "--upstream",
            "http://registry:5000",
            "--delete-images",
            "true",
            "--taglist-page-size",
            "5",
            "--theme",
            "dark",
        ])
        .into_config()
        .expect("config");
        assert_eq!(c.upstream, "http://registry:5000");
        assert!(c.delete_enabled);
        assert_eq!(c.taglist_page_size, 5);
        assert_eq!(c.theme, Theme::Dark);
        assert!(parse(&[]).into_config().is_err());
        assert!(parse(&["--upstream", "ftp://x"]).into_config().is_err());
        assert!(
            parse(&["--upstream", "http://x", "--taglist-page-size", "0"])
                .into_config()
                .is_err()
        );
    }

    /// joxit's listen port binds every interface; --listen wins over it.
    #[test]
    fn listen_address() {
        assert_eq!(parse(&[]).listen_addr().to_string(), DEFAULT_LISTEN);
        assert_eq!(
            parse(&["--nginx-listen-port", "80"])
                .listen_addr()
                .to_string(),
            "0.0.0.0:80"
        );
        assert_eq!(
            parse(&["--nginx-listen-port", "80", "--listen", "127.0.0.1:9"])
                .listen_addr()
                .to_string(),
            "127.0.0.1:9"
        );
    }
}

//! The registry documents the UI reads — manifests, indexes, image configs, referrer indexes — as
//! tolerant serde types covering both OCI and Docker schema 2, plus the small formatting helpers
//! the pages share (sizes, dates, platforms).

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Deserialize;

use crate::registry::digest::Digest;

/// A content descriptor.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the target.
    #[serde(default)]
    pub media_type: String,
    /// Digest of the target.
    pub digest: String,
    /// Size of the target in bytes.
    #[serde(default)]
    pub size: u64,
    /// Platform of an index entry.
    #[serde(default)]
    pub platform: Option<Platform>,
    /// Artifact type of a referrer.
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// Whether the digest is well-formed, so it is safe to put in a URL.
    pub fn has_valid_digest(&self) -> bool {
        self.digest.parse::<Digest>().is_ok()
    }
}

/// A platform of an index entry or an image config.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Platform {
    /// CPU architecture.
    #[serde(default)]
    pub architecture: String,
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// CPU variant.
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    /// `os/arch[/variant]`.
    pub fn label(&self) -> String {
        match self.variant.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// An image manifest or an index, told apart by which fields are present.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The `mediaType` field, when present.
    #[serde(default)]
    pub media_type: Option<String>,
    /// The artifact type (OCI 1.1).
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// An image's config.
    #[serde(default)]
    pub config: Option<Descriptor>,
    /// An image's layers.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// An index's entries.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to.
    #[serde(default)]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// Whether this is an index (manifest list).
    pub fn is_index(&self) -> bool {
        self.config.is_none() && !self.manifests.is_empty()
            || self
                .media_type
                .as_deref()
                .is_some_and(|m| m.contains("index") || m.contains("manifest.list"))
    }

    /// Sum of layer sizes: the compressed size of an image.
    pub fn layers_size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}

/// An image configuration (OCI or Docker), reduced to what the pages show.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageConfig {
    /// Creation time, RFC 3339.
    #[serde(default)]
    pub created: Option<String>,
    /// CPU architecture.
    #[serde(default)]
    pub architecture: String,
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// CPU variant.
    #[serde(default)]
    pub variant: Option<String>,
    /// The container settings.
    #[serde(default)]
    pub config: Option<ContainerConfig>,
    /// How each layer was made.
    #[serde(default)]
    pub history: Vec<History>,
}

impl ImageConfig {
    /// The platform the image is for, if the config says.
    pub fn platform(&self) -> Option<Platform> {
        (!self.os.is_empty() || !self.architecture.is_empty()).then(|| Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            variant: self.variant.clone(),
        })
    }

    /// The image's labels.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default()
    }
}

/// The runtime part of an image config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// Labels.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// Environment.
    #[serde(default)]
    pub env: Option<Vec<String>>,
    /// Entrypoint.
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// Command.
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    /// Working directory.
    #[serde(default)]
    pub working_dir: Option<String>,
    /// User.
    #[serde(default)]
    pub user: Option<String>,
    /// Exposed ports.
    #[serde(default)]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
}

/// One history entry of an image config.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct History {
    /// When this step ran.
    #[serde(default)]
    pub created: Option<String>,
    /// The Dockerfile instruction (or command) of this step.
    #[serde(default)]
    pub created_by: Option<String>,
    /// A comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// Whether the step made no layer.
    #[serde(default)]
    pub empty_layer: bool,
}

impl History {
    /// The step as a Dockerfile line: BuildKit's `RUN ... # buildkit` and the classic builder's
    /// `/bin/sh -c #(nop) CMD ...` forms are turned back into instructions.
    pub fn dockerfile_line(&self) -> String {
        let line = self.created_by.as_deref().unwrap_or("").trim();
        let line = line.strip_suffix("# buildkit").unwrap_or(line).trim();
        if let Some(rest) = line.strip_prefix("/bin/sh -c #(nop)") {
            return rest.trim().to_string();
        }
        if let Some(rest) = line.strip_prefix("/bin/sh -c ") {
            return format!("RUN {}", rest.trim());
        }
        line.to_string()
    }
}

/// A referrers index.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReferrersIndex {
    /// The referring manifests.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// A byte count for people: `1.5 MB` (decimal units, as `docker images` shows).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = u;
    }
    format!("{value:.1} {unit}")
}

/// An RFC 3339 UTC timestamp as a point in time (for sorting); `None` for other forms.
pub fn parse_time(created: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(created).ok()
}

/// An RFC 3339 timestamp shortened to `YYYY-MM-DD HH:MM` (UTC as recorded).
pub fn short_time(created: &str) -> String {
    match parse_time(created) {
        Some(t) => {
            let s = humantime::format_rfc3339_seconds(t).to_string();
            s.get(..16).unwrap_or(&s).replace('T', " ")
        }
        None => created.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes use decimal units with one decimal.
    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1500), "1.5 kB");
        assert_eq!(human_size(104_857_600), "104.9 MB");
    }

    /// Docker's nanosecond timestamps and offsets parse; the short form is minutes in UTC.
    #[test]
    fn times() {
        assert_eq!(
            short_time("2024-03-01T12:34:56.123456789Z"),
            "2024-03-01 12:34"
        );
        assert!(parse_time("2024-03-01T12:34:56Z").is_some());
        assert_eq!(short_time("yesterday"), "yesterday");
    }

    /// History lines of both builders read as Dockerfile instructions.
    #[test]
    fn dockerfile_lines() {
        let h = |s: &str| History {
            created_by: Some(s.into()),
            ..Default::default()
        };
        assert_eq!(
            h("/bin/sh -c #(nop)  CMD [\"sh\"]").dockerfile_line(),
            "CMD [\"sh\"]"
        );
        assert_eq!(
            h("/bin/sh -c apk add curl").dockerfile_line(),
            "RUN apk add curl"
        );
        assert_eq!(
            h("RUN /bin/sh -c make # buildkit").dockerfile_line(),
            "RUN /bin/sh -c make"
        );
    }

    /// Indexes are recognised by media type or by entries without a config.
    #[test]
    fn index_detection() {
        let m: Manifest = serde_json::from_str(
            r#"{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:00","size":1}]}"#,
        )
        .unwrap();
        assert!(m.is_index());
        let m: Manifest = serde_json::from_str(
            r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:00","size":1},"layers":[{"digest":"sha256:11","size":5}]}"#,
        )
        .unwrap();
        assert!(!m.is_index());
        assert_eq!(m.layers_size(), 5);
    }
}

//! Understanding manifest documents: media type detection, parsing with `oci-spec`, and the list of
//! blobs and manifests a manifest references. Pure functions, no storage.

use std::collections::HashMap;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use serde::Deserialize;

use super::digest::Digest;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Every manifest media type the registry accepts, for `Accept` negotiation.
pub const KNOWN_TYPES: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// Something a manifest needs the repository to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A config or layer blob.
    Blob(Digest),
    /// A child manifest of an index.
    Manifest(Digest),
}

/// What the registry needs to know about a manifest.
#[derive(Debug, Clone)]
pub struct ParsedManifest {
    /// The media type served as `Content-Type`.
    pub media_type: String,
    /// Blobs and child manifests that must exist in the repository.
    pub references: Vec<Reference>,
    /// The manifest this one refers to (OCI 1.1 `subject`).
    pub subject: Option<Digest>,
    /// `artifactType`, or for image manifests without one the config's media type.
    pub artifact_type: Option<String>,
    /// The manifest's annotations.
    pub annotations: Option<HashMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    schema_version: Option<i64>,
    media_type: Option<String>,
    manifests: Option<serde::de::IgnoredAny>,
}

enum Kind {
    Image,
    Index,
}

fn is_generic(content_type: &str) -> bool {
    matches!(
        content_type,
        "" | "application/json" | "application/octet-stream"
    )
}

/// Parses and validates a manifest. `content_type` is the request's `Content-Type`, if any.
pub fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<ParsedManifest, String> {
    let probe: Probe =
        serde_json::from_slice(bytes).map_err(|e| format!("manifest is not valid JSON: {e}"))?;
    match probe.schema_version {
        Some(2) => {}
        Some(1) => {
            return Err("Docker schema1 manifests are not supported; push schema2 or OCI".into())
        }
        other => return Err(format!("schemaVersion must be 2, found {other:?}")),
    }
    let content_type = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim())
        .filter(|c| !is_generic(c));
    let media_type = match (&probe.media_type, content_type) {
        (Some(field), Some(header)) if field != header => {
            return Err(format!(
                "Content-Type {header} does not match the manifest's mediaType {field}"
            ))
        }
        (Some(field), _) => field.clone(),
        (None, Some(header)) => header.to_string(),
        (None, None) if probe.manifests.is_some() => OCI_INDEX.to_string(),
        (None, None) => OCI_MANIFEST.to_string(),
    };
    // Only the manifest types of the OCI and Docker specs: the type is served back as `Content-Type`,
    // and anything else (`text/html`) would let a push put a page on the registry's origin.
    let kind = match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => Kind::Image,
        OCI_INDEX | DOCKER_LIST => Kind::Index,
        other => {
            return Err(format!(
                "unsupported manifest media type {other}; push one of {}",
                KNOWN_TYPES.join(", ")
            ))
        }
    };
    match kind {
        Kind::Image => {
            let m: ImageManifest = serde_json::from_slice(bytes)
                .map_err(|e| format!("invalid image manifest: {e}"))?;
            let mut references = vec![Reference::Blob(descriptor_digest(m.config())?)];
            for layer in m.layers() {
                // Foreign (non-distributable) layers live at their URLs, not in the registry.
                if layer.urls().as_ref().is_some_and(|u| !u.is_empty()) {
                    continue;
                }
                references.push(Reference::Blob(descriptor_digest(layer)?));
            }
            let artifact_type = m
                .artifact_type()
                .as_ref()
                .map(|t| t.to_string())
                .or_else(|| Some(m.config().media_type().to_string()));
            Ok(ParsedManifest {
                media_type,
                references,
                subject: m.subject().as_ref().map(descriptor_digest).transpose()?,
                artifact_type,
                annotations: m.annotations().clone(),
            })
        }
        Kind::Index => {
            let i: ImageIndex =
                serde_json::from_slice(bytes).map_err(|e| format!("invalid image index: {e}"))?;
            let references = i
                .manifests()
                .iter()
                .map(|d| descriptor_digest(d).map(Reference::Manifest))
                .collect::<Result<_, _>>()?;
            Ok(ParsedManifest {
                media_type,
                references,
                subject: i.subject().as_ref().map(descriptor_digest).transpose()?,
                artifact_type: i.artifact_type().as_ref().map(|t| t.to_string()),
                annotations: i.annotations().clone(),
            })
        }
    }
}

fn descriptor_digest(d: &Descriptor) -> Result<Digest, String> {
    let text = d.digest().to_string();
    text.parse()
        .map_err(|e| format!("descriptor digest {text:?} is invalid: {e}"))
}

/// The media type of a stored manifest, for `Content-Type`: its `mediaType` field when it is a manifest
/// type, else sniffed as OCI distribution does when the field is absent (a manifest stored before
/// pushes were limited to manifest types is never served as, say, `text/html`).
pub fn stored_media_type(bytes: &[u8]) -> String {
    match serde_json::from_slice::<Probe>(bytes) {
        Ok(Probe {
            media_type: Some(m),
            ..
        }) if KNOWN_TYPES.contains(&m.as_str()) => m,
        Ok(Probe {
            manifests: Some(_), ..
        }) => OCI_INDEX.to_string(),
        _ => OCI_MANIFEST.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    /// An OCI image manifest lists its config and layers, skips foreign layers, and reports its subject.
    #[test]
    fn image_manifest_references() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",
            "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},
            "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":3}},
                      {{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar","digest":"{}","size":3,"urls":["https://x"]}}],
            "subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":9}}}}"#,
            d('a'),
            d('b'),
            d('c'),
            d('e')
        );
        let m = parse(Some(OCI_MANIFEST), body.as_bytes()).unwrap();
        assert_eq!(m.media_type, OCI_MANIFEST);
        assert_eq!(
            m.references,
            vec![
                Reference::Blob(d('a').parse().unwrap()),
                Reference::Blob(d('b').parse().unwrap())
            ]
        );
        assert_eq!(m.subject, Some(d('e').parse().unwrap()));
        assert_eq!(
            m.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
    }

    /// A Docker manifest list is an index whose children are manifests.
    #[test]
    fn docker_list_references() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[{{"mediaType":"{DOCKER_MANIFEST}","digest":"{}","size":5,"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#,
            d('f')
        );
        let m = parse(None, body.as_bytes()).unwrap();
        assert_eq!(m.media_type, DOCKER_LIST);
        assert_eq!(
            m.references,
            vec![Reference::Manifest(d('f').parse().unwrap())]
        );
    }

    /// Bad documents are refused with a reason: not JSON, schema1, type mismatch, bad digests, and media
    /// types that are not manifest types, from the body or from `Content-Type`.
    #[test]
    fn invalid_manifests() {
        let cases = [
            (None, "not json".to_string(), "not valid JSON"),
            (None, r#"{"schemaVersion":1}"#.to_string(), "schema1"),
            (None, r#"{"schemaVersion":3}"#.to_string(), "schemaVersion"),
            (
                Some(DOCKER_MANIFEST),
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{}},"layers":[]}}"#),
                "does not match",
            ),
            (
                None,
                r#"{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"sha256:zz","size":1},"layers":[]}"#.to_string(),
                "invalid",
            ),
            (None, r#"{"schemaVersion":2,"mediaType":"text/plain"}"#.to_string(), "unsupported"),
            (
                Some("text/html"),
                r#"{"schemaVersion":2,"mediaType":"text/html","config":{},"layers":[]}"#.to_string(),
                "unsupported",
            ),
            (
                Some("text/html"),
                r#"{"schemaVersion":2,"manifests":[]}"#.to_string(),
                "unsupported",
            ),
            (
                Some("text/html"),
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{}},"layers":[]}}"#),
                "does not match",
            ),
        ];
        for (ct, body, want) in cases {
            let err = parse(ct, body.as_bytes()).unwrap_err();
            assert!(err.contains(want), "{body}: {err}");
        }
    }

    /// Without a mediaType field, or with one that is no manifest type, the stored type is sniffed:
    /// `manifests` means an index.
    #[test]
    fn sniffing() {
        assert_eq!(
            stored_media_type(br#"{"schemaVersion":2,"manifests":[]}"#),
            OCI_INDEX
        );
        assert_eq!(
            stored_media_type(br#"{"schemaVersion":2,"config":{}}"#),
            OCI_MANIFEST
        );
        assert_eq!(
            stored_media_type(format!(r#"{{"mediaType":"{DOCKER_MANIFEST}"}}"#).as_bytes()),
            DOCKER_MANIFEST
        );
        assert_eq!(
            stored_media_type(br#"{"schemaVersion":2,"mediaType":"text/html","config":{}}"#),
            OCI_MANIFEST
        );
    }
}

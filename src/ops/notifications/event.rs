//! distribution's event envelope (`application/vnd.docker.distribution.events.v1+json`, as registry:2
//! sends it): the JSON field names and which fields each action fills, built from what the API
//! reported about a request ([`Outcome`]).

use std::time::SystemTime;

use serde::Serialize;

use crate::api::events::{BlobInfo, Happened, ManifestInfo, Outcome};

/// `Content-Type` of every notification request.
pub const EVENTS_MEDIA_TYPE: &str = "application/vnd.docker.distribution.events.v1+json";

/// The media type distribution gives blobs in events.
const BLOB_MEDIA_TYPE: &str = "application/octet-stream";

/// The body of a notification request.
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    /// The events; Wharf sends one per request, as registry:2 does.
    pub events: &'a [Event],
}

/// What an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Content was pushed.
    Push,
    /// Content was pulled.
    Pull,
    /// A blob was mounted from another repository.
    Mount,
    /// A manifest, tag or blob was deleted.
    Delete,
}

impl Action {
    /// The name used in the JSON and in `ignore.actions`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Push => "push",
            Action::Pull => "pull",
            Action::Mount => "mount",
            Action::Delete => "delete",
        }
    }
}

/// One event.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// A new UUID.
    pub id: String,
    /// When it happened, RFC 3339 in UTC.
    pub timestamp: String,
    /// What happened.
    pub action: Action,
    /// To what.
    pub target: Target,
    /// The request that did it.
    pub request: RequestRecord,
    /// Who did it.
    pub actor: ActorRecord,
    /// Which registry instance saw it.
    pub source: SourceRecord,
}

/// What an event is about; absent fields are left out.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// Media type of the manifest, or `application/octet-stream` for blobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Length in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Digest of the content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The same as `size`, kept by distribution for older listeners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    /// The repository.
    pub repository: String,
    /// For mounts, the repository the blob came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_repository: Option<String>,
    /// Where the content can be fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The tag, for manifests pushed or pulled by tag and for tag deletes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// The request that caused an event.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RequestRecord {
    /// A new UUID per request.
    pub id: String,
    /// The client's address: `X-Forwarded-For`'s first address, else `X-Real-Ip`, else the peer.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub addr: String,
    /// The `Host` the client asked for.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// The HTTP method.
    pub method: String,
    /// The client's `User-Agent`.
    pub useragent: String,
}

/// Who caused an event.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ActorRecord {
    /// The authenticated user or token subject; left out when anonymous.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The registry instance that produced an event.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceRecord {
    /// This host's name and the port of `http.addr`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub addr: String,
    /// A UUID chosen at start-up.
    #[serde(rename = "instanceID", skip_serializing_if = "String::is_empty")]
    pub instance_id: String,
}

impl SourceRecord {
    /// The source for this process: the host name with the port of `http_addr` (`:5000` gives
    /// `<hostname>:5000`), and a new instance ID.
    pub fn new(http_addr: &str) -> SourceRecord {
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        let port = http_addr
            .rsplit_once(':')
            .map(|(_, p)| p)
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        SourceRecord {
            addr: match port {
                Some(port) => format!("{host}:{port}"),
                None => host,
            },
            instance_id: uuid::Uuid::new_v4().to_string(),
        }
    }
}

impl Event {
    /// The event for `outcome`. `url_of` makes an API path (`/v2/...`) into the URL clients use.
    pub fn new(
        outcome: Outcome,
        request: RequestRecord,
        source: SourceRecord,
        url_of: impl Fn(&str) -> String,
    ) -> Event {
        let repository = outcome.repository.to_string();
        let manifest = |m: ManifestInfo| Target {
            media_type: Some(m.media_type),
            size: Some(m.size),
            length: Some(m.size),
            url: Some(url_of(&format!("/v2/{repository}/manifests/{}", m.digest))),
            digest: Some(m.digest.to_string()),
            tag: m.tag.map(|t| t.to_string()),
            repository: repository.clone(),
            ..Target::default()
        };
        let blob = |b: BlobInfo| Target {
            media_type: Some(BLOB_MEDIA_TYPE.into()),
            size: Some(b.size),
            length: Some(b.size),
            url: Some(url_of(&format!("/v2/{repository}/blobs/{}", b.digest))),
            digest: Some(b.digest.to_string()),
            repository: repository.clone(),
            ..Target::default()
        };
        let (action, target) = match outcome.happened {
            Happened::ManifestPushed(m) => (Action::Push, manifest(m)),
            Happened::ManifestPulled(m) => (Action::Pull, manifest(m)),
            Happened::BlobPushed(b) => (Action::Push, blob(b)),
            Happened::BlobPulled(b) => (Action::Pull, blob(b)),
            Happened::BlobMounted { blob: b, from } => (
                Action::Mount,
                Target {
                    from_repository: Some(from.to_string()),
                    ..blob(b)
                },
            ),
            Happened::ManifestDeleted(d) | Happened::BlobDeleted(d) => (
                Action::Delete,
                Target {
                    digest: Some(d.to_string()),
                    repository: repository.clone(),
                    ..Target::default()
                },
            ),
            Happened::TagDeleted(t) => (
                Action::Delete,
                Target {
                    tag: Some(t.to_string()),
                    repository: repository.clone(),
                    ..Target::default()
                },
            ),
        };
        Event {
            id: uuid::Uuid::new_v4().to_string(),
            timestamp: humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
            action,
            target,
            request,
            actor: ActorRecord {
                name: outcome.actor,
            },
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::registry::digest::Digest;

    fn outcome(happened: Happened, actor: Option<&str>) -> Outcome {
        Outcome {
            repository: "team/app".parse().unwrap(),
            happened,
            actor: actor.map(String::from),
        }
    }

    fn json_of(outcome: Outcome) -> Value {
        let request = RequestRecord {
            id: "r".into(),
            addr: "10.0.0.1".into(),
            host: "registry.example".into(),
            method: "PUT".into(),
            useragent: "docker/27".into(),
        };
        let source = SourceRecord {
            addr: "node:5000".into(),
            instance_id: "i".into(),
        };
        let event = Event::new(outcome, request, source, |p| {
            format!("https://r.example{p}")
        });
        serde_json::to_value(event).unwrap()
    }

    /// A manifest push by tag carries distribution's field names: the descriptor, `length`, the URL by
    /// digest, the tag, the request, the actor and the source.
    #[test]
    fn manifest_push_fields() {
        let digest = Digest::sha256_of(b"m");
        let pushed = Happened::ManifestPushed(ManifestInfo {
            digest: digest.clone(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 1,
            tag: Some("v1".parse().unwrap()),
        });
        let v = json_of(outcome(pushed, Some("alice")));
        assert_eq!(v["action"], "push");
        assert_eq!(
            v["target"],
            json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "size": 1,
                "digest": digest.to_string(),
                "length": 1,
                "repository": "team/app",
                "url": format!("https://r.example/v2/team/app/manifests/{digest}"),
                "tag": "v1",
            })
        );
        assert_eq!(
            v["request"],
            json!({"id": "r", "addr": "10.0.0.1", "host": "registry.example", "method": "PUT", "useragent": "docker/27"})
        );
        assert_eq!(v["actor"], json!({"name": "alice"}));
        assert_eq!(v["source"], json!({"addr": "node:5000", "instanceID": "i"}));
        assert!(uuid::Uuid::parse_str(v["id"].as_str().unwrap()).is_ok());
        assert!(humantime::parse_rfc3339(v["timestamp"].as_str().unwrap()).is_ok());
    }

    /// Mounts name the source repository; deletes carry only what identifies the deleted thing; an
    /// anonymous actor is an empty object.
    #[test]
    fn mount_and_delete_fields() {
        let digest = Digest::sha256_of(b"b");
        let mounted = Happened::BlobMounted {
            blob: BlobInfo {
                digest: digest.clone(),
                size: 7,
            },
            from: "base/image".parse().unwrap(),
        };
        let v = json_of(outcome(mounted, None));
        assert_eq!(v["action"], "mount");
        assert_eq!(v["target"]["fromRepository"], "base/image");
        assert_eq!(v["target"]["mediaType"], BLOB_MEDIA_TYPE);
        assert_eq!(v["actor"], json!({}));

        let v = json_of(outcome(Happened::BlobDeleted(digest.clone()), None));
        assert_eq!(
            v["target"],
            json!({"digest": digest.to_string(), "repository": "team/app"})
        );
        let v = json_of(outcome(Happened::TagDeleted("old".parse().unwrap()), None));
        assert_eq!(v["action"], "delete");
        assert_eq!(v["target"], json!({"repository": "team/app", "tag": "old"}));
    }

    /// The source address is the host name with `http.addr`'s port, or the host name alone.
    #[test]
    fn source_addr() {
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        assert_eq!(SourceRecord::new(":5000").addr, format!("{host}:5000"));
        assert_eq!(SourceRecord::new("0.0.0.0:443").addr, format!("{host}:443"));
        assert_eq!(SourceRecord::new("").addr, host);
        assert_ne!(
            SourceRecord::new("").instance_id,
            SourceRecord::new("").instance_id
        );
    }
}

//! Per tag of a repository: the manifest it points at, when it was pushed and when that manifest was
//! last pulled, as retention policies weigh them. Read by the Wharf API's
//! `GET /v2/_wharf/tags/<name>` for the web UI's repository page.

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use super::digest::Digest;
use super::error::{RegistryError, Result};
use super::names::{RepoName, Tag};
use super::paths;
use super::Registry;

/// Tags read at once.
const READS_AT_ONCE: usize = 16;

/// One tag's times.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TagTimes {
    /// The tag.
    pub tag: Tag,
    /// The manifest it points at.
    pub digest: Digest,
    /// When it was last pushed (RFC 3339).
    pub pushed: Option<String>,
    /// When its manifest was last pulled from this repository (RFC 3339), if ever.
    pub pulled: Option<String>,
}

impl Registry {
    /// Every tag of `name` with its push and last-pull time, sorted by tag; `NameUnknown` when the
    /// repository does not exist.
    pub async fn tag_times(&self, name: &RepoName) -> Result<Vec<TagTimes>> {
        if !self.exists(&paths::manifests_dir(name)).await? {
            return Err(RegistryError::NameUnknown);
        }
        let stamp = |t| humantime::format_rfc3339_seconds(t).to_string();
        // Three reads a tag, a few tags at a time: on S3 each read is a round trip.
        let pending = self
            .all_tags(name)
            .await?
            .into_iter()
            .map(|tag| async move {
                let Some(digest) = self.read_link(&paths::tag_current_link(name, &tag)).await?
                else {
                    return Ok(None);
                };
                let pushed = self.tag_pushed(name, &tag).await?.map(stamp);
                let pulled = self.last_pulled(name, &digest).await?.map(stamp);
                Ok::<_, RegistryError>(Some(TagTimes {
                    tag,
                    digest,
                    pushed,
                    pulled,
                }))
            });
        let times: Vec<TagTimes> = stream::iter(pending)
            .buffered(READS_AT_ONCE)
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .flatten()
            .collect();
        Ok(times)
    }
}

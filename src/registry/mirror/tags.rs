//! Tag lists of mirrored repositories, as distribution 2.8.2's pull-through cache answers them: the
//! upstream's list while the upstream answers (every tag it has, cached here or not), and the tags
//! cached here when it is unreachable or refuses (with a warning in the log) or does not have the
//! repository. With a default upstream, a name no local repository has lists the upstream's tags;
//! a local repository of that name lists its own, as its pulls come from it too.

use super::{Route, Target};
use crate::registry::error::Result;
use crate::registry::names::RepoName;
use crate::registry::paths;
use crate::registry::Registry;

/// Where a repository's tag list comes from.
pub enum TagSource {
    /// The upstream's tags, as it listed them.
    Upstream(Vec<String>),
    /// The tags stored here under this name.
    Stored(RepoName),
}

impl Registry {
    /// Where the tag list of `name` comes from: the upstream's list for a mirrored repository, else
    /// what is stored (under the name the mirror keeps it as).
    pub async fn tag_source(&self, name: &RepoName) -> Result<TagSource> {
        let Some(mirror) = &self.mirror else {
            return Ok(TagSource::Stored(name.clone()));
        };
        let target = match mirror.route(name)? {
            Route::Local => return Ok(TagSource::Stored(name.clone())),
            Route::Mirrored(target) => target,
            Route::Fallback(target) => {
                if self.exists(&paths::manifests_dir(name)).await? {
                    return Ok(TagSource::Stored(name.clone()));
                }
                target
            }
        };
        Ok(upstream_tags(&target).await)
    }
}

/// The upstream's tags of `target`, or what is stored here when the upstream cannot say.
async fn upstream_tags(target: &Target<'_>) -> TagSource {
    let upstream = &target.remote.upstream;
    match upstream.tags(&target.upstream_name).await {
        Ok(Some(mut tags)) => {
            tags.sort();
            tags.dedup();
            TagSource::Upstream(tags)
        }
        Ok(None) => TagSource::Stored(target.local.clone()),
        Err(e) => {
            tracing::warn!(repository = %target.local, upstream = %upstream.base(), error = %e,
                "listing tags at the upstream failed; listing the cached tags");
            TagSource::Stored(target.local.clone())
        }
    }
}

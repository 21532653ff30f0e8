//! Facts about images, gathered from the upstream registry for the pages: per tag its digest,
//! compressed size, creation date and platforms; per repository its tag count and storage use.
//! Manifests and configs addressed by digest never change, so what is learnt about a digest is kept in
//! a bounded in-memory cache (per repository, so one user's access never answers for another's).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures_util::stream::{self, StreamExt};

use super::error::UiError;
use super::model::{parse_time, ImageConfig, Manifest};
use super::upstream::{Fetched, Upstream};
use super::wire::{parse_json, Credentials};

/// How many upstream requests one page runs at once.
pub const CONCURRENCY: usize = 8;

/// The annotation BuildKit puts on attestation entries of an index (not a platform of the image).
pub const ATTESTATION_ANNOTATION: &str = "vnd.docker.reference.type";

/// Digests remembered before the cache is emptied and starts over.
const CACHE_LIMIT: usize = 20_000;

/// What the pages show about one manifest.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    /// The manifest's digest.
    pub digest: String,
    /// The manifest's media type.
    pub media_type: String,
    /// Compressed size: the layers of an image, the layers of every platform of an index.
    pub size: u64,
    /// Creation time from the image config (the newest platform's for an index).
    pub created: Option<String>,
    /// Platforms (`os/arch[/variant]`).
    pub platforms: Vec<String>,
    /// Every blob the manifest uses, by digest, with its size (for storage use).
    pub blobs: BTreeMap<String, u64>,
    /// The artifact type, for artifacts.
    pub artifact_type: Option<String>,
}

impl ImageInfo {
    /// The creation time as a point in time, for sorting.
    pub fn created_time(&self) -> Option<SystemTime> {
        self.created.as_deref().and_then(parse_time)
    }
}

/// A tag and what it points at.
#[derive(Debug, Clone)]
pub struct TagInfo {
    /// The tag.
    pub tag: String,
    /// The manifest it points at.
    pub image: Arc<ImageInfo>,
}

/// Tag count and storage use of a repository.
#[derive(Debug, Clone, Copy, Default)]
pub struct RepoUsage {
    /// Number of tags.
    pub tags: usize,
    /// Sum of the sizes of the distinct blobs the tagged manifests use.
    pub size: u64,
}

/// Gathers image facts through an [`Upstream`], caching by digest.
#[derive(Debug)]
pub struct Inspector {
    upstream: Upstream,
    cache: Mutex<HashMap<(String, String), Arc<ImageInfo>>>,
}

impl Inspector {
    /// An inspector over `upstream`.
    pub fn new(upstream: Upstream) -> Inspector {
        Inspector {
            upstream,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The upstream client.
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    fn cached(&self, repo: &str, digest: &str) -> Option<Arc<ImageInfo>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(&(repo.to_string(), digest.to_string())).cloned()
    }

    fn remember(&self, repo: &str, info: Arc<ImageInfo>) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert((repo.to_string(), info.digest.clone()), info);
    }

    /// What `repo:tag` points at.
    pub async fn tag(&self, auth: &Credentials, repo: &str, tag: &str) -> Result<TagInfo, UiError> {
        let fetched = self.upstream.manifest(auth, repo, tag).await?;
        let image = self.describe(auth, repo, fetched).await?;
        Ok(TagInfo {
            tag: tag.to_string(),
            image,
        })
    }

    /// [`Inspector::tag`] for many tags, in order, at most [`CONCURRENCY`] at a time.
    pub async fn tags(
        &self,
        auth: &Credentials,
        repo: &str,
        tags: &[String],
    ) -> Vec<(String, Result<TagInfo, UiError>)> {
        stream::iter(tags.iter().cloned())
            .map(|tag| async move {
                let info = self.tag(auth, repo, &tag).await;
                (tag, info)
            })
            .buffered(CONCURRENCY)
            .collect()
            .await
    }

    /// Tag count and storage use of `repo`.
    pub async fn usage(&self, auth: &Credentials, repo: &str) -> Result<RepoUsage, UiError> {
        let tags = match self.upstream.tags(auth, repo).await {
            Ok(tags) => tags,
            Err(UiError::NotFound(_)) => return Ok(RepoUsage::default()),
            Err(e) => return Err(e),
        };
        self.usage_of(auth, repo, &tags).await
    }

    /// Tag count and storage use of `repo` counting only `tags` (a pull-through cache's stored tags,
    /// so that looking never pulls the upstream's other tags through it).
    pub async fn usage_of(
        &self,
        auth: &Credentials,
        repo: &str,
        tags: &[String],
    ) -> Result<RepoUsage, UiError> {
        let mut blobs = BTreeMap::new();
        for (_, info) in self.tags(auth, repo, tags).await {
            match info {
                Ok(info) => blobs.extend(info.image.blobs.iter().map(|(d, s)| (d.clone(), *s))),
                Err(UiError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(RepoUsage {
            tags: tags.len(),
            size: blobs.values().sum(),
        })
    }

    /// The facts about a fetched manifest (from the cache when its digest is known).
    pub async fn describe(
        &self,
        auth: &Credentials,
        repo: &str,
        fetched: Fetched,
    ) -> Result<Arc<ImageInfo>, UiError> {
        if let Some(info) = self.cached(repo, &fetched.digest) {
            return Ok(info);
        }
        let manifest: Manifest = parse_json(&fetched.bytes)?;
        let info = if manifest.is_index() {
            self.describe_index(auth, repo, &fetched, &manifest).await?
        } else {
            self.describe_image(auth, repo, &fetched, &manifest).await?
        };
        let info = Arc::new(info);
        self.remember(repo, info.clone());
        Ok(info)
    }

    async fn describe_image(
        &self,
        auth: &Credentials,
        repo: &str,
        fetched: &Fetched,
        manifest: &Manifest,
    ) -> Result<ImageInfo, UiError> {
        let mut blobs: BTreeMap<String, u64> = manifest
            .layers
            .iter()
            .map(|l| (l.digest.clone(), l.size))
            .collect();
        let mut config = ImageConfig::default();
        if let Some(c) = &manifest.config {
            blobs.insert(c.digest.clone(), c.size);
            if is_image_config(&c.media_type) && c.has_valid_digest() {
                let bytes = self.upstream.blob(auth, repo, &c.digest).await?;
                config = serde_json::from_slice(&bytes).unwrap_or_default();
            }
        }
        Ok(ImageInfo {
            digest: fetched.digest.clone(),
            media_type: manifest
                .media_type
                .clone()
                .unwrap_or_else(|| fetched.media_type.clone()),
            size: manifest.layers_size(),
            created: config.created.clone(),
            platforms: config.platform().map(|p| p.label()).into_iter().collect(),
            blobs,
            artifact_type: manifest.artifact_type.clone().or_else(|| {
                manifest
                    .config
                    .as_ref()
                    .filter(|c| !is_image_config(&c.media_type))
                    .map(|c| c.media_type.clone())
            }),
        })
    }

    async fn describe_index(
        &self,
        auth: &Credentials,
        repo: &str,
        fetched: &Fetched,
        index: &Manifest,
    ) -> Result<ImageInfo, UiError> {
        let children: Vec<_> = index
            .manifests
            .iter()
            .filter(|d| d.has_valid_digest())
            .collect();
        let mut info = ImageInfo {
            digest: fetched.digest.clone(),
            media_type: index
                .media_type
                .clone()
                .unwrap_or_else(|| fetched.media_type.clone()),
            size: 0,
            created: None,
            platforms: Vec::new(),
            blobs: BTreeMap::new(),
            artifact_type: index.artifact_type.clone(),
        };
        for child in children {
            let fetched = self.upstream.manifest(auth, repo, &child.digest).await?;
            let manifest: Manifest = parse_json(&fetched.bytes)?;
            if manifest.is_index() {
                continue;
            }
            let sub = self.describe_image(auth, repo, &fetched, &manifest).await?;
            info.blobs.extend(sub.blobs.clone());
            info.blobs.insert(child.digest.clone(), child.size);
            if child.annotations.contains_key(ATTESTATION_ANNOTATION) {
                continue;
            }
            info.size += sub.size;
            let platform = child
                .platform
                .as_ref()
                .map(|p| p.label())
                .or_else(|| sub.platforms.first().cloned());
            info.platforms.extend(platform);
            if sub.created_time() > info.created_time() {
                info.created = sub.created.clone();
            }
        }
        Ok(info)
    }
}

/// Whether a config media type is an image config (as opposed to an artifact's config).
pub fn is_image_config(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.config.v1+json"
            | "application/vnd.docker.container.image.v1+json"
            | ""
    )
}

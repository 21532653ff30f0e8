//! The pull-through cache (`proxy.remoteurl`): manifests and blobs missing here are fetched from the
//! upstream registry on first pull and kept in the normal layout, so everything else (listing, GC,
//! the UI) sees them as pushed content.
//!
//! - **Byte for byte.** Manifests are kept exactly as the upstream sent them, after checking them
//!   against the digest asked for (or the upstream's `Docker-Content-Digest` for a tag); blobs go
//!   through the upload path, which verifies their digest before the rename that makes them visible.
//! - **Streaming.** A blob is sent to the client while it is being stored. The last chunk is held back
//!   until the digest is verified, so a client never receives a whole wrong blob: a broken or wrong
//!   download ends the client's response with an error, and nothing of it is kept.
//! - **One upstream request.** Concurrent pulls of the same blob (by digest) or manifest (by
//!   repository and reference) share one fetch ([`flight`]): the first leads, the others wait for it
//!   and then read what it stored.
//! - **Tags.** A tag is served from the cache for `proxy.ttl` after it was fetched or last checked;
//!   then one `HEAD` asks the upstream whether it moved. When the upstream is unreachable or refuses
//!   (429, 5xx, …), what is cached is served, stale tags included, with a warning in the log.
//! - **Read-only.** The API refuses pushes and deletes to mirrored repositories ([`Registry::mirrors`]).
//! - **Several upstreams** (`proxy.upstreams`): a name under an upstream's prefix is that upstream's,
//!   the prefix removed (`docker.io/library/alpine` is `library/alpine` at Docker Hub; under
//!   `docker.io` a one-component name gets `library/`), and is kept under the prefixed name. Other
//!   names are ordinary repositories; with a default upstream, a pull of such a name that no local
//!   repository has goes to it (docker's `registry-mirrors` asks for `library/alpine`), kept under
//!   the default's prefix, so local and mirrored content never mix.

mod flight;
pub mod tags;
pub mod upstream;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt;
use prometheus_client::metrics::counter::Counter;

use super::digest::{Algorithm, Digest};
use super::error::{RegistryError, Result};
use super::manifest_format::{self, Reference as Needed};
use super::manifests::StoredManifest;
use super::names::{Reference, RepoName};
use super::paths;
use super::Registry;
use crate::storage::{ByteStream, StorageError};
use flight::{Flights, Turn};
use upstream::Upstream;

/// Chunks of a blob buffered for a client that reads slower than the upstream sends.
const CLIENT_BUFFER: usize = 64;

/// How long the download waits for a client that does not read before it leaves that client behind
/// (its response then ends with an error) and goes on storing, so that a stalled client cannot hold
/// up the others waiting for the same blob.
const CLIENT_STALL: Duration = Duration::from_secs(30);

/// Docker Hub's prefix, under which one-component names are `library/` images.
const DOCKER_HUB: &str = "docker.io";

/// One upstream of the mirror.
pub struct Remote {
    /// The names it serves: those under this prefix; `None` for every name (`proxy.remoteurl`).
    prefix: Option<RepoName>,
    upstream: Upstream,
    /// How long a fetched tag is served before the upstream is asked again.
    ttl: Duration,
}

impl Remote {
    /// `upstream`, serving the names under `prefix` (every name without one), re-checking tags
    /// after `ttl`.
    pub fn new(prefix: Option<RepoName>, upstream: Upstream, ttl: Duration) -> Remote {
        Remote {
            prefix,
            upstream,
            ttl,
        }
    }

    /// A mirrored repository: `rest` at this upstream (Docker Hub's `library/` added), kept under
    /// the prefixed name here.
    fn target(&self, rest: &str) -> Result<Target<'_>> {
        let invalid = || RegistryError::NameUnknown;
        let prefix = self.prefix.as_ref().map(RepoName::as_str);
        let upstream_name: RepoName = match prefix {
            Some(DOCKER_HUB) if !rest.contains('/') => format!("library/{rest}").parse(),
            _ => rest.parse(),
        }
        .map_err(|_| invalid())?;
        let local = match prefix {
            Some(p) => format!("{p}/{upstream_name}")
                .parse()
                .map_err(|_| invalid())?,
            None => upstream_name.clone(),
        };
        Ok(Target {
            remote: self,
            local,
            upstream_name,
        })
    }
}

/// A mirrored repository: its upstream, its name there, and the name it is kept under here.
struct Target<'a> {
    remote: &'a Remote,
    local: RepoName,
    upstream_name: RepoName,
}

/// How a repository name is served.
enum Route<'a> {
    /// An ordinary repository.
    Local,
    /// A mirrored repository.
    Mirrored(Target<'a>),
    /// An ordinary repository, or, for what it does not have, the default upstream's.
    Fallback(Target<'a>),
}

/// A pull-through cache of one or more upstreams.
pub struct Mirror {
    remotes: Vec<Remote>,
    /// The index in `remotes` of the upstream for names under no prefix.
    default: Option<usize>,
    flights: Arc<Flights>,
    counters: Counters,
}

/// What the mirror counts, for the metrics.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// Manifests and blobs served from the cache.
    pub hits: Counter,
    /// Manifests and blobs fetched from the upstream.
    pub misses: Counter,
    /// Bytes received from the upstream (manifests and blobs).
    pub upstream_bytes: Counter,
    /// Upstream requests that failed (unreachable, refused, 429, 5xx, broken or wrong downloads).
    pub upstream_errors: Counter,
}

impl Mirror {
    /// A mirror of `remotes`; names under no prefix fall back to the one with prefix `default`.
    pub fn new(remotes: Vec<Remote>, default: Option<&str>) -> Mirror {
        let default = default.and_then(|d| {
            remotes
                .iter()
                .position(|r| r.prefix.as_ref().map(RepoName::as_str) == Some(d))
        });
        Mirror {
            remotes,
            default,
            flights: Arc::default(),
            counters: Counters::default(),
        }
    }

    fn route(&self, name: &RepoName) -> Result<Route<'_>> {
        for remote in &self.remotes {
            let rest = match &remote.prefix {
                None => Some(name.as_str()),
                Some(prefix) => name
                    .as_str()
                    .strip_prefix(prefix.as_str())
                    .and_then(|r| r.strip_prefix('/')),
            };
            if let Some(rest) = rest {
                return remote.target(rest).map(Route::Mirrored);
            }
        }
        match self.default {
            Some(i) => self.remotes[i].target(name.as_str()).map(Route::Fallback),
            None => Ok(Route::Local),
        }
    }
}

/// What the cache holds for a manifest reference.
enum Cached {
    /// A manifest to serve as is.
    Serve(StoredManifest),
    /// Nothing.
    Missing,
    /// A tag the upstream has moved since.
    Moved,
}

/// Where a blob pulled through the mirror comes from.
pub enum BlobPull {
    /// It is stored here, with this size.
    Stored(u64),
    /// It is not stored, the upstream has it with this size (for `HEAD`).
    Upstream(u64),
    /// It is being fetched, stored and streamed at once.
    Streaming {
        /// Its length, when the upstream declared it.
        size: Option<u64>,
        /// Its bytes; ends with an error if the download breaks or the digest does not match.
        body: ByteStream,
    },
}

impl Registry {
    /// Whether `name` is a mirrored repository, so pushes and deletes to it are refused.
    pub fn mirrors(&self, name: Option<&RepoName>) -> bool {
        match (&self.mirror, name) {
            (Some(mirror), Some(name)) => {
                !matches!(mirror.route(name), Ok(Route::Local | Route::Fallback(_)))
            }
            _ => false,
        }
    }

    /// The mirror's counters, when the registry is a mirror.
    pub fn mirror_counters(&self) -> Option<Counters> {
        self.mirror.as_ref().map(|m| m.counters.clone())
    }

    /// A manifest by tag or digest, fetched from the upstream when the registry is a mirror and it is
    /// missing here (or is a tag older than the TTL); otherwise as [`Registry::get_manifest`].
    pub async fn pull_manifest(
        &self,
        name: &RepoName,
        reference: &Reference,
    ) -> Result<StoredManifest> {
        let Some(mirror) = &self.mirror else {
            return self.get_manifest(name, reference).await;
        };
        let target = match mirror.route(name)? {
            Route::Local => return self.get_manifest(name, reference).await,
            Route::Mirrored(target) => target,
            Route::Fallback(target) => match self.get_manifest(name, reference).await {
                Err(RegistryError::ManifestUnknown(_)) => target,
                local => return local,
            },
        };
        let name = &target.local;
        for _ in 0..2 {
            let missing = match self.cached_manifest(mirror, &target, reference).await? {
                Cached::Serve(manifest) => {
                    mirror.counters.hits.inc();
                    return Ok(manifest);
                }
                Cached::Missing => true,
                Cached::Moved => false,
            };
            let key = format!("manifest {name}:{reference}");
            match mirror.flights.take_turn(&key) {
                Turn::Lead(_guard) => {
                    // A flight that ended between the look above and this turn may have stored it.
                    if missing {
                        if let Ok(m) = self.get_manifest(name, reference).await {
                            return Ok(m);
                        }
                    }
                    let fetched = self.fetch_manifest(&target, reference).await;
                    match &fetched {
                        Ok(m) => {
                            mirror.counters.misses.inc();
                            mirror.counters.upstream_bytes.inc_by(m.bytes.len() as u64);
                        }
                        Err(RegistryError::Unavailable(_)) => {
                            mirror.counters.upstream_errors.inc();
                        }
                        Err(_) => {}
                    }
                    if let (Err(RegistryError::Unavailable(e)), false) = (&fetched, missing) {
                        tracing::warn!(repository = %name, %reference, error = %e,
                            "cannot fetch the moved tag from the upstream; serving the cached one");
                        return self.get_manifest(name, reference).await;
                    }
                    return fetched;
                }
                Turn::Wait(done) => done.wait().await,
            }
        }
        Err(RegistryError::Unavailable(format!(
            "fetching {name}:{reference} from the upstream failed"
        )))
    }

    /// The cached manifest if it can be served without the upstream: by digest always, by tag
    /// within the TTL, or after the upstream confirmed the tag, or when the upstream cannot be asked.
    async fn cached_manifest(
        &self,
        mirror: &Mirror,
        target: &Target<'_>,
        reference: &Reference,
    ) -> Result<Cached> {
        let (name, remote) = (&target.local, target.remote);
        let local = match self.get_manifest(name, reference).await {
            Ok(m) => m,
            Err(RegistryError::ManifestUnknown(_)) => return Ok(Cached::Missing),
            Err(e) => return Err(e),
        };
        let Reference::Tag(tag) = reference else {
            return Ok(Cached::Serve(local));
        };
        let link = paths::tag_current_link(name, tag);
        let checked = self.storage.stat(&link).await?.modified;
        let age = SystemTime::now()
            .duration_since(checked)
            .unwrap_or_default();
        if !remote.ttl.is_zero() && age < remote.ttl {
            return Ok(Cached::Serve(local));
        }
        match remote
            .upstream
            .tag_digest(&target.upstream_name, reference)
            .await
        {
            Ok(Some(Some(digest))) if digest == local.digest => {
                // Still the same: the link's new time restarts the TTL.
                self.storage
                    .put(&link, Bytes::from(digest.to_string()))
                    .await?;
                Ok(Cached::Serve(local))
            }
            Ok(Some(_)) => Ok(Cached::Moved),
            Ok(None) => {
                tracing::warn!(repository = %name, %tag, upstream = remote.upstream.base(),
                    "the upstream no longer has this tag; serving the cached one");
                Ok(Cached::Serve(local))
            }
            Err(e) => {
                mirror.counters.upstream_errors.inc();
                tracing::warn!(repository = %name, %tag, error = %e,
                    "cannot check the tag at the upstream; serving the cached one, which may be stale");
                Ok(Cached::Serve(local))
            }
        }
    }

    /// Fetches a manifest, checks its digest and stores it exactly as received.
    async fn fetch_manifest(
        &self,
        target: &Target<'_>,
        reference: &Reference,
    ) -> Result<StoredManifest> {
        let name = &target.local;
        let unknown = || RegistryError::ManifestUnknown(format!("{name}:{reference}"));
        let fetched = target
            .remote
            .upstream
            .manifest(&target.upstream_name, reference)
            .await?
            .ok_or_else(unknown)?;
        let bytes = fetched.bytes;
        let wrong = |why: String| {
            RegistryError::Unavailable(format!(
                "the upstream's manifest {name}:{reference} {why}; it is not kept"
            ))
        };
        let digest = match (reference, &fetched.digest) {
            (Reference::Digest(want), _) | (Reference::Tag(_), Some(want)) => {
                let got = Digest::compute(want.algorithm(), &bytes);
                if got != *want {
                    return Err(wrong(format!("has digest {got}, not {want}")));
                }
                if want.algorithm() == Algorithm::Sha256 {
                    got
                } else {
                    Digest::compute(Algorithm::Sha256, &bytes)
                }
            }
            (Reference::Tag(_), None) => Digest::compute(Algorithm::Sha256, &bytes),
        };
        let parsed = manifest_format::parse(None, &bytes).map_err(wrong)?;
        self.store_mirrored_manifest(name, reference, &digest, &parsed, bytes.clone())
            .await?;
        Ok(StoredManifest {
            digest,
            media_type: manifest_format::stored_media_type(&bytes),
            bytes,
        })
    }

    /// Writes a fetched manifest in distribution's order (blob, revision link, tag links), without
    /// requiring what it references to be here: the mirror fetches that on demand.
    async fn store_mirrored_manifest(
        &self,
        name: &RepoName,
        reference: &Reference,
        digest: &Digest,
        parsed: &manifest_format::ParsedManifest,
        bytes: Bytes,
    ) -> Result<()> {
        let touched = [digest.clone()];
        let entered = self.coordinator.enter(name, &touched).await?;
        let writing = self.gc.write(name, &touched).await;
        let blob = paths::blob_data(digest);
        if !self.exists(&blob).await? {
            self.storage.put(&blob, bytes).await?;
        }
        let link = Bytes::from(digest.to_string());
        self.storage
            .put(&paths::revision_link(name, digest), link.clone())
            .await?;
        self.catalog.added(name).await?;
        if let Some(subject) = &parsed.subject {
            self.storage
                .put(&paths::referrer_link(name, subject, digest), link.clone())
                .await?;
        }
        if let Reference::Tag(tag) = reference {
            self.storage
                .put(&paths::tag_index_link(name, tag, digest), link.clone())
                .await?;
            self.storage
                .put(&paths::tag_current_link(name, tag), link)
                .await?;
            self.catalog.tagged(name, tag).await?;
        }
        drop(writing);
        let mut wrote = vec![blob, paths::revision_link(name, digest)];
        for needed in &parsed.references {
            if let Needed::Manifest(d) = needed {
                wrote.push(paths::revision_link(name, d));
            }
        }
        self.coordinator
            .leave(entered, name, &touched, &wrote)
            .await?;
        Ok(())
    }

    /// A blob of the repository: stored here, or, in a mirror, fetched from the upstream (for a `GET`
    /// streamed to the client while it is stored; for a `HEAD` only its size is asked).
    pub async fn pull_blob(
        self: &Arc<Self>,
        name: &RepoName,
        digest: &Digest,
        head: bool,
    ) -> Result<BlobPull> {
        let Some(mirror) = &self.mirror else {
            return self.blob_size(name, digest).await.map(BlobPull::Stored);
        };
        let target = match mirror.route(name)? {
            Route::Local => return self.blob_size(name, digest).await.map(BlobPull::Stored),
            Route::Mirrored(target) => target,
            Route::Fallback(target) => match self.blob_size(name, digest).await {
                Err(RegistryError::BlobUnknown(_)) => target,
                local => return local.map(BlobPull::Stored),
            },
        };
        let name = &target.local;
        let upstream = &target.remote.upstream;
        for _ in 0..2 {
            if let Some(size) = self.cached_blob(&target, digest).await? {
                mirror.counters.hits.inc();
                return Ok(BlobPull::Stored(size));
            }
            if head {
                return match upstream.blob_size(&target.upstream_name, digest).await? {
                    Some(size) => Ok(BlobPull::Upstream(size)),
                    None => Err(RegistryError::BlobUnknown(digest.clone())),
                };
            }
            match mirror.flights.take_turn(&format!("blob {digest}")) {
                Turn::Lead(guard) => {
                    // A flight that ended between the look above and this turn may have stored it.
                    if let Ok(size) = self.blob_size(name, digest).await {
                        return Ok(BlobPull::Stored(size));
                    }
                    mirror.counters.misses.inc();
                    let fetching = self.fetch_blob(mirror, &target, digest, guard).await;
                    if let Err(RegistryError::Unavailable(_)) = &fetching {
                        mirror.counters.upstream_errors.inc();
                    }
                    return fetching;
                }
                Turn::Wait(done) => done.wait().await,
            }
        }
        Err(RegistryError::Unavailable(format!(
            "fetching {digest} from the upstream failed"
        )))
    }

    /// The size of the blob if the repository has it; a blob stored for another repository is linked
    /// into this one once the upstream confirms this repository has it.
    async fn cached_blob(&self, target: &Target<'_>, digest: &Digest) -> Result<Option<u64>> {
        let name = &target.local;
        match self.blob_size(name, digest).await {
            Ok(size) => return Ok(Some(size)),
            Err(RegistryError::BlobUnknown(_)) => {}
            Err(e) => return Err(e),
        }
        let size = match self.storage.stat(&paths::blob_data(digest)).await {
            Ok(meta) => meta.size,
            Err(StorageError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let upstream = &target.remote.upstream;
        if upstream
            .blob_size(&target.upstream_name, digest)
            .await?
            .is_none()
        {
            return Err(RegistryError::BlobUnknown(digest.clone()));
        }
        let touched = std::slice::from_ref(digest);
        let entered = self.coordinator.enter(name, touched).await?;
        let writing = self.gc.write(name, touched).await;
        self.link_blob(name, digest).await?;
        drop(writing);
        let wrote = [paths::blob_data(digest), paths::layer_link(name, digest)];
        self.coordinator
            .leave(entered, name, touched, &wrote)
            .await?;
        Ok(Some(size))
    }

    /// Starts the download, and a task storing it through the upload path while it forwards each
    /// chunk to the client; the task, not the client, owns the fetch, so a client leaving does not
    /// stop it.
    async fn fetch_blob(
        self: &Arc<Self>,
        mirror: &Mirror,
        target: &Target<'_>,
        digest: &Digest,
        guard: flight::Guard,
    ) -> Result<BlobPull> {
        let fetched = target
            .remote
            .upstream
            .blob(&target.upstream_name, digest)
            .await?
            .ok_or_else(|| RegistryError::BlobUnknown(digest.clone()))?;
        let (to_client, from_fetch) = tokio::sync::mpsc::channel(CLIENT_BUFFER);
        let relay = Arc::new(Relay {
            to_client,
            held_back: std::sync::Mutex::default(),
            left_behind: AtomicBool::new(false),
        });
        let tee = tee(
            fetched.body,
            relay.clone(),
            mirror.counters.upstream_bytes.clone(),
        );
        let errors = mirror.counters.upstream_errors.clone();
        let registry = self.clone();
        let (name, digest) = (target.local.clone(), digest.clone());
        tokio::spawn(async move {
            let stored = registry.put_blob(&name, &digest, tee).await;
            // Stored or not, the flight is over: waiters look in storage again.
            drop(guard);
            match stored {
                Ok(size) => {
                    tracing::info!(repository = %name, %digest, size, "blob fetched from the upstream and kept");
                    let last = relay
                        .held_back
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take();
                    if let Some(last) = last {
                        relay.send(Piece::Chunk(last)).await;
                    }
                    relay.send(Piece::End).await;
                }
                Err(e) => {
                    errors.inc();
                    tracing::warn!(repository = %name, %digest, error = %e,
                        "fetching the blob from the upstream failed; nothing of it is kept");
                    relay.send(Piece::Failed(e.to_string())).await;
                }
            }
        });
        // The client's body: the chunks, ending cleanly only after `End`.
        let body = futures_util::stream::unfold(Some(from_fetch), |rx| async move {
            let mut rx = rx?;
            match rx.recv().await {
                Some(Piece::Chunk(bytes)) => Some((Ok(bytes), Some(rx))),
                Some(Piece::End) => None,
                Some(Piece::Failed(why)) => Some((Err(std::io::Error::other(why)), None)),
                None => Some((
                    Err(std::io::Error::other("the download was left behind")),
                    None,
                )),
            }
        });
        Ok(BlobPull::Streaming {
            size: fetched.size,
            body: Box::pin(body),
        })
    }
}

/// What the download sends to its first client.
enum Piece {
    /// The next bytes.
    Chunk(Bytes),
    /// The blob is stored and verified: the body ends here.
    End,
    /// The download failed: the body ends with an error.
    Failed(String),
}

/// The download's link to its first client.
struct Relay {
    to_client: tokio::sync::mpsc::Sender<Piece>,
    /// The last chunk received, sent once the next arrives, or, for the very last, once the digest
    /// is verified.
    held_back: std::sync::Mutex<Option<Bytes>>,
    /// Set when the client went away or stopped reading: it is sent nothing more, and its body ends
    /// with an error because no `End` follows.
    left_behind: AtomicBool,
}

impl Relay {
    /// Sends `piece` unless the client was left behind; leaves it behind if it does not take the
    /// piece within [`CLIENT_STALL`].
    async fn send(&self, piece: Piece) {
        if self.left_behind.load(Ordering::Relaxed) {
            return;
        }
        if self
            .to_client
            .send_timeout(piece, CLIENT_STALL)
            .await
            .is_err()
        {
            self.left_behind.store(true, Ordering::Relaxed);
        }
    }
}

/// The upstream's body as the upload path reads it, each chunk also relayed to the client one chunk
/// late (the last one stays held back for the fetch task). A client that went away or stalls is left
/// behind; the download continues.
fn tee(body: ByteStream, relay: Arc<Relay>, received: Counter) -> ByteStream {
    Box::pin(futures_util::stream::unfold(body, move |mut body| {
        let (relay, received) = (relay.clone(), received.clone());
        async move {
            let item = body.next().await?;
            match &item {
                Ok(chunk) => {
                    received.inc_by(chunk.len() as u64);
                    let previous = relay
                        .held_back
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .replace(chunk.clone());
                    if let Some(previous) = previous {
                        relay.send(Piece::Chunk(previous)).await;
                    }
                }
                Err(_) => {
                    relay
                        .held_back
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take();
                }
            }
            Some((item, body))
        }
    }))
}

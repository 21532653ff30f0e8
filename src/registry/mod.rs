//! Registry services: repositories, blobs, uploads, manifests, tags and referrers on top of a
//! [`Storage`] backend. This layer knows the registry's rules and the storage layout (through
//! [`paths`], distribution's `v2` layout, which this layer owns); it knows nothing of HTTP.

pub mod blobs;
mod catalog;
mod catalog_index;
pub mod digest;
pub mod disk_usage;
pub mod error;
pub mod gc;
pub mod health;
pub mod listing;
mod manifest_cache;
pub mod manifest_format;
pub mod manifests;
pub mod mirror;
pub mod names;
pub mod paths;
pub mod pulls;
pub mod purge;
pub mod quota;
pub mod retention;
pub mod tag_times;
pub mod uploads;

use std::sync::Arc;

use crate::storage::Storage;
use error::{RegistryError, Result};

/// Behaviour switches of the registry services, taken from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Whether blobs and manifests may be deleted (`storage.delete.enabled`).
    pub delete_enabled: bool,
    /// Largest catalog page (`catalog.maxentries`).
    pub catalog_max_entries: usize,
    /// Whether blob downloads are redirected to the storage's presigned URLs (object storage unless
    /// `storage.redirect.disable`).
    pub redirect: bool,
    /// Whether listings use the catalog index and flat tag listings (object storage), instead of
    /// walking directories; read once, to choose the [`catalog`].
    pub indexed_listing: bool,
    /// How long a garbage collection waits between announcing itself in storage and marking
    /// (`storage.gc.settleperiod`); see [`gc::protocol`].
    pub gc_settle_period: std::time::Duration,
    /// Byte quotas per repository pattern (`quotas`); see [`quota`].
    pub quotas: Vec<crate::config::quota::QuotaConfig>,
    /// How long a tag deleted into the trash stays restorable (`retention.trashperiod`).
    pub trash_period: std::time::Duration,
}

#[cfg(test)]
impl Settings {
    /// Deletes enabled, walked listings, no settle period: for unit tests over memory storage.
    pub fn for_tests() -> Settings {
        Settings {
            delete_enabled: true,
            catalog_max_entries: 1000,
            redirect: false,
            indexed_listing: false,
            gc_settle_period: std::time::Duration::ZERO,
            quotas: Vec::new(),
            trash_period: std::time::Duration::from_secs(24 * 3600),
        }
    }
}

/// The registry: every repository over one storage backend.
pub struct Registry {
    storage: Arc<dyn Storage>,
    settings: Settings,
    /// How repositories and tags are listed, chosen once from the settings.
    catalog: Box<dyn catalog::Catalog>,
    sessions: uploads::Sessions,
    gc: gc::barrier::Barrier,
    /// The garbage collection protocol with other processes on the same storage.
    coordinator: gc::protocol::Coordinator,
    /// Sorted tag lists by repository; GC and deletes list afresh.
    tag_cache: crate::storage::listing_cache::ListingCache,
    manifest_cache: manifest_cache::ManifestCache,
    /// Pulls noted and not yet written.
    pulls: pulls::Pulls,
    /// Repositories' usage, for quotas.
    usage_cache: quota::UsageCache,
    /// The upstream this registry is a pull-through cache of, if any.
    mirror: Option<mirror::Mirror>,
}

impl Registry {
    /// A registry over `storage`.
    pub fn new(storage: Arc<dyn Storage>, settings: Settings) -> Self {
        let timing = gc::protocol::Timing::new(settings.gc_settle_period);
        Registry {
            coordinator: gc::protocol::Coordinator::new(storage.clone(), timing),
            catalog: if settings.indexed_listing {
                Box::new(catalog_index::Indexed::new(storage.clone()))
            } else {
                catalog::walked(storage.clone())
            },
            storage,
            settings,
            sessions: Default::default(),
            gc: Default::default(),
            tag_cache: Default::default(),
            manifest_cache: Default::default(),
            pulls: Default::default(),
            usage_cache: Default::default(),
            mirror: None,
        }
    }

    /// The registry as a pull-through cache of `mirror`'s upstream.
    pub fn with_mirror(mut self, mirror: mirror::Mirror) -> Self {
        self.mirror = Some(mirror);
        self
    }

    fn require_delete(&self) -> Result<()> {
        if self.settings.delete_enabled {
            Ok(())
        } else {
            Err(RegistryError::Unsupported(
                "deletion is disabled (set storage.delete.enabled or REGISTRY_STORAGE_DELETE_ENABLED=true)",
            ))
        }
    }
}

//! What collections and writers share about each other's records in `_wharf/gc/` (a file named by
//! a UUID, rewritten while its owner lives): listing them, and telling a live owner from a dead one
//! by how long its record has been seen unchanged, on the reader's own monotonic clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use uuid::Uuid;

use super::walk::list_or_empty;
use crate::registry::error::Result;
use crate::storage::Storage;

/// The ids of the records in a directory (a record being removed may still be listed).
pub(super) async fn ids_in(storage: &dyn Storage, dir: &str) -> Result<Vec<Uuid>> {
    Ok(list_or_empty(storage, dir)
        .await?
        .iter()
        .filter_map(|n| Uuid::try_parse(n).ok())
        .collect())
}

/// Each record as last read, and since when it has been seen so.
#[derive(Default)]
pub(super) struct Seen(HashMap<Uuid, (Bytes, Instant)>);

impl Seen {
    /// Notes record `id` as read now; whether its owner is alive (the record changed within `lease`,
    /// or was first seen less than `lease` ago).
    pub(super) fn alive(&mut self, id: Uuid, record: Bytes, lease: Duration) -> bool {
        let now = Instant::now();
        let entry = self.0.entry(id).or_insert_with(|| (record.clone(), now));
        if entry.0 != record {
            *entry = (record, now);
        }
        now.duration_since(entry.1) < lease
    }

    /// Forgets the records not in `listed`.
    pub(super) fn keep_only(&mut self, listed: &[Uuid]) {
        self.0.retain(|id, _| listed.contains(id));
    }
}

//! Writers' records in `_wharf/gc/writers/` ([`paths::gc_writers_dir`]): a process that makes
//! content reachable registers before its first write, so that a collection which finds no record
//! knows that no write can be in flight without having seen its announcement, and marks at once
//! instead of waiting the settle period ([`super::protocol`]).
//!
//! - **Registering.** Before its first write a process writes `_wharf/gc/writers/<id>` (a JSON
//!   record with a beat counter), then reads the announcements afresh. It rewrites the record every
//!   fifth of a writer lease (the protocol's `Timing::writer_lease`). A write that finds the last successful rewrite started more than
//!   half a writer lease ago writes the record again first, and reads the announcements afresh.
//! - **Retiring.** A process done writing (a server after its drain, a command at its end) removes
//!   its record once no write is between entering and leaving the protocol. One that dies leaves
//!   its record, and collections settle as before until the record is removed as dead.
//! - **Dead records.** A record seen unchanged for a whole writer lease (on the reader's monotonic
//!   clock) belongs to a process that died: each registered writer removes such records as it
//!   beats. The record of a live writer that could not rewrite it for that long may go too; its
//!   next write registers again, and a write it had in flight has outlasted half a writer lease
//!   (at least half a settle period), so it takes the protocol's slow path.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde::Serialize;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::records::{ids_in, Seen};
use crate::registry::error::Result;
use crate::registry::paths;
use crate::storage::{Storage, StorageError};

/// A writer's record in `_wharf/gc/writers/`.
#[derive(Debug, Clone, Serialize)]
struct Record {
    id: String,
    host: String,
    pid: u32,
    started: String,
    beat: u64,
}

impl Record {
    fn bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("a writer record serialises"))
    }
}

/// The processes registered as writers now, by id (a record being removed may still be listed:
/// it only makes a collection settle).
pub(super) async fn registered(storage: &dyn Storage) -> Result<Vec<Uuid>> {
    ids_in(storage, &paths::gc_writers_dir()).await
}

/// One process's registration as a writer, made at its first write.
pub(super) struct Registration {
    id: Uuid,
    state: tokio::sync::Mutex<Option<Registered>>,
    /// Writes between entering and leaving the protocol.
    active: Arc<AtomicUsize>,
}

/// A record in storage and the task that keeps it fresh.
struct Registered {
    record: Record,
    /// Start of the last successful write of the record.
    last_ok: Arc<Mutex<Instant>>,
    beat: JoinHandle<()>,
}

impl Registered {
    fn last_ok(&self) -> Instant {
        *self.last_ok.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A write counted in between entering and leaving the protocol; dropping it counts it out.
pub(super) struct Active(Arc<AtomicUsize>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Default for Registration {
    fn default() -> Self {
        Registration {
            id: Uuid::new_v4(),
            state: Default::default(),
            active: Default::default(),
        }
    }
}

impl Registration {
    /// This process's id as a writer.
    #[cfg(test)]
    pub(super) fn id(&self) -> Uuid {
        self.id
    }

    /// Counts a write in, first writing this process's record when it has none in storage or its
    /// last successful rewrite started more than half of `lease` (the writer lease) ago. Returns
    /// whether it wrote the record now: the write must then read the announcements afresh.
    pub(super) async fn enter(
        &self,
        storage: &Arc<dyn Storage>,
        lease: Duration,
    ) -> Result<(Active, bool)> {
        let mut state = self.state.lock().await;
        let fresh = state
            .as_ref()
            .is_some_and(|r| r.last_ok().elapsed() < lease / 2);
        if !fresh {
            let mut record = match state.take() {
                Some(old) => {
                    old.beat.abort();
                    old.record
                }
                None => Record {
                    id: self.id.to_string(),
                    host: gethostname::gethostname().to_string_lossy().into_owned(),
                    pid: std::process::id(),
                    started: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
                    beat: 0,
                },
            };
            record.beat += 1;
            let start = Instant::now();
            storage
                .put(&paths::gc_writer(&self.id), record.bytes())
                .await?;
            let last_ok = Arc::new(Mutex::new(start));
            let beat = tokio::spawn(beat(
                storage.clone(),
                self.id,
                record.clone(),
                last_ok.clone(),
                lease,
            ));
            *state = Some(Registered {
                record,
                last_ok,
                beat,
            });
        }
        self.active.fetch_add(1, Ordering::SeqCst);
        Ok((Active(self.active.clone()), !fresh))
    }

    /// Removes this process's record once no write is in between entering and leaving, waiting at
    /// most `wait` for that; returns whether it did (a record left behind only makes collections
    /// settle until it is removed as dead). A later write registers again.
    pub(super) async fn retire(&self, storage: &dyn Storage, wait: Duration) -> Result<bool> {
        let deadline = Instant::now() + wait;
        loop {
            let mut state = self.state.lock().await;
            if self.active.load(Ordering::SeqCst) == 0 {
                let Some(registered) = state.take() else {
                    return Ok(true);
                };
                registered.beat.abort();
                return match storage.delete(&paths::gc_writer(&self.id)).await {
                    Ok(()) | Err(StorageError::NotFound(_)) => Ok(true),
                    Err(e) => Err(e.into()),
                };
            }
            drop(state);
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(registered) = self.state.get_mut() {
            registered.beat.abort();
        }
    }
}

/// Rewrites a writer's record every `lease/5`, and removes other writers' records that stay
/// unchanged for a whole `lease`.
async fn beat(
    storage: Arc<dyn Storage>,
    id: Uuid,
    mut record: Record,
    last_ok: Arc<Mutex<Instant>>,
    lease: Duration,
) {
    let mut seen = Seen::default();
    loop {
        tokio::time::sleep(lease / 5).await;
        record.beat += 1;
        let start = Instant::now();
        match storage.put(&paths::gc_writer(&id), record.bytes()).await {
            Ok(()) => *last_ok.lock().unwrap_or_else(|p| p.into_inner()) = start,
            Err(e) => {
                tracing::warn!(error = %e, "writer record for garbage collection not renewed")
            }
        }
        if let Err(e) = remove_dead(storage.as_ref(), &id, &mut seen, lease).await {
            tracing::debug!(error = %e, "dead writer records not checked");
        }
    }
}

/// Removes the records of other writers seen unchanged for a whole `lease`.
async fn remove_dead(
    storage: &dyn Storage,
    own: &Uuid,
    seen: &mut Seen,
    lease: Duration,
) -> Result<()> {
    let listed = registered(storage).await?;
    for id in listed.iter().filter(|id| *id != own) {
        let key = paths::gc_writer(id);
        let record = match storage.get(&key).await {
            Ok(record) => record,
            Err(StorageError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        if !seen.alive(*id, record, lease) {
            tracing::info!(writer = %id, "a process writing to this storage stopped renewing its record: removing it");
            match storage.delete(&key).await {
                Ok(()) | Err(StorageError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    seen.keep_only(&listed);
    Ok(())
}

//! `storage.gc:` (Wharf only): garbage collection inside the running server, on a schedule.

use serde::{Deserialize, Serialize};

use super::duration::GoDuration;

/// `storage.gc:` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GcConfig {
    /// Time between two collections while serving; `0` (the default) schedules none.
    pub interval: GoDuration,
    /// Blobs written or linked, and manifests stored, less than this long ago are never collected, so
    /// a push in progress (here or in another process) keeps everything it uploaded.
    pub graceperiod: GoDuration,
    /// Scheduled collections also delete manifests no tag reaches (`--delete-untagged`).
    pub deleteuntagged: bool,
    /// Scheduled collections only report what they would delete.
    pub dryrun: bool,
    /// How long a collection (in-server or `wharf garbage-collect`) waits between announcing itself
    /// in storage and marking, so that writes in other processes that started before they could see
    /// it are finished and marked; it does not wait when no process is registered as writing to
    /// the storage. Writes that take longer than half of it check their content before answering.
    /// Every process on one storage must use the same value.
    pub settleperiod: GoDuration,
    /// The share of the wall time, in percent (1 to 100), that a collection inside the server
    /// (scheduled, after retention, or `POST /debug/gc`) may spend working: after each few
    /// milliseconds of work it rests, and it keeps few reads in flight, so requests keep their
    /// latency on a busy machine. `100` runs it at full speed. `wharf garbage-collect` always does.
    pub cpupercent: u32,
}

impl GcConfig {
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(1..=100).contains(&self.cpupercent) {
            return Err((
                "storage.gc.cpupercent",
                format!("must be 1 to 100, found {}", self.cpupercent),
            ));
        }
        Ok(())
    }
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            interval: GoDuration::secs(0),
            graceperiod: GoDuration::hours(1),
            deleteuntagged: false,
            dryrun: false,
            settleperiod: GoDuration::secs(10),
            cpupercent: 25,
        }
    }
}

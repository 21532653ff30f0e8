//! Pacing: how a collection inside a serving registry leaves the machine to the requests.
//!
//! A collection is a long run of small storage reads and deletions. At full speed it keeps many of
//! them in flight (each a blocking-pool thread on the filesystem) and takes whole cores from the
//! requests served beside it. A paced collection works one repository (or one deletion) at a time,
//! measures how long its work took, and after every stretch of [`SLICE`] of work rests long
//! enough that its work fills at most its share of the wall time. `wharf garbage-collect` runs at
//! full speed; the server's collections (scheduled, retention, `POST /debug/gc`) are paced by
//! `storage.gc.cpupercent`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest stretch of work between two rests.
const SLICE: Duration = Duration::from_millis(5);

/// Storage operations a paced collection keeps in flight (a full-speed one: its own widths).
const PACED_WIDTH: usize = 2;

/// The share of the wall time a collection may work.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    percent: u8,
}

impl Pace {
    /// No pacing: all the work in flight the collection can keep, no rests.
    pub const FULL: Pace = Pace { percent: 100 };

    /// Work at most `percent` of the wall time (1 to 100; out-of-range values are clamped).
    pub fn percent(percent: u32) -> Pace {
        Pace {
            percent: percent.clamp(1, 100) as u8,
        }
    }

    /// Whether this pace rests at all.
    pub fn is_full(self) -> bool {
        self.percent >= 100
    }
}

impl Default for Pace {
    fn default() -> Self {
        Pace::FULL
    }
}

/// One collection's pacing state, shared by its concurrent work.
pub(super) struct Pacer {
    pace: Pace,
    state: Mutex<State>,
}

struct State {
    /// When the current stretch of work began (the end of the last rest).
    working_since: Instant,
    /// The end of the rest in progress, if one is.
    resting_until: Option<Instant>,
}

impl Pacer {
    pub(super) fn new(pace: Pace) -> Self {
        Pacer {
            pace,
            state: Mutex::new(State {
                working_since: Instant::now(),
                resting_until: None,
            }),
        }
    }

    /// How many pieces of work to keep in flight where a full-speed collection keeps `full`.
    pub(super) fn width(&self, full: usize) -> usize {
        if self.pace.is_full() {
            full
        } else {
            full.min(PACED_WIDTH)
        }
    }

    /// Called between pieces of work: rests when the stretch of work since the last rest is long
    /// enough, else only lets other tasks of the runtime run. A full pace returns at once.
    pub(super) async fn rest(&self) {
        if self.pace.is_full() {
            return;
        }
        let until = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.next_rest(self.pace, Instant::now())
        };
        match until {
            Some(until) => tokio::time::sleep_until(until.into()).await,
            None => tokio::task::yield_now().await,
        }
    }
}

impl State {
    /// Until when a piece of work that asks at `now` rests, if it does: to the end of the rest in
    /// progress, or (after a stretch of at least [`SLICE`]) for the rest of the stretch's share.
    fn next_rest(&mut self, pace: Pace, now: Instant) -> Option<Instant> {
        if let Some(until) = self.resting_until.filter(|u| *u > now) {
            return Some(until);
        }
        let worked = now.saturating_duration_since(self.working_since);
        if worked < SLICE {
            return None;
        }
        let percent = u32::from(pace.percent);
        let until = now + worked * (100 - percent) / percent;
        self.resting_until = Some(until);
        self.working_since = until;
        Some(until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Percentages are clamped to 1–100, and only 100 runs without pacing.
    #[test]
    fn percentages_are_clamped() {
        assert_eq!(Pace::percent(0), Pace::percent(1));
        assert_eq!(Pace::percent(250), Pace::FULL);
        assert!(Pace::percent(100).is_full());
        assert!(!Pace::percent(99).is_full());
        assert_eq!(Pacer::new(Pace::FULL).width(16), 16);
        assert_eq!(Pacer::new(Pace::percent(25)).width(16), PACED_WIDTH);
    }

    /// A paced collection that worked a stretch rests for the rest of its share (at 25 %, three
    /// times as long as it worked); work that asks during a rest waits for its end; a short
    /// stretch after the rest does not rest.
    #[test]
    fn a_stretch_of_work_is_followed_by_a_rest() {
        let start = Instant::now();
        let mut state = State {
            working_since: start,
            resting_until: None,
        };
        let pace = Pace::percent(25);
        assert_eq!(state.next_rest(pace, start + SLICE / 2), None);
        let worked = start + Duration::from_millis(10);
        let until = state.next_rest(pace, worked).unwrap();
        assert_eq!(until, worked + Duration::from_millis(30));
        let during = worked + Duration::from_millis(1);
        assert_eq!(state.next_rest(pace, during), Some(until));
        assert_eq!(state.next_rest(pace, until + SLICE / 2), None);
    }
}

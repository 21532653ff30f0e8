//! Throttling of failed logins per client address: after [`LIMIT`] failures within [`WINDOW`], every
//! request from that address that carries credentials is refused for [`BLOCK`], without checking
//! them. Requests without credentials (anonymous reads) are not affected.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed within [`WINDOW`].
pub const LIMIT: u32 = 10;
/// The period failures are counted over.
pub const WINDOW: Duration = Duration::from_secs(60);
/// How long an address is refused once over the limit.
pub const BLOCK: Duration = Duration::from_secs(60);
/// Addresses tracked before expired records are swept.
const SWEEP_AT: usize = 10_000;

/// Failure counts per client address.
#[derive(Default)]
pub struct Throttle {
    clients: Mutex<HashMap<IpAddr, Record>>,
}

#[derive(Clone, Copy)]
struct Record {
    window_start: Instant,
    failures: u32,
    blocked_until: Option<Instant>,
}

impl Throttle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Record>> {
        // Plain counters; a panic while holding the lock cannot leave them inconsistent.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err(retry_after)` when `client` is refused now.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.check_at(client, Instant::now())
    }

    /// Counts a failed login from `client`.
    pub fn failure(&self, client: IpAddr) {
        self.failure_at(client, Instant::now())
    }

    fn check_at(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        match self.lock().get(&client).and_then(|r| r.blocked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    fn failure_at(&self, client: IpAddr, now: Instant) {
        let mut clients = self.lock();
        if clients.len() >= SWEEP_AT {
            clients.retain(|_, r| {
                now.duration_since(r.window_start) < WINDOW
                    || r.blocked_until.is_some_and(|u| u > now)
            });
        }
        let record = clients.entry(client).or_insert(Record {
            window_start: now,
            failures: 0,
            blocked_until: None,
        });
        if now.duration_since(record.window_start) >= WINDOW {
            record.window_start = now;
            record.failures = 0;
        }
        record.failures += 1;
        if record.failures >= LIMIT {
            record.blocked_until = Some(now + BLOCK);
            tracing::warn!(client = %client, "too many failed logins; refusing this address for {}s", BLOCK.as_secs());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The limit blocks only the failing address, for BLOCK; failures older than WINDOW are forgotten.
    #[test]
    fn blocks_after_limit() {
        let t = Throttle::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        for i in 0..LIMIT - 1 {
            t.failure_at(a, t0 + Duration::from_secs(i as u64));
        }
        assert!(t.check_at(a, t0 + Duration::from_secs(10)).is_ok());
        t.failure_at(a, t0 + Duration::from_secs(10));
        let wait = t.check_at(a, t0 + Duration::from_secs(11)).unwrap_err();
        assert_eq!(wait, BLOCK - Duration::from_secs(1));
        assert!(t.check_at(b, t0 + Duration::from_secs(11)).is_ok());
        assert!(t.check_at(a, t0 + Duration::from_secs(10) + BLOCK).is_ok());

        let t1 = t0 + Duration::from_secs(1000);
        for i in 0..LIMIT - 1 {
            t.failure_at(b, t1 + Duration::from_secs(i as u64));
        }
        t.failure_at(b, t1 + WINDOW + Duration::from_secs(1));
        assert!(t.check_at(b, t1 + WINDOW + Duration::from_secs(2)).is_ok());
    }
}

//! The verified-credential cache: bcrypt costs ~100 ms of CPU per check, so once a user's password
//! has been verified, the same user and password are accepted again without bcrypt.
//!
//! No password is kept: an entry is a SHA-256 of a per-process random salt, the user and the
//! password, compared in constant time. Entries belong to one generation of the htpasswd file;
//! a reload starts a new generation, which empties the cache, and results of checks against an
//! older generation are not stored.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How many users the cache remembers; when full it starts over.
const CAPACITY: usize = 4096;

/// User → digest of the last password verified for them.
pub struct CredentialCache {
    salt: [u8; 32],
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    generation: u64,
    entries: HashMap<String, [u8; 32]>,
}

impl CredentialCache {
    /// An empty cache with a fresh random salt.
    pub fn new() -> Result<Self, getrandom::Error> {
        let mut salt = [0u8; 32];
        getrandom::fill(&mut salt)?;
        Ok(CredentialCache {
            salt,
            state: Mutex::new(State::default()),
        })
    }

    fn digest(&self, user: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update((user.len() as u64).to_be_bytes());
        h.update(user.as_bytes());
        h.update(password.as_bytes());
        h.finalize().into()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain map; a panic elsewhere while holding the lock cannot corrupt it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `user` was verified with `password` in file generation `generation`.
    pub fn contains(&self, generation: u64, user: &str, password: &str) -> bool {
        let digest = self.digest(user, password);
        let mut state = self.lock();
        if state.generation != generation {
            if generation > state.generation {
                state.generation = generation;
                state.entries.clear();
            }
            return false;
        }
        state
            .entries
            .get(user)
            .is_some_and(|known| bool::from(known.ct_eq(&digest)))
    }

    /// Records that `user` has `password` in file generation `generation`.
    pub fn insert(&self, generation: u64, user: &str, password: &str) {
        let digest = self.digest(user, password);
        let mut state = self.lock();
        if generation < state.generation {
            return;
        }
        if generation > state.generation {
            state.generation = generation;
            state.entries.clear();
        }
        if state.entries.len() >= CAPACITY && !state.entries.contains_key(user) {
            state.entries.clear();
        }
        state.entries.insert(user.to_string(), digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hits need the same user, password and generation; a newer generation empties the cache and
    /// a check finished against an older one is not stored.
    #[test]
    fn hits_and_generations() {
        let c = CredentialCache::new().unwrap();
        assert!(!c.contains(1, "a", "pw"));
        c.insert(1, "a", "pw");
        assert!(c.contains(1, "a", "pw"));
        assert!(!c.contains(1, "a", "pw2"));
        assert!(!c.contains(1, "b", "pw"));
        assert!(!c.contains(2, "a", "pw"));
        assert!(!c.contains(2, "a", "pw"), "generation 2 starts empty");
        c.insert(1, "a", "pw");
        assert!(!c.contains(2, "a", "pw"), "stale insert ignored");
        c.insert(2, "a", "new");
        assert!(c.contains(2, "a", "new"));
        assert!(!c.contains(2, "a", "pw"));
    }

    /// Two caches (two processes) never share digests: the salt is random.
    #[test]
    fn salted() {
        let (a, b) = (
            CredentialCache::new().unwrap(),
            CredentialCache::new().unwrap(),
        );
        assert_ne!(a.digest("u", "p"), b.digest("u", "p"));
        assert_ne!(a.digest("u", "p"), a.digest("up", ""));
    }
}

//! The mark set: every digest a collection keeps, held compactly.
//!
//! At 200,000 manifests a collection marks about 450,000 digests. As [`Digest`] values (a heap
//! string of 64 hex characters each) the set was the largest part of a collection's memory; SHA-256
//! digests (all that clients push) are kept here as their 32 bytes, others as they are.

use std::collections::HashSet;

use crate::registry::digest::{Algorithm, Digest};

/// A set of digests.
#[derive(Debug, Default)]
pub(super) struct Marks {
    sha256: HashSet<[u8; 32]>,
    other: HashSet<Digest>,
}

/// A SHA-256 digest's bytes; `None` for other algorithms.
fn sha256_bytes(digest: &Digest) -> Option<[u8; 32]> {
    if digest.algorithm() != Algorithm::Sha256 {
        return None;
    }
    let mut bytes = [0u8; 32];
    // A validated SHA-256 digest is 64 lower-case hex characters.
    hex::decode_to_slice(digest.hex(), &mut bytes).ok()?;
    Some(bytes)
}

impl Marks {
    /// Adds `digest`.
    pub(super) fn insert(&mut self, digest: &Digest) {
        match sha256_bytes(digest) {
            Some(bytes) => {
                self.sha256.insert(bytes);
            }
            None => {
                self.other.insert(digest.clone());
            }
        }
    }

    /// Whether `digest` is in the set.
    pub(super) fn contains(&self, digest: &Digest) -> bool {
        match sha256_bytes(digest) {
            Some(bytes) => self.sha256.contains(&bytes),
            None => self.other.contains(digest),
        }
    }

    /// Adds every digest of `other`.
    pub(super) fn merge(&mut self, other: Marks) {
        if self.sha256.is_empty() {
            self.sha256 = other.sha256;
        } else {
            self.sha256.extend(other.sha256);
        }
        self.other.extend(other.other);
    }

    /// How many digests the set holds.
    pub(super) fn len(&self) -> usize {
        self.sha256.len() + self.other.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Digests of every algorithm are found once added, and only then.
    #[test]
    fn digests_of_every_algorithm_are_kept() {
        let mut marks = Marks::default();
        let a = Digest::compute(Algorithm::Sha256, b"a");
        let b = Digest::compute(Algorithm::Sha512, b"b");
        assert!(!marks.contains(&a) && !marks.contains(&b));
        marks.insert(&a);
        let mut more = Marks::default();
        more.insert(&b);
        more.insert(&a);
        marks.merge(more);
        assert!(marks.contains(&a) && marks.contains(&b));
        assert!(!marks.contains(&Digest::compute(Algorithm::Sha256, b"c")));
        assert_eq!(marks.len(), 2);
    }
}

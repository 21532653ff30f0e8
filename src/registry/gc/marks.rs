//! The mark set: every digest a collection keeps, held compactly.
//!
//! At 200,000 manifests a collection marks about 450,000 digests. As [`Digest`] values (a heap
//! string of 64 hex characters each) the set was the largest part of a collection's memory. A
//! SHA-256 digest (all that clients push) is kept here as its first 8 bytes: two digests that share
//! them are one entry, so a blob could at worst be kept because another blob with the same first 64
//! bits is marked — never deleted while marked (a marked digest is always found). Digests of other
//! algorithms are kept whole.

use std::collections::HashSet;

use crate::registry::digest::{Algorithm, Digest};

/// A set of digests; `contains` may answer yes for an unmarked SHA-256 digest whose first 64 bits
/// a marked one shares (about one chance in 10^9 per blob at 450,000 marks), never no for a marked one.
#[derive(Debug, Default)]
pub(super) struct Marks {
    sha256: HashSet<u64>,
    other: HashSet<Digest>,
}

/// The first 8 bytes of a SHA-256 digest; `None` for other algorithms.
fn sha256_prefix(digest: &Digest) -> Option<u64> {
    if digest.algorithm() != Algorithm::Sha256 {
        return None;
    }
    let mut bytes = [0u8; 8];
    // A validated SHA-256 digest is 64 lower-case hex characters.
    hex::decode_to_slice(digest.hex().get(..16)?, &mut bytes).ok()?;
    Some(u64::from_be_bytes(bytes))
}

impl Marks {
    /// Adds `digest`.
    pub(super) fn insert(&mut self, digest: &Digest) {
        match sha256_prefix(digest) {
            Some(prefix) => {
                self.sha256.insert(prefix);
            }
            None => {
                self.other.insert(digest.clone());
            }
        }
    }

    /// Whether `digest` is in the set.
    pub(super) fn contains(&self, digest: &Digest) -> bool {
        match sha256_prefix(digest) {
            Some(prefix) => self.sha256.contains(&prefix),
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

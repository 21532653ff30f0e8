//! A map with a budget: each value has a weight (names, bytes), and inserting beyond the budget evicts
//! the oldest insertions first. The caches of listings and manifests are built on it so memory stays
//! bounded.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Values by key, their weights summing to at most a budget.
pub(crate) struct BoundedCache<K, V> {
    entries: HashMap<K, (V, usize)>,
    /// Keys in insertion order, oldest first.
    order: VecDeque<K>,
    weight: usize,
    budget: usize,
}

impl<K: Eq + Hash + Clone, V> BoundedCache<K, V> {
    /// An empty cache holding at most `budget` in weight.
    pub(crate) fn new(budget: usize) -> Self {
        BoundedCache {
            entries: HashMap::new(),
            order: VecDeque::new(),
            weight: 0,
            budget,
        }
    }

    /// The value stored under `key`.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(v, _)| v)
    }

    /// Stores `value` under `key`, replacing what was there and evicting the oldest entries until the
    /// weights fit the budget. A value heavier than the whole budget is not stored.
    pub(crate) fn insert(&mut self, key: K, value: V, weight: usize) {
        if let Some((_, old)) = self.entries.remove(&key) {
            self.weight -= old;
            self.order.retain(|k| k != &key);
        }
        if weight > self.budget {
            return;
        }
        while self.weight + weight > self.budget {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some((_, w)) = self.entries.remove(&oldest) {
                self.weight -= w;
            }
        }
        self.weight += weight;
        self.order.push_back(key.clone());
        self.entries.insert(key, (value, weight));
    }

    /// The weight of everything stored.
    #[cfg(test)]
    pub(crate) fn weight(&self) -> usize {
        self.weight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The oldest insertions make room for new ones; a replaced value frees its weight.
    #[test]
    fn evicts_oldest_beyond_the_budget() {
        let mut cache = BoundedCache::new(10);
        cache.insert("a", 1, 4);
        cache.insert("b", 2, 4);
        cache.insert("a", 3, 4);
        assert_eq!(cache.weight(), 8);
        cache.insert("c", 4, 4);
        assert_eq!(cache.get(&"b"), None, "oldest evicted");
        assert_eq!(cache.get(&"a"), Some(&3));
        assert_eq!(cache.get(&"c"), Some(&4));
        cache.insert("huge", 5, 11);
        assert_eq!(cache.get(&"huge"), None);
        assert_eq!(cache.weight(), 8);
    }
}

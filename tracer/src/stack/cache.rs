//! A map of bounded size that keeps what is still being used.

use std::{borrow::Borrow, collections::HashMap, hash::Hash, mem};

/// Two generations of entries: new ones go into `young`; when it is full, `old` is dropped and
/// `young` becomes `old`. A hit in `old` moves the entry back into `young`, so an entry is only
/// dropped after a whole generation went by without using it. That is close enough to least
/// recently used for caches, with O(1) operations and no list to keep in order.
pub(super) struct Bounded<K, V> {
    young: HashMap<K, V>,
    old: HashMap<K, V>,
    generation: usize,
}

impl<K: Eq + Hash, V> Bounded<K, V> {
    /// A map that holds at most about `capacity` entries.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            young: HashMap::new(),
            old: HashMap::new(),
            generation: (capacity / 2).max(1),
        }
    }

    pub(super) fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if let Some((key, value)) = self.old.remove_entry(key) {
            // Moved, not inserted: the two generations together never grow by a hit.
            self.young.insert(key, value);
        }
        self.young.get(key)
    }

    /// Inserts `value`, returning the entries that made room for it (usually none).
    pub(super) fn insert(&mut self, key: K, value: V) -> Vec<V> {
        self.old.remove(&key);
        let mut dropped = Vec::new();
        if self.young.len() >= self.generation && !self.young.contains_key(&key) {
            dropped.extend(mem::replace(&mut self.old, mem::take(&mut self.young)).into_values());
        }
        dropped.extend(self.young.insert(key, value));
        dropped
    }

    pub(super) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.young.remove(key).or_else(|| self.old.remove(key))
    }

    /// Removes the entries `drop` picks, returning them.
    pub(super) fn remove_where(&mut self, mut drop: impl FnMut(&V) -> bool) -> Vec<V> {
        let young = self.young.extract_if(|_, v| drop(v));
        let mut dropped: Vec<V> = young.map(|(_, v)| v).collect();
        dropped.extend(self.old.extract_if(|_, v| drop(v)).map(|(_, v)| v));
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_is_used_and_stays_bounded() {
        let mut map = Bounded::new(4);
        assert!(map.insert(1, "one").is_empty());
        assert!(map.insert(2, "two").is_empty());
        // `young` is full: 1 and 2 become `old`.
        assert!(map.insert(3, "three").is_empty());
        assert_eq!(map.get(&1), Some(&"one"));
        // `young` (3, 1) is full again: `old` (2) goes.
        assert_eq!(map.insert(4, "four"), vec!["two"]);
        assert_eq!(map.get(&2), None);
        assert_eq!(map.get(&1), Some(&"one"));
        assert_eq!(map.insert(1, "uno"), vec!["one"]);
        assert_eq!(map.remove_where(|v| v.len() == 4), vec!["four"]);
        assert_eq!(map.remove(&3), Some("three"));
        assert_eq!(map.get(&1), Some(&"uno"));
    }
}

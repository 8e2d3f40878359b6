//! `ReadySet`: which tasks are ready to run, as a four-level hierarchy of 64-bit words.
//!
//! A task's bit is set by its waker (from any thread, hence atomics) and taken by the scheduler. Each level
//! summarises the one below (a bit per non-empty word), so taking the ready tasks costs time proportional to
//! the ready tasks, not to all tasks: with 100 000 idle tasks, an empty set is one load.
//!
//! Protocol: setters mark the lowest level first and propagate upwards only when a word turns non-empty;
//! the consumer clears a level before reading the level below. Either the consumer sees a new bit in this
//! round, or the setter's propagation marks the upper levels again for the next one.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Tasks a set can hold: 64^4.
pub(crate) const CAPACITY: usize = 1 << 24;
const CHUNKS: usize = CAPACITY >> 12;

/// 64 leaf words: the bits of 4096 consecutive tasks.
type Chunk = [AtomicU64; 64];

pub(crate) struct ReadySet {
    top: AtomicU64,
    level2: [AtomicU64; 64],
    level1: Box<[AtomicU64]>,
    chunks: Box<[OnceLock<Box<Chunk>>]>,
}

impl std::fmt::Debug for ReadySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadySet").field("empty", &self.is_empty()).finish()
    }
}

impl ReadySet {
    pub(crate) fn new() -> Self {
        Self {
            top: AtomicU64::new(0),
            level2: std::array::from_fn(|_| AtomicU64::new(0)),
            level1: (0..CHUNKS).map(|_| AtomicU64::new(0)).collect(),
            chunks: (0..CHUNKS).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Makes sure the leaf words of task `index` exist (called when a slot is created, before any waker).
    pub(crate) fn reserve(&self, index: usize) {
        debug_assert!(index < CAPACITY);
        self.chunks[index >> 12].get_or_init(|| Box::new(std::array::from_fn(|_| AtomicU64::new(0))));
    }

    /// Marks task `index` ready.
    pub(crate) fn insert(&self, index: usize) {
        let word = index >> 6;
        let chunk = word >> 6;
        let Some(leaves) = self.chunks.get(chunk).and_then(OnceLock::get) else {
            return; // never reserved: no such task
        };
        if leaves[word & 63].fetch_or(1 << (index & 63), Ordering::AcqRel) != 0 {
            return;
        }
        if self.level1[chunk].fetch_or(1 << (word & 63), Ordering::AcqRel) != 0 {
            return;
        }
        if self.level2[chunk >> 6].fetch_or(1 << (chunk & 63), Ordering::AcqRel) != 0 {
            return;
        }
        self.top.fetch_or(1 << (chunk >> 6), Ordering::AcqRel);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.top.load(Ordering::Acquire) == 0
    }

    /// Takes every task marked ready so far and calls `visit` on each index.
    pub(crate) fn drain(&self, mut visit: impl FnMut(usize)) {
        let mut top = self.top.swap(0, Ordering::AcqRel);
        while top != 0 {
            let i = top.trailing_zeros() as usize;
            top &= top - 1;
            let mut l2 = self.level2[i].swap(0, Ordering::AcqRel);
            while l2 != 0 {
                let chunk = (i << 6) | l2.trailing_zeros() as usize;
                l2 &= l2 - 1;
                let Some(leaves) = self.chunks[chunk].get() else { continue };
                let mut l1 = self.level1[chunk].swap(0, Ordering::AcqRel);
                while l1 != 0 {
                    let word = l1.trailing_zeros() as usize;
                    l1 &= l1 - 1;
                    let mut bits = leaves[word].swap(0, Ordering::AcqRel);
                    while bits != 0 {
                        visit((chunk << 12) | (word << 6) | bits.trailing_zeros() as usize);
                        bits &= bits - 1;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drained(set: &ReadySet) -> Vec<usize> {
        let mut out = Vec::new();
        set.drain(|i| out.push(i));
        out
    }

    #[test]
    fn takes_exactly_the_inserted_tasks() {
        let set = ReadySet::new();
        let picks = [0, 1, 63, 64, 4095, 4096, 100_000, 262_143, 262_144, CAPACITY - 1];
        for &i in &picks {
            set.reserve(i);
            set.insert(i);
            set.insert(i);
        }
        assert!(!set.is_empty());
        assert_eq!(drained(&set), picks);
        assert!(set.is_empty());
        assert!(drained(&set).is_empty());
    }

    #[test]
    fn unreserved_tasks_are_ignored() {
        let set = ReadySet::new();
        set.insert(5000);
        assert!(set.is_empty());
    }

    #[test]
    fn inserts_during_a_drain_land_in_the_next_round() {
        let set = ReadySet::new();
        set.reserve(0);
        set.insert(1);
        set.insert(2);
        let mut first = Vec::new();
        set.drain(|i| {
            first.push(i);
            set.insert(i + 10);
        });
        assert_eq!(first, [1, 2]);
        assert_eq!(drained(&set), [11, 12]);
    }

    #[test]
    fn concurrent_setters_lose_nothing() {
        let set = std::sync::Arc::new(ReadySet::new());
        for i in 0..8192 {
            set.reserve(i);
        }
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let set = set.clone();
                std::thread::spawn(move || (0..2048).for_each(|i| set.insert(i * 4 + t)))
            })
            .collect();
        let mut seen = vec![false; 8192];
        while threads.iter().any(|t| !t.is_finished()) {
            set.drain(|i| seen[i] = true);
        }
        set.drain(|i| seen[i] = true);
        assert!(seen.iter().all(|&s| s));
    }
}

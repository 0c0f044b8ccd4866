//! A fixed set of exact, independent counters, indexed by a part's own enum of events.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
pub(crate) struct CounterSet<const N: usize>([AtomicU64; N]);

impl<const N: usize> Default for CounterSet<N> {
    fn default() -> Self {
        CounterSet([const { AtomicU64::new(0) }; N])
    }
}

impl<const N: usize> CounterSet<N> {
    pub(crate) fn add(&self, index: usize, by: u64) {
        // Relaxed: independent statistics; nothing is synchronised through them.
        self.0[index].fetch_add(by, Ordering::Relaxed);
    }

    pub(crate) fn get(&self, index: usize) -> u64 {
        // Relaxed: see `add`.
        self.0[index].load(Ordering::Relaxed)
    }
}

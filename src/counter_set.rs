//! A fixed set of exact, independent counters, indexed by a part's own enum of events.

use std::sync::atomic::Ordering;

use crate::sync::AtomicU64;

#[derive(Debug)]
pub(crate) struct CounterSet<const N: usize>([AtomicU64; N]);

impl<const N: usize> Default for CounterSet<N> {
    fn default() -> Self {
        CounterSet(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl<const N: usize> CounterSet<N> {
    #[inline]
    pub(crate) fn add(&self, index: usize, by: u64) {
        // Relaxed: independent statistics; nothing is synchronised through them.
        self.0[index].fetch_add(by, Ordering::Relaxed);
    }

    pub(crate) fn get(&self, index: usize) -> u64 {
        // Relaxed: see `add`.
        self.0[index].load(Ordering::Relaxed)
    }
}

/// Concurrent counting, explored by loom.
#[cfg(all(test, bursar_loom))]
mod loom_models {
    use loom::sync::Arc;
    use loom::thread;

    use super::*;

    #[test]
    fn loom_counters_are_exact_under_races() {
        loom::model(|| {
            let counters = Arc::new(CounterSet::<2>::default());
            let other = Arc::clone(&counters);
            let racing = thread::spawn(move || {
                other.add(0, 1);
                other.add(1, 2);
            });
            counters.add(0, 1);
            racing.join().unwrap();
            assert_eq!((counters.get(0), counters.get(1)), (2, 2));
        });
    }
}

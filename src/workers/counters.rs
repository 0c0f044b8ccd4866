//! Exact counts of how governed work ended.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::Rejection;

/// One thing that can happen to a call; each has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Count {
    Completed,
    Failed,
    TimedOut,
    Panicked,
    Cancelled,
    Abandoned,
    Retries,
    BudgetExhausted,
    QueueFull,
    QueueTimeout,
    ShuttingDown,
    Overloaded,
    CircuitOpen,
}

const KINDS: usize = Count::CircuitOpen as usize + 1;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    counts: [AtomicU64; KINDS],
}

impl Counters {
    pub(crate) fn add(&self, count: Count) {
        // Relaxed: independent statistics; nothing is synchronised through them.
        self.counts[count as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(&self, count: Count) -> u64 {
        // Relaxed: see `add`.
        self.counts[count as usize].load(Ordering::Relaxed)
    }

    pub(crate) fn add_rejection(&self, rejection: Rejection) {
        self.add(match rejection {
            Rejection::QueueFull { .. } => Count::QueueFull,
            Rejection::QueueTimeout { .. } => Count::QueueTimeout,
            Rejection::ShuttingDown => Count::ShuttingDown,
            Rejection::Overloaded { .. } => Count::Overloaded,
            Rejection::CircuitOpen { .. } => Count::CircuitOpen,
        });
    }

    pub(crate) fn rejected(&self) -> u64 {
        [Count::QueueFull, Count::QueueTimeout, Count::ShuttingDown, Count::Overloaded, Count::CircuitOpen]
            .into_iter()
            .map(|count| self.get(count))
            .sum()
    }
}

//! Exact counts of what happened to the pool's connections and gets.

use crate::counter_set::CounterSet;

/// One thing that can happen; each has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Count {
    /// `create` returned a connection.
    Created,
    /// `destroy` returned (or panicked, which is logged).
    Destroyed,
    /// Destroyed for its idle timeout or lifetime.
    Reaped,
    /// Destroyed to make room for a connection of another key.
    Evicted,
    /// Destroyed because its check failed.
    CheckFailed,
    /// Destroyed by `Lease::discard`.
    Discarded,
    /// A `get` ran past the checkout timeout.
    Timeouts,
    /// A lease held past the leak threshold was reported.
    LeaksReported,
    /// The manager's `create`, `check` or `destroy` panicked (contained).
    CallbackPanics,
}

const KINDS: usize = Count::CallbackPanics as usize + 1;

#[derive(Debug, Default)]
pub(super) struct Counters(CounterSet<KINDS>);

impl Counters {
    pub(super) fn add(&self, count: Count, by: usize) {
        self.0.add(count as usize, by as u64);
    }

    pub(super) fn get(&self, count: Count) -> u64 {
        self.0.get(count as usize)
    }
}

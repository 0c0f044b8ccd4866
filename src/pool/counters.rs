//! Exact counts of what happened to the pool's connections and gets.

use crate::counter_set::CounterSet;

/// One thing that can happen; each has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PoolCount {
    /// `create` returned a connection.
    Created,
    /// `destroy` returned (or panicked, which is logged).
    Destroyed,
    /// Destroyed for its idle timeout or lifetime.
    Reaped,
    /// Destroyed while idle, least recently used first, to make room for a new connection: in
    /// `max_total` for another key, or in a port range that is exhausted.
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

const KINDS: usize = PoolCount::CallbackPanics as usize + 1;

#[derive(Debug, Default)]
pub(super) struct PoolCounters(CounterSet<KINDS>);

impl PoolCounters {
    pub(super) fn add(&self, count: PoolCount, by: usize) {
        self.0.add(count as usize, by as u64);
    }

    pub(super) fn get(&self, count: PoolCount) -> u64 {
        self.0.get(count as usize)
    }
}

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
    /// Destroyed on its return from its `max_uses`th lease.
    Recycled,
    /// Destroyed for holding more than `max_rss` of resident memory.
    RetiredForMemory,
    /// Destroyed because `Manager::is_broken` said so.
    Broken,
    /// The manager's code panicked (contained).
    CallbackPanics,
}

impl PoolCount {
    /// Its name in events: the status field that counts it.
    pub(super) fn name(self) -> &'static str {
        match self {
            PoolCount::Created => "created",
            PoolCount::Destroyed => "destroyed",
            PoolCount::Reaped => "reaped",
            PoolCount::Evicted => "evicted",
            PoolCount::CheckFailed => "check_failed",
            PoolCount::Discarded => "discarded",
            PoolCount::Timeouts => "timeouts",
            PoolCount::LeaksReported => "leaks_reported",
            PoolCount::Recycled => "recycled",
            PoolCount::RetiredForMemory => "retired_for_memory",
            PoolCount::Broken => "broken",
            PoolCount::CallbackPanics => "callback_panics",
        }
    }
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

//! [`PoolStatus`]: a snapshot of the pool, exact counts and gauges, serialisable.

use tokio::time::Instant;

use super::counters::PoolCount;
use super::shared::Shared;
use super::{LeakReport, Manager};

/// What a [`Pool`](super::Pool) is now, from [`Pool::status`](super::Pool::status).
///
/// Gauges are read together under the pool's lock, so they agree with each other; counters
/// count since the pool was built and are exact once the pool is quiet (after
/// [`close`](super::Pool::close), every destroy has been counted).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct PoolStatus {
    /// The configured `max_total`.
    pub max_total: usize,
    /// Connections counted against `max_total`: idle, leased, being created or checked, and
    /// being destroyed.
    pub connections: usize,
    /// Keys with at least one idle or leased connection.
    pub sessions: usize,
    /// Connections leased out now, counting those being checked before a reuse: a connection
    /// is lent from the moment a `get` takes it out of the idle list.
    pub active: usize,
    /// Connections idle in the pool now.
    pub idle: usize,
    /// `get`s waiting for a connection of their key to be free or for room to create one.
    pub waiting: usize,
    /// `Manager::create` calls running now (at most `max_concurrent_creates`).
    pub creating: usize,
    /// `get`s (and warm-ups) holding a place and waiting for a turn to create, beyond
    /// `max_concurrent_creates`.
    pub create_waiting: usize,
    /// The configured `max_uses`.
    pub max_uses: Option<u64>,
    /// The configured `max_rss`, in bytes.
    pub max_rss: Option<u64>,
    /// The most resident memory one connection's process group held at the reaper's last
    /// reading, in bytes; `None` before the first reading, or when `max_rss` is not set.
    pub largest_rss: Option<u64>,
    /// Connections `create` returned.
    pub created: u64,
    /// Connections `destroy` has returned for, whatever the reason (those below, closing, a
    /// pool dropped, a `get` dropped during a check).
    pub destroyed: u64,
    /// Connections sent to `destroy` for outliving their idle timeout or lifetime.
    pub reaped: u64,
    /// Idle connections sent to `destroy`, least recently used first, to make room for a new
    /// connection: in `max_total` for another key, or in an exhausted port range.
    pub evicted: u64,
    /// Connections sent to `destroy` because their check failed before a reuse.
    pub check_failed: u64,
    /// Connections sent to `destroy` by `Lease::discard`.
    pub discarded: u64,
    /// Connections sent to `destroy` on their return from their `max_uses`th lease.
    pub recycled: u64,
    /// Connections sent to `destroy` for holding more than `max_rss` of resident memory.
    pub retired_for_memory: u64,
    /// Connections sent to `destroy` because `Manager::is_broken` said so (a crashed browser).
    pub broken: u64,
    /// `get`s that failed with `PoolError::Timeout`.
    pub timeouts: u64,
    /// Leases reported as leaked (each once).
    pub leaks_reported: u64,
    /// Panics in this pool's manager — `create`, `check`, `destroy`, `is_broken` or
    /// `process_group` — each contained: an `ERROR` event naming the callback, and the documented fallback (a failed create, a
    /// failed check, a destroy whose ports and place are freed all the same). A pool started
    /// by a governor counts them in the governor's
    /// [`Status::callbacks`](crate::Status::callbacks) too.
    pub callback_panics: u64,
    /// `connections / max_total`, from 0 to 1.
    pub utilisation: f64,
    /// Leases held past the leak threshold now, longest held first.
    pub leaks: Vec<LeakReport>,
}

/// The pools' section of the governor's status (`status().pool`, every pool added up), named
/// as in the design's status JSON; one pool's share is [`PoolStatus::summary`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct AllPoolsStatus {
    /// Keys with at least one idle or leased connection.
    pub total_sessions: usize,
    /// Connections leased out now.
    pub total_active_connections: usize,
    /// Connections idle in the pool now.
    pub idle: usize,
    /// How many more connections `get`s could be given now: `max_total` less every
    /// connection that is not idle (an idle one can be reused, or evicted for another key).
    pub available_capacity: usize,
    /// `get`s waiting now.
    pub waiting: usize,
    /// Connections sent to `destroy` for outliving their idle timeout or lifetime.
    pub reaped: u64,
    /// Idle connections sent to `destroy` to make room for another key or a port.
    pub evicted: u64,
    /// Connections sent to `destroy` because their check failed before a reuse.
    pub check_failed: u64,
    /// `get`s that failed with `PoolError::Timeout`.
    pub timeouts: u64,
    /// Leases held past the leak threshold now (each is listed in its pool's
    /// [`PoolStatus::leaks`]).
    pub leaks: usize,
    /// Leases reported as leaked so far (each once).
    pub leaks_reported: u64,
}

impl PoolStatus {
    /// The fields the governor's status shows, e.g.
    /// `{ "total_sessions": 5, "total_active_connections": 8, "idle": 2, "available_capacity": 12,
    /// "waiting": 0, "reaped": 3, "evicted": 0, "check_failed": 1, "timeouts": 0, "leaks": 0,
    /// "leaks_reported": 0 }`.
    pub fn summary(&self) -> AllPoolsStatus {
        let busy = self.connections.saturating_sub(self.idle);
        AllPoolsStatus {
            total_sessions: self.sessions,
            total_active_connections: self.active,
            idle: self.idle,
            available_capacity: self.max_total.saturating_sub(busy),
            waiting: self.waiting,
            reaped: self.reaped,
            evicted: self.evicted,
            check_failed: self.check_failed,
            timeouts: self.timeouts,
            leaks: self.leaks.len(),
            leaks_reported: self.leaks_reported,
        }
    }
}

impl<M: Manager> Shared<M> {
    /// [`Pool::status`](super::Pool::status)'s reading.
    pub(super) fn status(&self) -> PoolStatus {
        let config = &self.config;
        let (counts, waiting, leaks) = {
            let state = self.state.lock();
            let key_of = |session| state.sessions.key_text(session);
            let leaks = state.checkouts.overdue(Instant::now(), config.leak_threshold, key_of);
            (state.sessions.counts(), state.waiters.len(), leaks)
        };
        let counters = &self.backend.counters;
        PoolStatus {
            max_total: config.max_total,
            connections: counts.connections,
            sessions: counts.sessions,
            active: counts.active,
            idle: counts.idle,
            waiting,
            creating: self.creates.running(),
            create_waiting: self.creates.waiting(),
            max_uses: config.max_uses,
            max_rss: config.max_rss,
            largest_rss: self.largest_rss(),
            created: counters.get(PoolCount::Created),
            destroyed: counters.get(PoolCount::Destroyed),
            reaped: counters.get(PoolCount::Reaped),
            evicted: counters.get(PoolCount::Evicted),
            check_failed: counters.get(PoolCount::CheckFailed),
            discarded: counters.get(PoolCount::Discarded),
            recycled: counters.get(PoolCount::Recycled),
            retired_for_memory: counters.get(PoolCount::RetiredForMemory),
            broken: counters.get(PoolCount::Broken),
            timeouts: counters.get(PoolCount::Timeouts),
            leaks_reported: counters.get(PoolCount::LeaksReported),
            callback_panics: counters.get(PoolCount::CallbackPanics),
            utilisation: counts.connections as f64 / config.max_total as f64,
            leaks,
        }
    }
}

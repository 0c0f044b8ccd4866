//! Where connections leave use: a lease given back, an eviction for ports, a reaper tick.
//! Each decides under the lock and destroys outside it.

use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::Shared;
use crate::pool::Manager;
use crate::pool::cap_place::CapPlace;
use crate::pool::connection::{Conn, ConnectionGuard, Kept};
use crate::pool::counters::PoolCount;
use crate::pool::leaks::CheckoutId;
use crate::pool::state::wake;

impl<M: Manager> Shared<M> {
    /// Takes a returned lease's connection back (with the handles that keep its place): idle
    /// again, or destroyed if it was discarded, is broken, has served `max_uses` leases, was
    /// found over `max_rss`, has outlived its lifetime, or the pool is closed.
    #[inline]
    pub(in crate::pool) fn give_back(&self, checkout: CheckoutId, mut kept: Box<Kept<M>>, discard: bool) {
        let now = Instant::now();
        kept.conn.uses = kept.conn.uses.saturating_add(1);
        let mut retired = self.retired(&kept.conn, discard, now);
        let (refused, waiter) = {
            let mut state = self.state.lock();
            let over_memory = state.end_lease(checkout, kept.conn.session);
            if over_memory && retired.is_none() {
                retired = Some(PoolCount::RetiredForMemory);
            }
            match retired.is_some() || state.sessions.closed {
                true => (Some(kept), None),
                false => {
                    // Cloned only for waiters to look at: a return nobody waits for clones nothing.
                    let key = (!state.waiters.is_empty()).then(|| kept.conn.key.clone());
                    let refused = state.sessions.put_idle(kept, now).err();
                    (refused, state.wake_next(key.as_ref()))
                }
            }
        };
        wake(waiter);
        let Some(kept) = refused else { return };
        let (conn, place, backend) = kept.into_guards();
        if let Some(reason) = retired {
            self.backend.counters.add(reason, 1);
            tracing::debug!(target: "bursar::pool", key = ?conn.key, uses = conn.uses, reason = reason.name(), "returned connection destroyed");
        }
        backend.destroy(conn, place, None);
    }

    /// Why a returned connection is destroyed rather than kept, by what it says of the
    /// connection itself (being over `max_rss` is in the ledger); `None` to keep it.
    #[inline]
    fn retired(&self, conn: &Conn<M>, discard: bool, now: Instant) -> Option<PoolCount> {
        if discard {
            Some(PoolCount::Discarded)
        } else if self.backend.is_broken(&conn.connection, true) {
            Some(PoolCount::Broken)
        } else if self.config.max_uses.is_some_and(|max| u64::from(conn.uses) >= max) {
            Some(PoolCount::Recycled)
        } else if now >= conn.expires_at {
            Some(PoolCount::Reaped)
        } else {
            None
        }
    }

    /// Evicts the least recently used idle connection of any key for the port of `range` it
    /// holds (every connection holds one of each range the pool names); `None` if none is idle.
    /// The receiver gets its place once `destroy` has returned, and with it its ports.
    pub(in crate::pool) fn evict_for_ports(
        self: &Arc<Self>,
        range: &str,
    ) -> Option<oneshot::Receiver<CapPlace<M>>> {
        let victim = self.state.lock().sessions.take_least_recently_used(None)?;
        self.backend.counters.add(PoolCount::Evicted, 1);
        tracing::debug!(target: "bursar::pool", victim = ?victim.conn.key, range, "idle connection evicted for its ports");
        Some(ConnectionGuard::kept(victim).destroy_and_reclaim())
    }

    /// One reaper tick: destroys expired idle connections and reports new leaks.
    pub(in crate::pool) fn reap(self: &Arc<Self>, now: Instant) {
        let (expired, leaks) = {
            let state = &mut *self.state.lock();
            let expired = state.sessions.take_expired(now, &state.warm_keys);
            let key_of = |session| state.sessions.key_text(session);
            (expired, state.checkouts.newly_overdue(now, self.config.leak_threshold, key_of))
        };
        for leak in &leaks {
            tracing::warn!(target: "bursar::pool", key = %leak.key, location = %leak.location, held_for = ?leak.held_for, "lease held past the leak threshold");
        }
        self.backend.counters.add(PoolCount::LeaksReported, leaks.len());
        if !expired.is_empty() {
            tracing::debug!(target: "bursar::pool", reaped = expired.len(), "idle connections past their idle timeout or lifetime destroyed");
        }
        self.destroy_all(expired, Some(PoolCount::Reaped));
    }

    /// Destroys every idle connection now, whatever its age (the health monitor's emergency
    /// recovery); counted as reaped. Returns how many. The warm-up waits for the reaper's next
    /// tick, as after a failed warm-up, or each place given back here would refill at once what
    /// the emergency freed; a pool started by a governor then waits as long as the governor
    /// sheds work (see `warm.rs`).
    pub(in crate::pool) fn reap_all_idle(self: &Arc<Self>) -> usize {
        // Relaxed: see `warm_up`.
        self.warm_paused.store(true, std::sync::atomic::Ordering::Relaxed);
        let idle = self.state.lock().sessions.take_all_idle();
        let reaped = idle.len();
        self.destroy_all(idle, Some(PoolCount::Reaped));
        reaped
    }

    /// Destroys connections taken out of the idle lists (their places still counted).
    pub(in crate::pool) fn destroy_all(self: &Arc<Self>, conns: Vec<Conn<M>>, reason: Option<PoolCount>) {
        if conns.is_empty() {
            return;
        }
        if let Some(reason) = reason {
            self.backend.counters.add(reason, conns.len());
        }
        for conn in conns {
            let place = CapPlace::counted(Arc::downgrade(self), Some(conn.session), true);
            self.backend.destroy(conn, place, None);
        }
    }
}

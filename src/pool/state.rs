//! [`State`]: everything behind the pool's one lock — the sessions, the queue of waiting
//! `get`s, and the ledger of leases out — and the moves that must change them together.
//!
//! The lock is never held across an `.await`, and no guard is dropped while it is held: a
//! guard's `Drop` takes the lock itself. So the functions here only count and move values;
//! their callers wrap what comes out in guards after unlocking, and send the wake-ups.

use std::panic::Location;
use std::sync::Arc;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::Manager;
use super::connection::Conn;
use super::leaks::{CheckoutId, Checkouts};
use super::sessions::{Decision, PoolLimits, SessionId, Sessions};
use super::waiters::Waiters;

pub(super) struct State<M: Manager> {
    pub(super) sessions: Sessions<M>,
    pub(super) waiters: Waiters<M::Key>,
    pub(super) checkouts: Checkouts,
    /// Keys named by `Pool::warm`, kept at `min_idle_per_key` (and `min_idle` over all).
    pub(super) warm_keys: Vec<M::Key>,
}

/// A `get`'s next step, as decided under the lock.
pub(super) enum Plan<M: Manager> {
    Go(Decision<M>),
    /// Wait for this to be notified, then plan again.
    Wait(Arc<Notify>),
}

impl<M: Manager> State<M> {
    pub(super) fn new(limits: PoolLimits) -> Self {
        let (waiters, checkouts, warm_keys) = (Waiters::new(), Checkouts::new(), Vec::new());
        State { sessions: Sessions::new(limits), waiters, checkouts, warm_keys }
    }

    /// Decides a `get`'s next step and keeps its place in the queue in line with it: it joins
    /// (or stays, keeping its turn) when it must wait, and leaves when it need not. Returns
    /// the step and, if this `get` had been woken, the waiter its turn passes on to. An idle
    /// connection to reuse is lent to the `get` (taken at `location`) from `now` on.
    #[inline]
    pub(super) fn plan(
        &mut self,
        (key, location): (&M::Key, &'static Location<'static>),
        ticket: &mut Option<u64>,
        now: Instant,
        expired: &mut Vec<Conn<M>>,
    ) -> (Plan<M>, Option<Arc<Notify>>) {
        let checkouts = &mut self.checkouts;
        let open = |lent| checkouts.open(lent, location, now);
        // Only a pool that keeps idle connections for warm keys asks whether this one is.
        let warm = self.sessions.keeps_warm_idle() && self.warm_keys.contains(key);
        let (step, was_woken) = match self.sessions.decide((key, warm), now, expired, open) {
            None => {
                let at_cap = self.sessions.at_cap(key);
                match ticket.and_then(|ticket| self.waiters.rewait(ticket, at_cap)) {
                    Some((wake, was_woken)) => (Plan::Wait(wake), was_woken),
                    None => {
                        let (joined, wake) = self.waiters.join(key.clone(), at_cap);
                        *ticket = Some(joined);
                        (Plan::Wait(wake), false)
                    }
                }
            }
            Some(decision) => {
                let was_woken = ticket.take().and_then(|ticket| self.waiters.leave(ticket)).is_some();
                (Plan::Go(decision), was_woken)
            }
        };
        (step, if was_woken { self.wake_next(Some(key)) } else { None })
    }

    /// Ends a lease of `session`: out of the ledger and no longer counted active. Returns
    /// whether its connection was found over `max_rss` while out.
    pub(super) fn end_lease(&mut self, checkout: CheckoutId, session: SessionId) -> bool {
        self.sessions.end_lease(session);
        self.checkouts.close(checkout)
    }

    /// Removes a waiting `get` that was dropped; returns whom its turn passes on to.
    pub(super) fn leave_queue(&mut self, ticket: u64) -> Option<Arc<Notify>> {
        let key = self.waiters.leave(ticket)?;
        self.wake_next(Some(&key))
    }

    /// After a change that concerned `changed` (a connection of that key returned, a place of
    /// it given back), or only the total: marks the oldest waiter that can now make progress
    /// as woken, looking at O(1) waiters; returns its handle.
    pub(super) fn wake_next(&mut self, changed: Option<&M::Key>) -> Option<Arc<Notify>> {
        if self.waiters.is_empty() {
            return None; // the common case, so it costs no search
        }
        self.waiters.wake_first(changed, &self.sessions)
    }
}

/// Sends a wake-up decided under the lock, once the lock is released.
#[inline]
pub(super) fn wake(waiter: Option<Arc<Notify>>) {
    if let Some(waiter) = waiter {
        waiter.notify_one();
    }
}

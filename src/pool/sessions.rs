//! [`Sessions`]: every key's places and idle connections, and the rule that decides what a
//! `get` does next.
//!
//! When the pool is full and a key below its own cap has nothing idle, the least recently used idle connection of another key is
//! evicted; the `get` that evicts it reserves its own key's place at once and takes over the
//! victim's place in the total once the victim is destroyed, so two `get`s never evict for one
//! place and a key never evicts beyond its cap.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::Manager;
use super::held::Conn;
use super::session::Session;

mod idle;

#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) max_total: usize,
    pub(super) max_per_key: usize,
    pub(super) idle_timeout: Duration,
}

pub(super) struct Sessions<M: Manager> {
    by_key: HashMap<M::Key, Session<M>>,
    limits: Limits,
    /// Places held against `max_total`.
    total: usize,
    idle: usize,
    active: usize,
    /// Counts returns, so connections returned at the same instant still have an order.
    returns: u64,
    pub(super) closed: bool,
}

/// What a `get` does next, unless it must wait. Every place it names is already counted.
pub(super) enum Decision<M: Manager> {
    Closed,
    /// Check and hand out this idle connection (its place comes with it).
    Reuse(Conn<M>),
    /// Create a connection in a newly reserved place (its key's and the total's).
    Create,
    /// Destroy this victim of another key; a place of the `get`'s own key is reserved and the
    /// victim's place in the total is the `get`'s once the victim is gone.
    Evict(Conn<M>),
}

/// The gauges of the stats.
#[derive(Debug, Clone, Copy)]
pub(super) struct Counts {
    pub(super) sessions: usize,
    pub(super) connections: usize,
    pub(super) active: usize,
    pub(super) idle: usize,
}

impl<M: Manager> Sessions<M> {
    pub(super) fn new(limits: Limits) -> Self {
        let (total, idle, active, returns) = (0, 0, 0, 0);
        Sessions { by_key: HashMap::new(), limits, total, idle, active, returns, closed: false }
    }

    /// Decides a `get`'s next step; `None` if it must wait. Expired idle connections of `key`
    /// met on the way are moved to `expired` (still holding their places) to be destroyed.
    pub(super) fn decide(
        &mut self,
        key: &M::Key,
        now: Instant,
        expired: &mut Vec<Conn<M>>,
    ) -> Option<Decision<M>> {
        if self.closed {
            return Some(Decision::Closed);
        }
        if let Some(conn) = self.take_idle(key, now, expired) {
            return Some(Decision::Reuse(conn));
        }
        if self.slots(key) >= self.limits.max_per_key {
            return None;
        }
        if self.total < self.limits.max_total {
            self.reserve(key, true);
            return Some(Decision::Create);
        }
        let victim = self.take_least_recently_used(key)?;
        self.reserve(key, false);
        Some(Decision::Evict(victim))
    }

    /// Whether `decide` would answer `Some` for `key`, without changing anything (an idle
    /// connection it would find expired still counts: taking it out is progress too).
    pub(super) fn can_progress(&self, key: &M::Key) -> bool {
        let own_idle = self.by_key.get(key).map_or(0, Session::idle);
        let room = self.slots(key) < self.limits.max_per_key
            && (self.total < self.limits.max_total || self.idle > 0);
        self.closed || own_idle > 0 || room
    }

    /// Gives back a place of `key` and/or of the total.
    pub(super) fn release(&mut self, key: Option<&M::Key>, total: bool) {
        if total {
            self.total = self.total.saturating_sub(1);
        }
        let Some(key) = key else { return };
        if let Some(session) = self.by_key.get_mut(key) {
            session.slots = session.slots.saturating_sub(1);
            if session.slots == 0 {
                self.by_key.remove(key);
            }
        }
    }

    /// Counts a connection of `key` as leased.
    pub(super) fn lend(&mut self, key: &M::Key) {
        self.active += 1;
        if let Some(session) = self.by_key.get_mut(key) {
            session.active += 1;
        }
    }

    /// Counts a lease of `key` as ended; the connection goes idle or to `destroy` next.
    pub(super) fn end_lease(&mut self, key: &M::Key) {
        self.active = self.active.saturating_sub(1);
        if let Some(session) = self.by_key.get_mut(key) {
            session.active = session.active.saturating_sub(1);
        }
    }

    pub(super) fn counts(&self) -> Counts {
        let sessions = self.by_key.values().filter(|session| session.active + session.idle() > 0);
        Counts { sessions: sessions.count(), connections: self.total, active: self.active, idle: self.idle }
    }

    fn slots(&self, key: &M::Key) -> usize {
        self.by_key.get(key).map_or(0, |session| session.slots)
    }

    fn reserve(&mut self, key: &M::Key, total: bool) {
        let session = self.by_key.entry(key.clone()).or_insert_with(Session::new);
        session.slots += 1;
        self.total += usize::from(total);
    }
}

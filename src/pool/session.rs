//! [`Session`]: one key's share of the pool — how many places it holds, how many of its
//! connections are leased, and its idle connections, oldest return first.

use std::time::Duration;

use tokio::time::Instant;

use super::Manager;
use super::held::{Conn, Handles};

/// It exists while it holds at least one place, so the pool never keeps more sessions than
/// it has places, however many keys come and go.
pub(super) struct Session<M: Manager> {
    /// Its key, for ending the session and naming it in reports.
    pub(super) key: M::Key,
    /// Places against `max_per_key`: connections being created, checked, idle, leased or
    /// destroyed, and reservations of `get`s waiting for an evicted connection to go.
    pub(super) slots: usize,
    pub(super) active: usize,
    /// Oldest return first. A `Vec`, not a `VecDeque`: returns push and reuses pop at the
    /// back, where a `Vec`'s inlined `push` writes the entry in place; only an eviction takes
    /// from the front, shifting at most `max_per_key` entries.
    idle: Vec<Idle<M>>,
}

struct Idle<M: Manager> {
    conn: Conn<M>,
    handles: Handles<M>,
    /// Its place in the order of returns (under the pool's lock): a later return has a
    /// greater one, so it ranks returns exactly, those at the same instant too.
    order: u64,
    /// When it expires: the earlier of the end of its lifetime and its return plus the idle
    /// timeout, worked out once when it is put to rest rather than at every look.
    expires: Instant,
}

impl<M: Manager> Session<M> {
    pub(super) fn new(key: M::Key) -> Self {
        Session { key, slots: 0, active: 0, idle: Vec::new() }
    }

    pub(super) fn idle(&self) -> usize {
        self.idle.len()
    }

    /// Keeps a connection returned at `since`, to expire `idle_timeout` later at the latest.
    #[inline]
    pub(super) fn push_idle(
        &mut self,
        (conn, handles): (Conn<M>, Handles<M>),
        (since, idle_timeout): (Instant, Duration),
        order: u64,
    ) {
        let idle_end = since.checked_add(idle_timeout).unwrap_or(conn.expires_at);
        let expires = idle_end.min(conn.expires_at);
        self.idle.push(Idle { conn, handles, order, expires });
    }

    /// The newest idle connection that has not expired. Newest first, so under light load
    /// the older ones stay unused and age out. Expired ones met on the way go to `expired`.
    #[inline]
    pub(super) fn pop_fresh(
        &mut self,
        now: Instant,
        expired: &mut Vec<Conn<M>>,
    ) -> Option<(Conn<M>, Handles<M>)> {
        while let Some(idle) = self.idle.pop() {
            if !idle.is_expired(now) {
                return Some((idle.conn, idle.handles));
            }
            expired.push(idle.conn);
        }
        None
    }

    /// The place in the order of returns of the least recently returned idle connection.
    pub(super) fn oldest_return(&self) -> Option<u64> {
        self.idle.first().map(|idle| idle.order)
    }

    pub(super) fn pop_oldest(&mut self) -> Option<Conn<M>> {
        (!self.idle.is_empty()).then(|| self.idle.remove(0).conn)
    }

    /// Takes out the idle connections expired at `now` (`None`: all).
    pub(super) fn take_idle(&mut self, now: Option<Instant>, into: &mut Vec<Conn<M>>) {
        let expired = |idle: &Idle<M>| now.is_none_or(|now| idle.is_expired(now));
        let (taken, kept): (Vec<_>, Vec<_>) = self.idle.drain(..).partition(expired);
        self.idle = kept;
        into.extend(taken.into_iter().map(|idle| idle.conn));
    }
}

impl<M: Manager> Idle<M> {
    /// Past its idle timeout or its lifetime.
    fn is_expired(&self, now: Instant) -> bool {
        now >= self.expires
    }
}

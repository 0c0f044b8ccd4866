//! [`Session`]: one key's share of the pool — how many places it holds, how many of its
//! connections are leased, and its idle connections, oldest return first.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::Manager;
use super::held::Conn;

/// It exists while it holds at least one place, so the pool never keeps more sessions than
/// it has places, however many keys come and go.
pub(super) struct Session<M: Manager> {
    /// Places against `max_per_key`: connections being created, checked, idle, leased or
    /// destroyed, and reservations of `get`s waiting for an evicted connection to go.
    pub(super) slots: usize,
    pub(super) active: usize,
    idle: VecDeque<Idle<M>>,
}

struct Idle<M: Manager> {
    conn: Conn<M>,
    since: Instant,
    /// Orders connections returned at the same instant.
    order: u64,
}

impl<M: Manager> Session<M> {
    pub(super) fn new() -> Self {
        Session { slots: 0, active: 0, idle: VecDeque::new() }
    }

    pub(super) fn idle(&self) -> usize {
        self.idle.len()
    }

    pub(super) fn push_idle(&mut self, conn: Conn<M>, since: Instant, order: u64) {
        self.idle.push_back(Idle { conn, since, order });
    }

    /// The newest idle connection that has not expired. Newest first, so under light load
    /// the older ones stay unused and age out. Expired ones met on the way go to `expired`.
    pub(super) fn pop_fresh(
        &mut self,
        now: Instant,
        idle_timeout: Duration,
        expired: &mut Vec<Conn<M>>,
    ) -> Option<Conn<M>> {
        while let Some(idle) = self.idle.pop_back() {
            if !idle.is_expired(now, idle_timeout) {
                return Some(idle.conn);
            }
            expired.push(idle.conn);
        }
        None
    }

    /// When the least recently returned idle connection was returned.
    pub(super) fn oldest_return(&self) -> Option<(Instant, u64)> {
        self.idle.front().map(|idle| (idle.since, idle.order))
    }

    pub(super) fn pop_oldest(&mut self) -> Option<Conn<M>> {
        self.idle.pop_front().map(|idle| idle.conn)
    }

    /// Takes out the idle connections past `idle_timeout` or their lifetime (`None`: all).
    pub(super) fn take_idle(
        &mut self,
        now: Instant,
        idle_timeout: Option<Duration>,
        into: &mut Vec<Conn<M>>,
    ) {
        let expired = |idle: &Idle<M>| idle_timeout.is_none_or(|timeout| idle.is_expired(now, timeout));
        let (taken, kept): (VecDeque<_>, VecDeque<_>) = self.idle.drain(..).partition(expired);
        self.idle = kept;
        into.extend(taken.into_iter().map(|idle| idle.conn));
    }
}

impl<M: Manager> Idle<M> {
    fn is_expired(&self, now: Instant, idle_timeout: Duration) -> bool {
        now >= self.conn.expires_at || now.saturating_duration_since(self.since) >= idle_timeout
    }
}

//! The idle half of [`Sessions`]: putting connections to rest, finding one to reuse, the
//! least recently used one to evict, and the expired ones to reap — each keeping the idle
//! count in step.

use std::time::Duration;

use tokio::time::Instant;

use super::Sessions;
use crate::pool::Manager;
use crate::pool::held::Conn;

impl<M: Manager> Sessions<M> {
    /// Keeps `conn` idle; its place stays counted. Refused only if its key holds no place,
    /// which the connection's own place rules out.
    pub(in crate::pool) fn put_idle(&mut self, conn: Conn<M>, now: Instant) -> Result<(), Conn<M>> {
        let Some(session) = self.by_key.get_mut(&conn.key) else { return Err(conn) };
        self.returns += 1;
        session.push_idle(conn, now, self.returns);
        self.idle += 1;
        Ok(())
    }

    /// Takes every idle connection past its idle timeout or lifetime out (places still held).
    pub(in crate::pool) fn take_expired(&mut self, now: Instant) -> Vec<Conn<M>> {
        self.take_idle_where(now, Some(self.limits.idle_timeout))
    }

    /// Takes every idle connection out (places still held).
    pub(in crate::pool) fn take_all_idle(&mut self) -> Vec<Conn<M>> {
        self.take_idle_where(Instant::now(), None)
    }

    /// The newest idle connection of `key` that has not expired.
    pub(super) fn take_idle(
        &mut self,
        key: &M::Key,
        now: Instant,
        expired: &mut Vec<Conn<M>>,
    ) -> Option<Conn<M>> {
        let session = self.by_key.get_mut(key)?;
        let before = session.idle();
        let fresh = session.pop_fresh(now, self.limits.idle_timeout, expired);
        self.idle -= before - session.idle();
        fresh
    }

    /// The least recently returned idle connection of any key but `key`. O(keys).
    pub(super) fn take_least_recently_used(&mut self, key: &M::Key) -> Option<Conn<M>> {
        let others = self.by_key.iter().filter(|(other, _)| *other != key);
        let candidates = others.filter_map(|(other, session)| Some((session.oldest_return()?, other)));
        let victim_key = candidates.min_by_key(|(age, _)| *age)?.1.clone();
        let victim = self.by_key.get_mut(&victim_key)?.pop_oldest()?;
        self.idle -= 1;
        Some(victim)
    }

    fn take_idle_where(&mut self, now: Instant, idle_timeout: Option<Duration>) -> Vec<Conn<M>> {
        let mut taken = Vec::new();
        for session in self.by_key.values_mut() {
            session.take_idle(now, idle_timeout, &mut taken);
        }
        self.idle -= taken.len();
        taken
    }
}

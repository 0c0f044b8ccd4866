//! The idle half of [`Sessions`]: putting connections to rest, finding one to reuse, the
//! least recently used one to evict, and the expired ones to reap — each keeping the idle
//! count in step.

use tokio::time::Instant;

use super::{SessionId, Sessions};
use crate::pool::Manager;
use crate::pool::held::{Conn, Handles};

impl<M: Manager> Sessions<M> {
    /// Keeps `conn` idle with its handles; its place stays counted. Refused only if its key
    /// holds no place, which the connection's own place rules out.
    #[inline]
    pub(in crate::pool) fn put_idle(
        &mut self,
        idle: (Conn<M>, Handles<M>),
        now: Instant,
    ) -> Result<(), (Conn<M>, Handles<M>)> {
        let (order, idle_timeout) = (self.returns + 1, self.limits.idle_timeout);
        let Some(session) = self.session_mut(idle.0.session) else { return Err(idle) };
        session.push_idle(idle, (now, idle_timeout), order);
        (self.returns, self.idle) = (order, self.idle + 1);
        Ok(())
    }

    /// Takes every idle connection past its idle timeout or lifetime out (places still held).
    pub(in crate::pool) fn take_expired(&mut self, now: Instant) -> Vec<Conn<M>> {
        self.take_idle_where(Some(now))
    }

    /// Takes every idle connection out (places still held).
    pub(in crate::pool) fn take_all_idle(&mut self) -> Vec<Conn<M>> {
        self.take_idle_where(None)
    }

    /// The newest idle connection of `session` that has not expired.
    #[inline]
    pub(super) fn take_idle(
        &mut self,
        session: SessionId,
        now: Instant,
        expired: &mut Vec<Conn<M>>,
    ) -> Option<(Conn<M>, Handles<M>)> {
        let session = self.session_mut(session)?;
        let before = session.idle();
        let fresh = session.pop_fresh(now, expired);
        let taken = before - session.idle();
        self.idle -= taken;
        fresh
    }

    /// The least recently returned idle connection of any session but `except`. O(sessions).
    pub(in crate::pool) fn take_least_recently_used(&mut self, except: Option<SessionId>) -> Option<Conn<M>> {
        let others =
            self.slab.iter_mut().enumerate().filter(|(index, _)| except != Some(SessionId::new(*index)));
        let candidates = others.filter_map(|(_, session)| {
            let session = session.as_mut()?;
            Some((session.oldest_return()?, session))
        });
        let victim = candidates.min_by_key(|(age, _)| *age)?.1.pop_oldest()?;
        self.idle -= 1;
        Some(victim)
    }

    /// Takes the idle connections expired at `now` (`None`: all) out.
    fn take_idle_where(&mut self, now: Option<Instant>) -> Vec<Conn<M>> {
        let mut taken = Vec::new();
        for session in self.slab.iter_mut().flatten() {
            session.take_idle(now, &mut taken);
        }
        self.idle -= taken.len();
        taken
    }
}

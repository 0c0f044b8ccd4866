//! The idle connections: each session's list, oldest return first, and the moves of
//! [`Sessions`] over them — putting connections to rest, finding one to reuse, the least
//! recently used one to evict, and the expired ones to reap — each keeping the idle count in
//! step.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::time::Duration;

use tokio::time::Instant;

use super::{Session, SessionId, Sessions};
use crate::pool::Manager;
use crate::pool::connection::{Conn, Kept};

impl<M: Manager> Sessions<M> {
    /// Keeps a connection idle with its handles; its place stays counted. Refused only if its
    /// key holds no place, which the connection's own place rules out.
    #[inline]
    pub(in crate::pool) fn put_idle(&mut self, idle: Box<Kept<M>>, now: Instant) -> Result<(), Box<Kept<M>>> {
        let (order, idle_timeout) = (self.returns + 1, self.limits.idle_timeout);
        let Some(session) = self.session_mut(idle.conn.session) else { return Err(idle) };
        session.push_idle(idle, (now, idle_timeout), order);
        (self.returns, self.idle) = (order, self.idle + 1);
        Ok(())
    }

    /// Takes every idle connection past its idle timeout or lifetime out (places still held),
    /// but for the newest of each of the `warm` keys that are within their lifetime: reaping
    /// those would only have the warm-up create them again. Each warm key keeps
    /// `min_idle_per_key`, or its even share of `min_idle` if that is more (the warm-up fills
    /// the fewest first, so the keys' shares of `min_idle` are even, give or take one).
    pub(in crate::pool) fn take_expired(&mut self, now: Instant, warm: &[M::Key]) -> Vec<Conn<M>> {
        let share = self.limits.min_idle.div_ceil(warm.len().max(1));
        let min_idle_per_key = self.limits.min_idle_per_key.max(share);
        let mut into = Vec::new();
        for session in self.slab.iter_mut().flatten() {
            let spared = if warm.contains(&session.key) { min_idle_per_key } else { 0 };
            session.take_expired(now, spared, &mut into);
        }
        self.idle -= into.len();
        into
    }

    /// Takes every idle connection that runs in one of `groups` out (places still held).
    pub(in crate::pool) fn take_idle_in_groups(&mut self, groups: &HashSet<u32>) -> Vec<Conn<M>> {
        let in_groups = |idle: &IdleConnection<M>| {
            idle.kept.conn.group.is_some_and(|group| groups.contains(&group.get()))
        };
        self.take_idle_if(in_groups)
    }

    /// The process groups of the idle connections that have one.
    pub(in crate::pool) fn idle_groups(&self, into: &mut Vec<u32>) {
        let idle = self.slab.iter().flatten().flat_map(|session| &session.idle);
        into.extend(idle.filter_map(|idle| idle.kept.conn.group).map(NonZeroU32::get));
    }

    /// Takes every idle connection out (places still held).
    pub(in crate::pool) fn take_all_idle(&mut self) -> Vec<Conn<M>> {
        self.take_idle_if(|_| true)
    }

    /// The newest idle connection of `session` that has not expired; if its key is `warm` (and
    /// keeps any idle), past its idle timeout counts as fresh, as the reaper spares it too.
    #[inline]
    pub(super) fn take_idle(
        &mut self,
        session: SessionId,
        warm: bool,
        now: Instant,
        expired: &mut Vec<Conn<M>>,
    ) -> Option<Box<Kept<M>>> {
        let session = self.session_mut(session)?;
        let before = session.idle();
        let fresh = session.pop_fresh(now, warm, expired);
        let taken = before - session.idle();
        self.idle -= taken;
        fresh
    }

    /// The least recently returned idle connection of any session but `except`, with the
    /// handles that keep its place. O(sessions).
    pub(in crate::pool) fn take_least_recently_used(
        &mut self,
        except: Option<SessionId>,
    ) -> Option<Box<Kept<M>>> {
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

    /// Takes the idle connections `taken` picks out.
    fn take_idle_if(&mut self, taken: impl Fn(&IdleConnection<M>) -> bool) -> Vec<Conn<M>> {
        let mut into = Vec::new();
        for session in self.slab.iter_mut().flatten() {
            session.take_idle(&taken, &mut into);
        }
        self.idle -= into.len();
        into
    }
}

pub(super) struct IdleConnection<M: Manager> {
    kept: Box<Kept<M>>,
    /// Its place in the order of returns (under the pool's lock): a later return has a
    /// greater one, so it ranks returns exactly, those at the same instant too.
    order: u64,
    /// When it expires: the earlier of the end of its lifetime and its return plus the idle
    /// timeout, worked out once when it is put to rest rather than at every look.
    expires: Instant,
}

impl<M: Manager> Session<M> {
    /// Keeps a connection returned at `since`, to expire `idle_timeout` later at the latest.
    #[inline]
    fn push_idle(&mut self, kept: Box<Kept<M>>, (since, idle_timeout): (Instant, Duration), order: u64) {
        let lifetime_end = kept.conn.expires_at;
        let expires = since.checked_add(idle_timeout).unwrap_or(lifetime_end).min(lifetime_end);
        self.idle.push(IdleConnection { kept, order, expires });
    }

    /// The newest idle connection that has not expired (only its lifetime counts if `spares`).
    /// Newest first, so under light load the older ones stay unused and age out. Expired ones
    /// met on the way go to `expired`.
    #[inline]
    fn pop_fresh(&mut self, now: Instant, spares: bool, expired: &mut Vec<Conn<M>>) -> Option<Box<Kept<M>>> {
        while let Some(idle) = self.idle.pop() {
            if !idle.is_expired(now) || (spares && idle.within_lifetime(now)) {
                return Some(idle.kept);
            }
            expired.push(idle.kept.conn);
        }
        None
    }

    /// The place in the order of returns of the least recently returned idle connection.
    fn oldest_return(&self) -> Option<u64> {
        self.idle.first().map(|idle| idle.order)
    }

    fn pop_oldest(&mut self) -> Option<Box<Kept<M>>> {
        (!self.idle.is_empty()).then(|| self.idle.remove(0).kept)
    }

    /// Takes out the idle connections expired at `now` but the newest `spared` within their
    /// lifetime.
    fn take_expired(&mut self, now: Instant, mut spared: usize, into: &mut Vec<Conn<M>>) {
        let (mut kept, mut taken) = (Vec::with_capacity(self.idle.len()), Vec::new());
        // Newest first, to spare the newest; both lists are put back oldest first.
        for idle in self.idle.drain(..).rev() {
            let spare = spared > 0 && idle.within_lifetime(now);
            spared -= usize::from(spare);
            if spare || !idle.is_expired(now) {
                kept.push(idle);
            } else {
                taken.push(idle.kept.conn);
            }
        }
        kept.reverse();
        self.idle = kept;
        into.extend(taken.into_iter().rev());
    }

    /// Takes out the idle connections `taken` picks out.
    fn take_idle(&mut self, taken: impl Fn(&IdleConnection<M>) -> bool, into: &mut Vec<Conn<M>>) {
        let (taken, kept): (Vec<_>, Vec<_>) = self.idle.drain(..).partition(taken);
        self.idle = kept;
        into.extend(taken.into_iter().map(|idle| idle.kept.conn));
    }
}

impl<M: Manager> IdleConnection<M> {
    /// Past its idle timeout or its lifetime.
    fn is_expired(&self, now: Instant) -> bool {
        now >= self.expires
    }

    /// Short of the end of its lifetime, whatever its idle timeout says.
    fn within_lifetime(&self, now: Instant) -> bool {
        now < self.kept.conn.expires_at
    }
}

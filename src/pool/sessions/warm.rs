//! Warm keys: how many connections the background creates to keep `min_idle_per_key` idle
//! connections of each warm key, and `min_idle` over them all, within the caps.

use super::{SessionId, Sessions};
use crate::pool::Manager;

/// The warm-up's targets.
#[derive(Debug, Clone, Copy)]
pub(in crate::pool) struct WarmTargets {
    pub(in crate::pool) per_key: usize,
    pub(in crate::pool) total: usize,
}

impl<M: Manager> Sessions<M> {
    /// Reserves a place (of its key's session and of the total) for each connection to create
    /// now so that `keys` reach `targets`, counting connections already warming. Never evicts:
    /// a key at `max_per_key`, or a full pool, gets none.
    pub(in crate::pool) fn plan_warm(&mut self, keys: &[M::Key], targets: WarmTargets) -> Vec<SessionId> {
        let mut planned = Vec::new();
        if self.closed {
            return planned;
        }
        for key in keys {
            while self.ready(key) < targets.per_key {
                let Some(session) = self.reserve_warm(key) else { break };
                planned.push(session);
            }
        }
        while keys.iter().map(|key| self.ready(key)).sum::<usize>() < targets.total {
            let roomy = keys.iter().filter(|key| self.has_room(key));
            let Some(key) = roomy.min_by_key(|key| self.ready(key)) else { break };
            let Some(session) = self.reserve_warm(&key.clone()) else { break };
            planned.push(session);
        }
        planned
    }

    /// A background create for `session` ended (its place is given back separately if it
    /// failed).
    pub(in crate::pool) fn warmed(&mut self, session: SessionId) {
        if let Some(session) = self.session_mut(session) {
            session.warming = session.warming.saturating_sub(1);
        }
    }

    /// Idle connections of `key` plus those being created to keep it warm.
    fn ready(&self, key: &M::Key) -> usize {
        let session = self.by_key.get(key).and_then(|&id| self.session(id));
        session.map_or(0, |session| session.idle() + session.warming)
    }

    fn has_room(&self, key: &M::Key) -> bool {
        self.places(self.by_key.get(key).copied()) < self.limits.max_per_key
            && self.total < self.limits.max_total
    }

    fn reserve_warm(&mut self, key: &M::Key) -> Option<SessionId> {
        if !self.has_room(key) {
            return None;
        }
        let id = self.reserve(key, self.by_key.get(key).copied(), true);
        if let Some(session) = self.session_mut(id) {
            session.warming += 1;
        }
        Some(id)
    }
}

//! [`Sessions`]: every key's places and idle connections, and the rule that decides what a
//! `get` does next.
//!
//! When the pool is full and a key below its own cap has nothing idle, the least recently used
//! idle connection of another key is evicted; the `get` that evicts it reserves its own key's
//! place at once and takes over the victim's place in the total once the victim is destroyed,
//! so two `get`s never evict for one place and a key never evicts beyond its cap.

use std::collections::HashMap;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use tokio::time::Instant;

use super::Manager;
use super::connection::{Conn, Kept};
use super::leaks::CheckoutId;
use super::waiters::KeyState;

mod idle;
mod warm;
pub(super) use warm::WarmTargets;

use idle::IdleConnection;

#[derive(Debug, Clone, Copy)]
pub(super) struct PoolLimits {
    pub(super) max_total: usize,
    pub(super) max_per_key: usize,
    pub(super) idle_timeout: Duration,
    /// The idle connections of a warm key that the idle timeout leaves.
    pub(super) min_idle_per_key: usize,
    /// The idle connections of all warm keys together that the idle timeout leaves.
    pub(super) min_idle: usize,
}

/// Where a key's session sits. It stays valid while the session holds a place, which every
/// connection, [`CapPlace`](super::cap_place::CapPlace) and lease of the key does, so they
/// carry it instead of the key: a checkout hashes the user's key once, and its return not at
/// all.
///
/// It holds the index plus one, so an `Option<SessionId>` (as in a `CapPlace`) is one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SessionId(NonZeroUsize);

impl SessionId {
    fn new(index: usize) -> Self {
        SessionId(NonZeroUsize::MIN.saturating_add(index))
    }

    fn index(self) -> usize {
        self.0.get() - 1
    }
}

pub(super) struct Sessions<M: Manager> {
    /// Hashed with foldhash: every checkout hashes the user's key once.
    by_key: HashMap<M::Key, SessionId, foldhash::fast::RandomState>,
    /// By [`SessionId`]; `None` where a session ended, its index then in `vacant` for reuse.
    slab: Vec<Option<Session<M>>>,
    vacant: Vec<usize>,
    limits: PoolLimits,
    /// Places held against `max_total`.
    total: usize,
    idle: usize,
    active: usize,
    /// Counts returns, so connections returned at the same instant still have an order.
    returns: u64,
    pub(super) closed: bool,
}

/// One key's share of the pool: how many places it holds, how many of its connections are
/// leased, and its idle connections, oldest return first.
///
/// It exists while it holds at least one place, so the pool never keeps more sessions than
/// it has places, however many keys come and go.
struct Session<M: Manager> {
    /// Its key, for ending the session and naming it in reports.
    key: M::Key,
    /// Places against `max_per_key`: connections being created, checked, idle, leased or
    /// destroyed, and reservations of `get`s waiting for an evicted connection to go.
    places: usize,
    active: usize,
    /// Connections being created in the background to keep the key warm (each holds a place).
    warming: usize,
    /// Oldest return first. A `Vec`, not a `VecDeque`: returns push and reuses pop at the
    /// back, where a `Vec`'s inlined `push` writes the entry in place; only an eviction takes
    /// from the front, shifting at most `max_per_key` entries.
    idle: Vec<IdleConnection<M>>,
}

impl<M: Manager> Session<M> {
    fn new(key: M::Key) -> Self {
        Session { key, places: 0, active: 0, warming: 0, idle: Vec::new() }
    }

    fn idle(&self) -> usize {
        self.idle.len()
    }
}

/// What a `get` does next, unless it must wait. Every place it names is already counted.
pub(super) enum Decision<M: Manager> {
    Closed,
    /// Check and hand out this idle connection (its place comes with it), lent already:
    /// counted active, and in the leak ledger as the given checkout.
    Reuse(Box<Kept<M>>, CheckoutId),
    /// Create a connection in a newly reserved place (this session's and the total's).
    Create(SessionId),
    /// Destroy `victim`, of another key (its place comes with it); a place of the `get`'s own
    /// session, `reserved`, is counted and the victim's place in the total is the `get`'s once
    /// the victim is gone.
    Evict {
        victim: Box<Kept<M>>,
        reserved: SessionId,
    },
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Occupancy {
    pub(super) sessions: usize,
    pub(super) connections: usize,
    pub(super) active: usize,
    pub(super) idle: usize,
}

impl<M: Manager> Sessions<M> {
    /// Whether the idle timeout spares any of a warm key's idle connections.
    #[inline]
    pub(super) fn keeps_warm_idle(&self) -> bool {
        self.limits.min_idle_per_key > 0 || self.limits.min_idle > 0
    }

    pub(super) fn new(limits: PoolLimits) -> Self {
        let (total, idle, active, returns) = (0, 0, 0, 0);
        let (by_key, slab, vacant) = (HashMap::default(), Vec::new(), Vec::new());
        Sessions { by_key, slab, vacant, limits, total, idle, active, returns, closed: false }
    }

    /// Decides a `get`'s next step; `None` if it must wait. Expired idle connections of `key`
    /// met on the way are moved to `expired` (still holding their places) to be destroyed; if
    /// `key` is `warm`, the idle timeout does not expire its newest. An idle connection to
    /// reuse is lent at once, with the ledger entry `open` makes for it.
    #[inline]
    pub(super) fn decide(
        &mut self,
        (key, warm): (&M::Key, bool),
        now: Instant,
        expired: &mut Vec<Conn<M>>,
        open: impl FnOnce((SessionId, Option<NonZeroU32>)) -> CheckoutId,
    ) -> Option<Decision<M>> {
        if self.closed {
            return Some(Decision::Closed);
        }
        let found = self.by_key.get(key).copied();
        if let Some(kept) = found.and_then(|id| self.take_idle(id, warm, now, expired)) {
            let checkout = open((kept.conn.session, kept.conn.group));
            self.lend(kept.conn.session);
            return Some(Decision::Reuse(kept, checkout));
        }
        if self.places(found) >= self.limits.max_per_key {
            return None;
        }
        if self.total < self.limits.max_total {
            return Some(Decision::Create(self.reserve(key, found, true)));
        }
        let victim = self.take_least_recently_used(found)?;
        Some(Decision::Evict { victim, reserved: self.reserve(key, found, false) })
    }

    /// Whether `decide` would answer `Some` for `key`, without changing anything (an idle
    /// connection it would find expired still counts: taking it out is progress too).
    pub(super) fn can_progress(&self, key: &M::Key) -> bool {
        let found = self.by_key.get(key).copied();
        let own_idle = found.and_then(|id| self.session(id)).map_or(0, Session::idle);
        let room = self.places(found) < self.limits.max_per_key
            && (self.total < self.limits.max_total || self.idle > 0);
        self.closed || own_idle > 0 || room
    }

    /// Whether `key` holds `max_per_key` places: its waiters wait for a change of their own key.
    pub(super) fn at_cap(&self, key: &M::Key) -> bool {
        self.places(self.by_key.get(key).copied()) >= self.limits.max_per_key
    }

    /// The key of a session that holds a place.
    pub(super) fn key_of(&self, session: SessionId) -> Option<M::Key> {
        self.session(session).map(|session| session.key.clone())
    }

    /// Gives back a place of a session and/or of the total; a session left with no place ends.
    pub(super) fn release(&mut self, session: Option<SessionId>, total: bool) {
        if total {
            self.total = self.total.saturating_sub(1);
        }
        let Some(id) = session else { return };
        let Some(session) = self.session_mut(id) else { return };
        session.places = session.places.saturating_sub(1);
        if session.places == 0 {
            self.end(id);
        }
    }

    /// Counts a connection of `session` as leased.
    pub(super) fn lend(&mut self, session: SessionId) {
        self.active += 1;
        if let Some(session) = self.session_mut(session) {
            session.active += 1;
        }
    }

    /// Counts a lease of `session` as ended; the connection goes idle or to `destroy` next.
    pub(super) fn end_lease(&mut self, session: SessionId) {
        self.active = self.active.saturating_sub(1);
        if let Some(session) = self.session_mut(session) {
            session.active = session.active.saturating_sub(1);
        }
    }

    /// A session's key as `Debug` prints it (there is one while the session holds a place).
    pub(super) fn key_text(&self, session: SessionId) -> String {
        self.session(session).map_or_else(String::new, |session| format!("{:?}", session.key))
    }

    pub(super) fn counts(&self) -> Occupancy {
        let sessions = self.live().filter(|session| session.active + session.idle() > 0);
        Occupancy {
            sessions: sessions.count(),
            connections: self.total,
            active: self.active,
            idle: self.idle,
        }
    }

    fn session(&self, id: SessionId) -> Option<&Session<M>> {
        self.slab.get(id.index())?.as_ref()
    }

    fn session_mut(&mut self, id: SessionId) -> Option<&mut Session<M>> {
        self.slab.get_mut(id.index())?.as_mut()
    }

    fn live(&self) -> impl Iterator<Item = &Session<M>> {
        self.slab.iter().flatten()
    }

    fn places(&self, found: Option<SessionId>) -> usize {
        found.and_then(|id| self.session(id)).map_or(0, |session| session.places)
    }

    /// Counts a place of `key`'s session (`found`, or a new one) and, if `total`, of the total.
    fn reserve(&mut self, key: &M::Key, found: Option<SessionId>, total: bool) -> SessionId {
        let id = found.unwrap_or_else(|| self.begin(key));
        if let Some(session) = self.session_mut(id) {
            session.places += 1;
        }
        self.total += usize::from(total);
        id
    }

    fn begin(&mut self, key: &M::Key) -> SessionId {
        let session = Some(Session::new(key.clone()));
        let id = match self.vacant.pop() {
            Some(index) => {
                self.slab[index] = session;
                SessionId::new(index)
            }
            None => {
                self.slab.push(session);
                SessionId::new(self.slab.len() - 1)
            }
        };
        self.by_key.insert(key.clone(), id);
        id
    }

    fn end(&mut self, id: SessionId) {
        if let Some(session) = self.slab.get_mut(id.index()).and_then(Option::take) {
            self.by_key.remove(&session.key);
            self.vacant.push(id.index());
        }
    }
}

impl<M: Manager> KeyState<M::Key> for Sessions<M> {
    fn can_progress(&self, key: &M::Key) -> bool {
        Sessions::can_progress(self, key)
    }

    fn at_cap(&self, key: &M::Key) -> bool {
        Sessions::at_cap(self, key)
    }
}

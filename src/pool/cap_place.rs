//! [`CapPlace`]: a place counted against the pool's caps, given back when dropped.
//!
//! A place counts against one key's `max_per_key`, against `max_total`, or both. Every
//! connection holds both from the moment its `get` reserves them until `destroy` has returned,
//! so the caps bound the connections that really exist — a browser that is still quitting
//! still holds its memory and its ports. Because the place is a guard, a `get` dropped while
//! creating gives it back, and so does a destroy task that ends for any reason.
//!
//! While a connection is idle its place is kept by the pool's state, not by a guard: the
//! state is the only owner, so dropping the state never has to take its own lock.

use std::fmt;
use std::sync::Weak;

use super::Manager;
use super::sessions::SessionId;
use super::shared::Shared;

#[must_use = "dropping the place gives it back at once"]
pub(super) struct CapPlace<M: Manager> {
    pool: Weak<Shared<M>>,
    /// The session whose `max_per_key` this place counts against, if it does.
    session: Option<SessionId>,
    /// Whether this place counts against `max_total`.
    total: bool,
}

impl<M: Manager> CapPlace<M> {
    /// A guard for a place the pool's state has already counted.
    pub(super) fn counted(pool: Weak<Shared<M>>, session: Option<SessionId>, total: bool) -> Self {
        CapPlace { pool, session, total }
    }

    /// A guard that counts nothing: for the connections of a pool that is gone.
    pub(super) fn detached() -> Self {
        CapPlace { pool: Weak::new(), session: None, total: false }
    }

    pub(super) fn pool(&self) -> &Weak<Shared<M>> {
        &self.pool
    }

    /// Leaves the place counted, for an idle connection to hold; returns the pool handle
    /// for the connection to keep.
    pub(super) fn keep(mut self) -> Weak<Shared<M>> {
        debug_assert!(self.session.is_some() && self.total, "a connection's place counts both caps");
        self.session = None;
        self.total = false;
        std::mem::take(&mut self.pool)
    }

    /// Takes over the place an evicted connection held in `max_total`; its key's place is
    /// given back as `victim` drops.
    pub(super) fn absorb_total(mut self, mut victim: CapPlace<M>) -> Self {
        self.total |= std::mem::take(&mut victim.total);
        self
    }
}

impl<M: Manager> Drop for CapPlace<M> {
    /// Inlined, so that dropping a place that counts nothing (as `keep` leaves it, on every
    /// return) is a test, not a call.
    #[inline]
    fn drop(&mut self) {
        if self.session.is_some() || self.total {
            self.give_back();
        }
    }
}

impl<M: Manager> CapPlace<M> {
    #[inline(never)]
    fn give_back(&self) {
        if let Some(shared) = self.pool.upgrade() {
            shared.release(self.session, self.total);
        }
    }
}

impl<M: Manager> fmt::Debug for CapPlace<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapPlace").field("session", &self.session).field("total", &self.total).finish()
    }
}

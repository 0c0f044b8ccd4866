//! [`Conn`], a connection with everything that ends with it, [`Held`], the guard that
//! destroys it unless it is handed on, and the [`Handles`] an idle connection keeps for it.
//!
//! A connection is `Held` inside every lease, and on its own from the moment `create` returns
//! until the lease is made, and after its check failed. (While it is checked it is already in a
//! lease, marked as being checked.) A `get` dropped at any of these points drops the guard, and
//! the connection goes to `destroy`: after a check cut off midway it may be in the middle of a
//! request, so it is never put back.

use std::fmt;
use std::sync::{Arc, Weak};

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::Manager;
use super::backend::Backend;
use super::sessions::SessionId;
use super::shared::Shared;
use super::slot::Slot;
use crate::ports::PortLease;

/// A live connection and what ends with it.
pub(super) struct Conn<M: Manager> {
    pub(super) connection: M::Connection,
    /// Freed after `destroy` returns.
    pub(super) ports: Vec<PortLease>,
    pub(super) key: M::Key,
    /// Its key's session, which its place keeps alive.
    pub(super) session: SessionId,
    /// The end of its (jittered) lifetime.
    pub(super) expires_at: Instant,
}

pub(super) struct Held<M: Manager> {
    /// `None` only once `take` has handed the parts on.
    parts: Option<Parts<M>>,
}

/// A held connection, its place, and the backend that destroys it.
pub(super) type Parts<M> = (Conn<M>, Slot<M>, Arc<Backend<M>>);

/// The pool (held weakly) and the backend, which a connection's guards need: an idle
/// connection keeps them from its last lease for its next, so a warm checkout makes neither
/// afresh and its return drops neither — each would be an atomic read-modify-write.
pub(super) struct Handles<M: Manager> {
    pub(super) pool: Weak<Shared<M>>,
    pub(super) backend: Arc<Backend<M>>,
}

impl<M: Manager> Held<M> {
    pub(super) fn new(conn: Conn<M>, slot: Slot<M>, backend: Arc<Backend<M>>) -> Self {
        Held { parts: Some((conn, slot, backend)) }
    }

    pub(super) fn conn(&self) -> &Conn<M> {
        &self.parts.as_ref().expect("a held connection is used only before `take`").0
    }

    pub(super) fn conn_mut(&mut self) -> &mut Conn<M> {
        &mut self.parts.as_mut().expect("a held connection is used only before `take`").0
    }

    /// Hands the connection, its place and the backend on; the guard then does nothing
    /// when dropped.
    pub(super) fn take(&mut self) -> Option<Parts<M>> {
        self.parts.take()
    }

    /// Destroys the connection and returns the place it held once `destroy` has returned.
    pub(super) fn destroy_and_reclaim(mut self) -> oneshot::Receiver<Slot<M>> {
        let (then, reclaimed) = oneshot::channel();
        if let Some((conn, slot, backend)) = self.parts.take() {
            backend.destroy(conn, slot, Some(then));
        }
        reclaimed
    }
}

impl<M: Manager> Drop for Held<M> {
    /// Inlined: dropping a guard already handed on (every lease's, on return) is a test.
    #[inline]
    fn drop(&mut self) {
        if let Some((conn, slot, backend)) = self.parts.take() {
            backend.destroy(conn, slot, None);
        }
    }
}

impl<M: Manager> fmt::Debug for Held<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self.parts.as_ref().map(|(conn, ..)| &conn.key);
        f.debug_struct("Held").field("key", &key).finish_non_exhaustive()
    }
}

//! [`Conn`], a connection with everything that ends with it, [`ConnectionGuard`], the guard
//! that destroys it unless it is handed on, and the [`Handles`] an idle connection keeps for it,
//! boxed with it as one [`Kept`].
//!
//! A connection is in a `ConnectionGuard` inside every lease, and on its own from the moment
//! `create` returns until the lease is made, and after its check failed. (While it is checked
//! it is already lent, `Checking`.) A `get` dropped at any of these points drops the guard, and
//! the connection goes to `destroy`: after a check cut off midway it may be in the middle of a
//! request, so it is never put back.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::Manager;
use super::backend::Backend;
use super::cap_place::CapPlace;
use super::sessions::SessionId;
use super::shared::Shared;
use crate::ports::PortLease;

/// A live connection and what ends with it.
pub(super) struct Conn<M: Manager> {
    pub(super) connection: M::Connection,
    /// Freed after `destroy` returns. A boxed slice: it never grows.
    pub(super) ports: Box<[PortLease]>,
    pub(super) key: M::Key,
    /// Its key's session, which its place keeps alive.
    pub(super) session: SessionId,
    /// The end of its (jittered) lifetime.
    pub(super) expires_at: Instant,
    /// Leases it has come back from, for `max_uses`.
    pub(super) uses: u32,
    /// The process group that runs it, for `max_rss` (asked of the manager once).
    pub(super) group: Option<NonZeroU32>,
}

/// Destroys its connection when dropped, unless the connection was handed on first.
pub(super) struct ConnectionGuard<M: Manager> {
    /// `None` only once `take` has handed the parts on. The handles keep the connection's
    /// place (its session's and the total's) as an idle connection's do: a lease moved around
    /// then carries no [`CapPlace`] beside them, and a return puts them to rest as they are.
    parts: Option<Box<Kept<M>>>,
}

/// A connection with the handles that keep its place. Boxed once, when the connection is
/// made, and moved as that box from then on: a checkout and a return pass one pointer from
/// the idle list to the lease and back, rather than copying the connection and its parts at
/// each step, and an emptied guard's drop tests one word.
pub(super) struct Kept<M: Manager> {
    pub(super) conn: Conn<M>,
    pub(super) handles: Handles<M>,
}

/// A held connection, its place, and the backend that destroys it.
pub(super) type Parts<M> = (Conn<M>, CapPlace<M>, Arc<Backend<M>>);

/// The pool (held weakly) and the backend, which a connection's guards need: an idle
/// connection keeps them from its last lease for its next, so a warm checkout makes neither
/// afresh and its return drops neither — each would be an atomic read-modify-write.
pub(super) struct Handles<M: Manager> {
    pub(super) pool: Weak<Shared<M>>,
    pub(super) backend: Arc<Backend<M>>,
}

impl<M: Manager> ConnectionGuard<M> {
    /// Holds `conn` in `place`, a place of its session and of the total.
    pub(super) fn new(conn: Conn<M>, place: CapPlace<M>, backend: Arc<Backend<M>>) -> Self {
        ConnectionGuard::kept(Kept::boxed(conn, Handles { pool: place.keep(), backend }))
    }

    /// Holds a connection whose place its handles keep.
    pub(super) fn kept(kept: Box<Kept<M>>) -> Self {
        ConnectionGuard { parts: Some(kept) }
    }

    pub(super) fn conn(&self) -> &Conn<M> {
        &self.parts.as_ref().expect("a held connection is used only before `take`").conn
    }

    pub(super) fn conn_mut(&mut self) -> &mut Conn<M> {
        &mut self.parts.as_mut().expect("a held connection is used only before `take`").conn
    }

    /// Hands the connection, its place and the backend on; the guard then does nothing
    /// when dropped.
    pub(super) fn take(&mut self) -> Option<Parts<M>> {
        self.take_kept().map(|kept| kept.into_guards())
    }

    /// Whether the connection is still here (not handed on by `take`).
    pub(super) fn is_held(&self) -> bool {
        self.parts.is_some()
    }

    /// Hands the connection on in a guard of its own.
    pub(super) fn take_held(&mut self) -> ConnectionGuard<M> {
        ConnectionGuard { parts: self.parts.take() }
    }

    /// Hands the connection on with the handles that keep its place.
    pub(super) fn take_kept(&mut self) -> Option<Box<Kept<M>>> {
        self.parts.take()
    }

    /// Destroys the connection and returns the place it held once `destroy` has returned.
    pub(super) fn destroy_and_reclaim(mut self) -> oneshot::Receiver<CapPlace<M>> {
        let (then, reclaimed) = oneshot::channel();
        if let Some((conn, place, backend)) = self.take() {
            backend.destroy(conn, place, Some(then));
        }
        reclaimed
    }
}

impl<M: Manager> Kept<M> {
    /// `conn` with the handles that keep its place, in the box it keeps until it is destroyed.
    pub(super) fn boxed(conn: Conn<M>, handles: Handles<M>) -> Box<Self> {
        Box::new(Kept { conn, handles })
    }

    /// The connection and its guards: the place its handles keep, counted as it is, and the
    /// backend.
    pub(super) fn into_guards(self) -> Parts<M> {
        let Kept { conn, handles } = self;
        let place = CapPlace::counted(handles.pool, Some(conn.session), true);
        (conn, place, handles.backend)
    }
}

impl<M: Manager> Drop for ConnectionGuard<M> {
    /// Inlined: dropping a guard already handed on (every lease's, on return) is a test, and
    /// the destroy stays out of line, where it does not make that test a call.
    #[inline]
    fn drop(&mut self) {
        if let Some(kept) = self.take_kept() {
            destroy_unreturned(kept);
        }
    }
}

/// Sends a connection its guard still held to `destroy`.
#[cold]
#[inline(never)]
#[allow(clippy::boxed_local, reason = "unboxed here, the inlined empty case stays a test")]
fn destroy_unreturned<M: Manager>(kept: Box<Kept<M>>) {
    let (conn, place, backend) = (*kept).into_guards();
    backend.destroy(conn, place, None);
}

impl<M: Manager> fmt::Debug for ConnectionGuard<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self.parts.as_ref().map(|kept| &kept.conn.key);
        f.debug_struct("ConnectionGuard").field("key", &key).finish_non_exhaustive()
    }
}

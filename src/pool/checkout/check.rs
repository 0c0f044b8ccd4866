//! An idle connection's check before reuse: [`Checking`], a connection lent to a `get` and
//! still being checked, and what the check's outcome makes of it.
//!
//! It is lent already — counted active and in the leak ledger — but not yet a [`Lease`]: a
//! `get` cut off midway drops it, and the connection is destroyed instead of returned, as it
//! may be in the middle of a request. Being a type of its own rather than a flag in the lease,
//! passing the check writes nothing into the lease just before the `get` moves it out.

use tokio::sync::oneshot;

use super::GetResult;
use crate::pool::cap_place::CapPlace;
use crate::pool::connection::ConnectionGuard;
use crate::pool::counters::PoolCount;
use crate::pool::leaks::CheckoutId;
use crate::pool::sessions::SessionId;
use crate::pool::shared::Shared;
use crate::pool::{Lease, Manager, PoolError};

impl<M: Manager> Shared<M> {
    /// A connection taken from the idle list failed its check: ends its lease, destroys it,
    /// and returns its place once `destroy` has returned.
    #[cold]
    pub(super) fn check_failed(
        &self,
        checking: &mut Checking<M>,
        error: &dyn std::fmt::Debug,
    ) -> oneshot::Receiver<CapPlace<M>> {
        self.backend.counters.add(PoolCount::CheckFailed, 1);
        tracing::debug!(target: "bursar::pool", key = ?checking.key(), ?error, "check failed; connection replaced");
        checking.failed()
    }

    /// A connection taken from the idle list is broken (`Manager::is_broken`): replaced like
    /// one that failed its check, without running the check.
    #[cold]
    pub(super) fn found_broken(&self, checking: &mut Checking<M>) -> oneshot::Receiver<CapPlace<M>> {
        self.backend.counters.add(PoolCount::Broken, 1);
        tracing::debug!(target: "bursar::pool", key = ?checking.key(), "idle connection broken; replaced without a check");
        checking.failed()
    }

    /// A connection taken from the idle list passed its check: its lease is the caller's,
    /// unless the pool closed meanwhile. Taken by reference, so the connection stays where it
    /// is until the lease is made.
    #[inline(always)]
    pub(super) fn checked(&self, checking: &mut Checking<M>) -> GetResult<M> {
        if self.is_closed() {
            tracing::debug!(target: "bursar::pool", key = ?checking.key(), "pool closed meanwhile; connection destroyed");
            return Err(PoolError::Closed);
        }
        tracing::trace!(target: "bursar::pool", key = ?checking.key(), "connection lent");
        Ok(checking.passed())
    }
}

pub(super) struct Checking<M: Manager> {
    held: ConnectionGuard<M>,
    /// Its entry in the leak detector's ledger.
    checkout: CheckoutId,
}

impl<M: Manager> Checking<M> {
    pub(super) fn new(held: ConnectionGuard<M>, checkout: CheckoutId) -> Self {
        Checking { held, checkout }
    }

    pub(super) fn connection(&self) -> &M::Connection {
        &self.held.conn().connection
    }

    pub(super) fn connection_mut(&mut self) -> &mut M::Connection {
        &mut self.held.conn_mut().connection
    }

    pub(super) fn key(&self) -> &M::Key {
        &self.held.conn().key
    }

    pub(super) fn session(&self) -> SessionId {
        self.held.conn().session
    }

    /// The check passed: the lease to hand out. The connection is taken out of this guard,
    /// which then does nothing when dropped; taken by reference, so the guard is not moved
    /// (copied) first on its way into the lease.
    #[inline(always)]
    pub(super) fn passed(&mut self) -> Lease<M> {
        Lease::new(self.held.take_held(), self.checkout)
    }

    /// The check failed: the lease ends and the connection is destroyed (taken out of this
    /// guard, which then does nothing when dropped); the receiver gets its place once
    /// `destroy` has returned.
    pub(super) fn failed(&mut self) -> oneshot::Receiver<CapPlace<M>> {
        let (then, reclaimed) = oneshot::channel();
        self.revoke(Some(then));
        reclaimed
    }

    /// Ends the lease without returning its connection — its check failed or was cut off:
    /// out of the ledger and the active count, the connection destroyed, and its place sent
    /// to `then` (if given) once `destroy` has returned.
    fn revoke(&mut self, then: Option<oneshot::Sender<CapPlace<M>>>) {
        let Some((conn, place, backend)) = self.held.take() else { return };
        if let Some(shared) = place.pool().upgrade() {
            shared.end_lease(self.checkout, conn.session);
        }
        backend.destroy(conn, place, then);
    }
}

impl<M: Manager> Drop for Checking<M> {
    /// Inlined: dropping one that passed (its connection handed on) is a test.
    #[inline]
    fn drop(&mut self) {
        if self.held.is_held() {
            self.revoke(None);
        }
    }
}

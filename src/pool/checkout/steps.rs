//! The steps of a checkout that make, vet and lend a connection.

use std::panic::Location;
use std::pin::pin;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::Checkout;
use super::deadline::{Deadline, Elapsed};
use crate::contain::UserCode;
use crate::pool::checking::Checking;
use crate::pool::counters::Count;
use crate::pool::held::Held;
use crate::pool::sessions::SessionId;
use crate::pool::slot::Slot;
use crate::pool::{Lease, Manager, Pool, PoolError};

impl<M: Manager> Pool<M> {
    /// A connection taken from the idle list failed its check: ends its lease, destroys it,
    /// and returns its place once `destroy` has returned.
    #[cold]
    pub(super) fn check_failed(
        &self,
        checking: &mut Checking<M>,
        error: &dyn std::fmt::Debug,
    ) -> oneshot::Receiver<Slot<M>> {
        self.shared.backend.counters.add(Count::CheckFailed, 1);
        tracing::debug!(target: "bursar::pool", key = ?checking.key(), ?error, "check failed; connection replaced");
        checking.failed()
    }

    /// A connection taken from the idle list passed its check: its lease is the caller's,
    /// unless the pool closed meanwhile. Taken by reference, so the connection stays where it
    /// is until the lease is made.
    #[inline(always)]
    pub(super) fn checked(&self, checking: &mut Checking<M>) -> Checkout<M> {
        if self.shared.is_closed() {
            tracing::debug!(target: "bursar::pool", key = ?checking.key(), "pool closed meanwhile; connection destroyed");
            return Err(PoolError::Closed);
        }
        tracing::trace!(target: "bursar::pool", key = ?checking.key(), "connection lent");
        Ok(checking.passed())
    }

    /// Creates a connection for `key` (whose session is `session`) in `slot`, with one port
    /// from each configured range (evicting idle connections for them if a range is
    /// exhausted), unless `deadline` passes first.
    pub(super) async fn create(
        &self,
        key: &M::Key,
        session: SessionId,
        slot: Slot<M>,
        location: &'static Location<'static>,
        deadline: &mut Deadline<'_>,
    ) -> Checkout<M> {
        if self.shared.is_closed() {
            return Err(PoolError::Closed);
        }
        let ports = self.lease_ports(key, deadline).await?;
        let backend = &self.shared.backend;
        let create = backend.contained(UserCode::ManagerCreate, backend.manager.create(key, &ports));
        let created = match deadline.within(pin!(create)).await {
            Ok(created) => created,
            Err(Elapsed) => return self.timed_out(key),
        };
        let connection =
            created.map_err(|fault| PoolError::ManagerPanicked { message: fault.into_message() })?;
        let connection = connection.map_err(|error| {
            tracing::debug!(target: "bursar::pool", ?key, ?error, "create failed");
            PoolError::Manager(error)
        })?;
        self.shared.backend.counters.add(Count::Created, 1);
        tracing::trace!(target: "bursar::pool", ?key, "connection created");
        let conn = self.shared.connection(key.clone(), session, connection, ports);
        self.hand_out(Held::new(conn, slot, Arc::clone(&self.shared.backend)), location, Instant::now())
    }

    /// Lends the connection out, recorded in the leak ledger as taken at `since`; destroys it
    /// if the pool closed.
    pub(super) fn hand_out(
        &self,
        held: Held<M>,
        location: &'static Location<'static>,
        since: Instant,
    ) -> Checkout<M> {
        let session = held.conn().session;
        let checkout = {
            let mut state = self.shared.state.lock();
            if state.sessions.closed {
                None
            } else {
                state.sessions.lend(session);
                Some(state.checkouts.open(session, location, since))
            }
        };
        let Some(checkout) = checkout else {
            tracing::debug!(target: "bursar::pool", key = ?held.conn().key, "pool closed meanwhile; connection destroyed");
            return Err(PoolError::Closed);
        };
        tracing::trace!(target: "bursar::pool", key = ?held.conn().key, "connection lent");
        Ok(Lease::new(held, checkout))
    }
}

//! A new connection for a `get`: its ports leased, `create` called, and the lease made.

use std::panic::Location;
use std::pin::pin;
use std::sync::Arc;

use tokio::time::Instant;

use super::GetResult;
use super::deadline::{Deadline, Elapsed};
use super::ports::Eviction;
use crate::contain::UserCode;
use crate::memory::{CostTooHigh, Reserved};
use crate::pool::cap_place::CapPlace;
use crate::pool::connection::{Conn, ConnectionGuard};
use crate::pool::counters::PoolCount;
use crate::pool::creates::CreatesClosed;
use crate::pool::sessions::SessionId;
use crate::pool::shared::{PoolClosed, Shared};
use crate::pool::{Lease, Manager, PoolError};

impl<M: Manager> Shared<M> {
    /// Creates a connection for `key` (whose session is `session`) in `place`, with one port
    /// from each configured range (evicting idle connections for them if a range is
    /// exhausted), unless `deadline` passes first.
    pub(super) async fn create(
        self: &Arc<Self>,
        key: &M::Key,
        session: SessionId,
        place: CapPlace<M>,
        location: &'static Location<'static>,
        deadline: &mut Deadline<'_>,
    ) -> GetResult<M> {
        if self.is_closed() {
            return Err(PoolError::Closed);
        }
        let conn = match self.make(key, session, Eviction::Allowed, deadline).await {
            Ok(conn) => conn,
            Err(PoolError::Timeout { .. }) => return self.timed_out(key),
            Err(error) => return Err(error),
        };
        self.hand_out(ConnectionGuard::new(conn, place, Arc::clone(&self.backend)), location, Instant::now())
    }

    /// A new connection for `key`'s `session`: a turn to create, its `create_cost` of memory,
    /// its ports (evicting for them if `eviction` allows), and `create`, unless `deadline`
    /// passes first ([`PoolError::Timeout`], uncounted: a `get` counts its own) or the pool closes before `create` is called
    /// ([`PoolError::Closed`]). The caller holds its place; the
    /// turn and the memory are given back when `create` returns, or when this is dropped.
    pub(in crate::pool) async fn make(
        self: &Arc<Self>,
        key: &M::Key,
        session: SessionId,
        eviction: Eviction,
        deadline: &mut Deadline<'_>,
    ) -> Result<Conn<M>, PoolError<M::Error>> {
        // The turn comes before the ports, so a create waiting for one holds none.
        let turn = match deadline.within(pin!(self.creates.turn())).await {
            Ok(Ok(turn)) => turn,
            Ok(Err(CreatesClosed)) => return Err(PoolError::Closed),
            Err(Elapsed) => return Err(self.cut_off()),
        };
        // Then the memory, so a create waiting for it holds no ports either. These waits hold a
        // turn, which closing cannot take back, so they watch for the close themselves: no
        // `create` starts after it.
        let prepared = self.unless_closed(async {
            let gate = self.governor.as_ref().map(|governor| &governor.memory);
            let reserved = match (gate, self.config.create_cost) {
                (Some(gate), Some(cost)) => {
                    match deadline.within(pin!(Reserved::wait(gate, cost, "create"))).await {
                        Ok(Ok(reserved)) => Some(reserved),
                        Ok(Err(CostTooHigh { cost, most })) => {
                            tracing::debug!(target: "bursar::pool", ?key, cost, most, "the create cost is more memory than the floor ever admits");
                            return Err(PoolError::CreateCostTooHigh { cost, most });
                        }
                        Err(Elapsed) => return Err(self.cut_off()),
                    }
                }
                _ => None,
            };
            Ok((reserved, self.lease_ports(key, eviction, deadline).await?))
        });
        let (reserved, ports) = match prepared.await {
            Ok(prepared) => prepared?,
            Err(PoolClosed) => {
                tracing::debug!(target: "bursar::pool", ?key, "pool closed before create; nothing created");
                return Err(PoolError::Closed);
            }
        };
        let backend = &self.backend;
        let create = backend.contained(UserCode::ManagerCreate, || backend.manager.create(key, &ports));
        let created = match deadline.within(pin!(create)).await {
            Ok(created) => created,
            Err(Elapsed) => return Err(self.cut_off()),
        };
        drop((turn, reserved));
        let connection =
            created.map_err(|fault| PoolError::ManagerPanicked { message: fault.into_message() })?;
        let connection = connection.map_err(|error| {
            tracing::debug!(target: "bursar::pool", ?key, ?error, "create failed");
            PoolError::Manager(error)
        })?;
        self.backend.counters.add(PoolCount::Created, 1);
        tracing::trace!(target: "bursar::pool", ?key, "connection created");
        Ok(self.connection(key.clone(), session, connection, ports))
    }

    /// Lends the connection out, recorded in the leak ledger as taken at `since`; destroys it
    /// if the pool closed.
    pub(super) fn hand_out(
        &self,
        held: ConnectionGuard<M>,
        location: &'static Location<'static>,
        since: Instant,
    ) -> GetResult<M> {
        let (session, group) = (held.conn().session, held.conn().group);
        let checkout = {
            let mut state = self.state.lock();
            if state.sessions.closed {
                None
            } else {
                state.sessions.lend(session);
                Some(state.checkouts.open((session, group), location, since))
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

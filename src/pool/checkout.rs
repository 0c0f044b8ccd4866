//! [`Pool::get`]: the checkout path.
//!
//! A `get` loops: under the lock it decides its next step — reuse an idle connection, create
//! one in a newly reserved place, evict another key's idle connection, or wait — and then
//! takes that step outside the lock. Every await point holds what it would leak as a guard
//! owned by the future, so dropping the `get` there gives it back:
//!
//! | await point | held as | dropped, it |
//! |---|---|---|
//! | waiting for a turn | `Place` (ticket in the queue) | leaves the queue, passes a turn it was given on |
//! | `create` | `Slot` + `PortLease`s | gives the place back, frees the ports (quarantine) |
//! | `check` | `Checking` (lent already, not yet a `Lease`) | ends the lease and sends the connection to `destroy` (its place is freed after) |
//! | the evicted or broken connection's `destroy` | `Slot` + a `oneshot` receiver | gives its own place back; the destroy task frees the other when it ends |
//!
//! The checkout timeout bounds every one of these awaits, armed at the first that has to wait,
//! so it cuts a `get` off at any of these points in the same way.

use std::future::Future;
use std::panic::Location;
use std::pin::pin;

use tokio::time::Instant;

use super::counters::Count;
use super::{Lease, Manager, Pool, PoolError};

mod deadline;
mod next;
mod steps;

use deadline::{Deadline, Elapsed};
use next::{Next, Place};

type Checkout<M> = Result<Lease<M>, PoolError<<M as Manager>::Error>>;

impl<M: Manager> Pool<M> {
    /// Takes a connection for `key`: an idle one that passes its check, or a new one made with
    /// its ports. Waits at most the checkout timeout, waiting and creating included.
    ///
    /// The call's location is recorded for the leak detector, so a lease held past the leak
    /// threshold is reported with the file and line of this call.
    ///
    /// # Errors
    ///
    /// - [`PoolError::Timeout`] if no connection was ready within the checkout timeout.
    /// - [`PoolError::Manager`] with the manager's error if `create` failed. (A failed `check`
    ///   is no error: that connection is destroyed and a new one created.)
    /// - [`PoolError::Ports`] if a port the new connection needs could not be leased.
    /// - [`PoolError::Closed`] if the pool is closed, or closed while this call ran.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future at any await point — waiting, creating or checking —
    /// leaves no place counted, no port leased and no connection undestroyed. A connection
    /// being checked is destroyed rather than returned, as it may be mid-request.
    ///
    /// # Panics
    ///
    /// Never on its own. A panic in the manager's `create` or `check` propagates out of the
    /// future after everything it held is released.
    #[track_caller]
    pub fn get(&self, key: M::Key) -> impl Future<Output = Checkout<M>> + Send + '_ {
        let location = Location::caller();
        // A block rather than an `async fn`: its future uses what it captured where it lies,
        // not moved into locals at its first poll.
        async move {
            let mut timer = pin!(None);
            let mut deadline = Deadline { limit: self.shared.config.checkout_timeout, timer: timer.as_mut() };
            let mut place = Place { shared: &self.shared, ticket: None };
            loop {
                // `Some` with a place to create a connection in, `None` to plan again.
                let waited = match self.next((&key, location), &mut place.ticket, Instant::now()) {
                    Next::Closed => return Err(PoolError::Closed),
                    Next::Create(session, slot) => Ok(Some((session, slot))),
                    // Bound by reference: checked where `next` put it, not moved (copied) first.
                    Next::Reuse(ref mut checking) => {
                        let check = self.shared.backend.manager.check(checking.connection_mut());
                        let checked = deadline.within(pin!(check)).await;
                        match checked {
                            Ok(Ok(())) => return self.checked(checking),
                            Ok(Err(error)) => {
                                let session = checking.session();
                                let reclaimed =
                                    deadline.within(pin!(self.check_failed(checking, error))).await;
                                reclaimed.map(|slot| slot.ok().map(|slot| (session, slot)))
                            }
                            Err(elapsed) => Err(elapsed),
                        }
                    }
                    Next::Evicting { session, reservation, victim } => {
                        let freed = deadline.within(pin!(victim)).await;
                        freed.map(|freed| freed.ok().map(|freed| (session, reservation.absorb_total(freed))))
                    }
                    Next::Wait(turn) => {
                        tracing::trace!(target: "bursar::pool", ?key, "waiting for a connection");
                        deadline.within(pin!(turn.notified())).await.map(|()| None)
                    }
                };
                match waited {
                    Ok(Some((session, slot))) => {
                        return self.create(&key, session, slot, location, &mut deadline).await;
                    }
                    Ok(None) => {}
                    Err(Elapsed) => return self.timed_out(&key),
                }
            }
        }
    }

    /// The checkout timeout passed: counted, and the error the `get` returns.
    #[cold]
    pub(super) fn timed_out(&self, key: &M::Key) -> Checkout<M> {
        let limit = self.shared.config.checkout_timeout;
        self.shared.backend.counters.add(Count::Timeouts, 1);
        tracing::debug!(target: "bursar::pool", ?key, waited = ?limit, "checkout timed out");
        Err(PoolError::Timeout { waited: limit })
    }
}

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
//! | `check` | `Lease` (lent already, marked as being checked) | ends the lease and sends the connection to `destroy` (its place is freed after) |
//! | the evicted or broken connection's `destroy` | `Slot` + a `oneshot` receiver | gives its own place back; the destroy task frees the other when it ends |
//!
//! The checkout timeout wraps the whole loop, so it cuts a `get` off at any of these points
//! in the same way.

use std::future::{Future, poll_fn};
use std::panic::Location;
use std::pin::pin;
use std::task::Poll;

use tokio::time::{Instant, timeout};

use super::counters::Count;
use super::{Lease, Manager, Pool, PoolError};

mod next;
mod steps;

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
        self.checkout(key, location)
    }

    /// Arms the checkout timeout only if the checkout has to wait: a warm `get` whose idle
    /// connection passes its check at once completes in its first poll, with no timer. Time
    /// does not pass during a poll on tokio's clock's terms, so the limit is the same.
    async fn checkout(&self, key: M::Key, location: &'static Location<'static>) -> Checkout<M> {
        let limit = self.shared.config.checkout_timeout;
        // Lent to `acquire` as one reference, so its future copies one word, not two.
        let request = (key, location);
        let mut acquire = pin!(self.acquire(&request));
        if let Poll::Ready(result) = poll_fn(|cx| Poll::Ready(acquire.as_mut().poll(cx))).await {
            return result;
        }
        let Ok(result) = timeout(limit, acquire).await else {
            self.shared.backend.counters.add(Count::Timeouts, 1);
            tracing::debug!(target: "bursar::pool", key = ?request.0, waited = ?limit, "checkout timed out");
            return Err(PoolError::Timeout { waited: limit });
        };
        result
    }

    async fn acquire(&self, request: &(M::Key, &'static Location<'static>)) -> Checkout<M> {
        let (key, location) = (&request.0, request.1);
        let mut place = Place { shared: &self.shared, ticket: None };
        loop {
            let now = Instant::now();
            match self.next((key, location), &mut place.ticket, now) {
                Next::Closed => return Err(PoolError::Closed),
                Next::Create(session, slot) => return self.create(key, session, slot, location).await,
                Next::Reuse(mut lease) => {
                    // Checked in place: the lease stays where it is, not moved into a future.
                    let checked = self.shared.backend.manager.check(&mut lease).await;
                    let Err(error) = checked else { return self.checked(lease) };
                    let session = Lease::session(&lease);
                    if let Ok(slot) = self.check_failed(lease, error).await {
                        return self.create(key, session, slot, location).await;
                    }
                }
                Next::Evicting { session, reservation, victim } => {
                    if let Ok(freed) = victim.await {
                        let slot = reservation.absorb_total(freed);
                        return self.create(key, session, slot, location).await;
                    }
                }
                Next::Wait(turn) => {
                    tracing::trace!(target: "bursar::pool", ?key, "waiting for a connection");
                    turn.notified().await;
                }
            }
        }
    }
}

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

use std::future::{Future, poll_fn};
use std::panic::Location;
use std::pin::pin;

use tokio::time::Instant;

use super::counters::Count;
use super::{Lease, Manager, Pool, PoolError};
use crate::contain::UserCode;

mod deadline;
mod next;
mod ports;
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
    /// # Wrapping `get`
    ///
    /// The location is that of the code calling `get`, through `#[track_caller]`. A helper
    /// that wraps `get` in an `async fn` therefore has every leak reported at the helper's own
    /// line (an `async fn` cannot be `#[track_caller]` on stable Rust). To report the line
    /// that called the helper, write it as a `#[track_caller]` plain `fn` that returns `get`'s
    /// future:
    ///
    /// ```
    /// # use bursar::pool::{Lease, Manager, Pool, PoolError};
    /// # use bursar::ports::PortLease;
    /// # struct Browsers;
    /// # impl Manager for Browsers {
    /// #     type Key = String;
    /// #     type Connection = ();
    /// #     type Error = std::io::Error;
    /// #     async fn create(&self, _: &String, _: &[PortLease]) -> Result<(), Self::Error> { Ok(()) }
    /// #     async fn check(&self, _: &mut ()) -> Result<(), Self::Error> { Ok(()) }
    /// #     async fn destroy(&self, _: ()) {}
    /// # }
    /// /// Leaks are reported at the line that called `session`, not here.
    /// #[track_caller]
    /// fn session<'a>(
    ///     pool: &'a Pool<Browsers>,
    ///     user: &str,
    /// ) -> impl Future<Output = Result<Lease<Browsers>, PoolError<std::io::Error>>> + 'a {
    ///     pool.get(user.to_lowercase())
    /// }
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let pool = Pool::builder(Browsers).build()?;
    /// let lease = session(&pool, "Alice").await?; // a leak of `lease` names this line
    /// # drop(lease);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// - [`PoolError::Timeout`] if no connection was ready within the checkout timeout.
    /// - [`PoolError::Manager`] with the manager's error if `create` failed. (A failed `check`
    ///   is no error: that connection is destroyed and a new one created.)
    /// - [`PoolError::ManagerPanicked`] if `create` panicked: a failed create whose place and
    ///   ports are given back. (A `check` that panics fails the check.)
    /// - [`PoolError::Ports`] if a port the new connection needs could not be leased, and no
    ///   idle connection was left to evict for it. (An exhausted range whose ports idle
    ///   connections hold is no error: the least recently used is evicted, and the `get` waits
    ///   for its port's quarantine.)
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
    /// Never. A panic in the manager's `create`, `check` (or the drop of their futures) is
    /// contained: an `ERROR` event naming the callback, counted in
    /// [`PoolStats::callback_panics`](super::PoolStats::callback_panics), and handled as a
    /// failed create or a failed check. A `create` or `check` that hangs is cut off by the
    /// checkout timeout like any other wait of the `get` (counted in `timeouts`, not as a
    /// hang: the limit includes the time the `get` spent waiting before it).
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
                        let (backend, session) = (&self.shared.backend, checking.session());
                        let checked = {
                            let mut check = pin!(Some(backend.manager.check(checking.connection_mut())));
                            let contained = poll_fn(|cx| {
                                backend.poll_contained(UserCode::ManagerCheck, check.as_mut(), cx)
                            });
                            let checked = deadline.within(pin!(contained)).await;
                            // Cut off by the deadline: its drop is the manager's code too.
                            backend.drop_contained(UserCode::ManagerCheck, check);
                            checked
                        };
                        // A check that panicked found the connection broken, as one that failed.
                        let failed = match checked {
                            Ok(Ok(Ok(()))) => return self.checked(checking),
                            Ok(Ok(Err(error))) => self.check_failed(checking, &error),
                            Ok(Err(fault)) => self.check_failed(checking, &fault),
                            Err(Elapsed) => return self.timed_out(&key),
                        };
                        deadline.within(pin!(failed)).await.map(|slot| slot.ok().map(|slot| (session, slot)))
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
        Err(self.timeout_error(key))
    }

    /// [`timed_out`](Self::timed_out)'s error.
    #[cold]
    pub(super) fn timeout_error(&self, key: &M::Key) -> PoolError<M::Error> {
        let limit = self.shared.config.checkout_timeout;
        self.shared.backend.counters.add(Count::Timeouts, 1);
        tracing::debug!(target: "bursar::pool", ?key, waited = ?limit, "checkout timed out");
        PoolError::Timeout { waited: limit }
    }
}

//! The checkout path: the engine of [`Pool::get`](super::Pool::get).
//!
//! A `get` loops: under the lock it decides its next step — reuse an idle connection, create
//! one in a newly reserved place, evict another key's idle connection, or wait — and then
//! takes that step outside the lock. Every await point holds what it would leak as a guard
//! owned by the future, so dropping the `get` there gives it back:
//!
//! | await point | held as | dropped, it |
//! |---|---|---|
//! | waiting for a turn | `QueuePlace` (ticket in the queue) | leaves the queue, passes a turn it was given on |
//! | `create` | `CapPlace` + `PortLease`s | gives the place back, frees the ports (quarantine) |
//! | `check` | `Checking` (lent already, not yet a `Lease`) | ends the lease and sends the connection to `destroy` (its place is freed after) |
//! | the evicted or broken connection's `destroy` | `CapPlace` + a `oneshot` receiver | gives its own place back; the destroy task frees the other when it ends |
//!
//! The checkout timeout bounds every one of these awaits, armed at the first that has to wait,
//! so it cuts a `get` off at any of these points in the same way.

use std::future::{Future, poll_fn};
use std::panic::Location;
use std::pin::pin;
use std::sync::Arc;

use tokio::time::Instant;

use super::counters::PoolCount;
use super::shared::Shared;
use super::{Lease, Manager, PoolError};
use crate::contain::UserCode;

mod check;
mod create;
pub(super) mod deadline;
mod next;
pub(super) mod ports;

use deadline::{Deadline, Elapsed};
use next::{Next, QueuePlace};

type GetResult<M> = Result<Lease<M>, PoolError<<M as Manager>::Error>>;

impl<M: Manager> Shared<M> {
    /// [`Pool::get`](super::Pool::get)'s future. The location of the code that called `get`
    /// (through `#[track_caller]`) is read now, for the leak ledger.
    #[inline]
    #[track_caller]
    pub(super) fn check_out(self: &Arc<Self>, key: M::Key) -> impl Future<Output = GetResult<M>> + Send + '_ {
        let location = Location::caller();
        // A block rather than an `async fn`: its future uses what it captured where it lies,
        // instead of keeping a second copy of its arguments in every `get`.
        async move {
            let mut timer = pin!(None);
            let mut deadline = Deadline { limit: self.config.checkout_timeout, timer: timer.as_mut() };
            let mut queued = QueuePlace { shared: self, ticket: None };
            loop {
                // `Some` with a place to create a connection in, `None` to plan again.
                let waited = match self.next((&key, location), &mut queued.ticket, Instant::now()) {
                    Next::Closed => return Err(PoolError::Closed),
                    Next::Create(session, place) => Ok(Some((session, place))),
                    // Bound by value: a box and a ledger entry, so moving it costs less than the
                    // drop of a `Next` left behind.
                    Next::Reuse(mut checking) => {
                        let (backend, session) = (&self.backend, checking.session());
                        let failed = if backend.is_broken(checking.connection(), false) {
                            self.found_broken(&mut checking)
                        } else {
                            let checked = {
                                // Dropped contained when it ends, is cut off, or this `get` is dropped.
                                let slot = pin!(None);
                                let connection = checking.connection_mut();
                                let mut check = backend.in_slot(UserCode::ManagerCheck, slot, || {
                                    backend.manager.check(connection)
                                });
                                deadline.within(pin!(poll_fn(|cx| check.poll(cx)))).await
                            };
                            // A check that panicked found the connection broken, as one that failed.
                            match checked {
                                Ok(Ok(Ok(()))) => return self.checked(&mut checking),
                                Ok(Ok(Err(error))) => self.check_failed(&mut checking, &error),
                                Ok(Err(fault)) => self.check_failed(&mut checking, &fault),
                                Err(Elapsed) => return self.timed_out(&key),
                            }
                        };
                        deadline
                            .within(pin!(failed))
                            .await
                            .map(|place| place.ok().map(|place| (session, place)))
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
                    Ok(Some((session, place))) => {
                        return self.create(&key, session, place, location, &mut deadline).await;
                    }
                    Ok(None) => {}
                    Err(Elapsed) => return self.timed_out(&key),
                }
            }
        }
    }

    /// The checkout timeout passed: counted, and the error the `get` returns.
    #[cold]
    pub(super) fn timed_out(&self, key: &M::Key) -> GetResult<M> {
        Err(self.timeout_error(key))
    }

    /// [`timed_out`](Self::timed_out)'s error.
    #[cold]
    pub(super) fn timeout_error(&self, key: &M::Key) -> PoolError<M::Error> {
        self.backend.counters.add(PoolCount::Timeouts, 1);
        tracing::debug!(target: "bursar::pool", ?key, waited = ?self.config.checkout_timeout, "checkout timed out");
        self.cut_off()
    }

    /// The checkout timeout passed while a new connection was made, for a `get` or a warm-up:
    /// not counted here, as `timeouts` counts `get`s only; a `get` counts it with
    /// [`timeout_error`](Self::timeout_error), and a warm-up's is its `WARN`.
    #[cold]
    pub(super) fn cut_off(&self) -> PoolError<M::Error> {
        PoolError::Timeout { waited: self.config.checkout_timeout }
    }
}

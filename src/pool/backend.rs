//! [`Backend`]: the manager and the destroys it still owes, which outlive the pool.
//!
//! `destroy` is async, but connections are given up in places that cannot wait: a lease's
//! `Drop`, a `get` dropped in the middle of a check, the last pool handle going away. So every
//! destroy runs on a task of its own, spawned on the runtime the pool was built in: no caller
//! giving up can cancel it halfway. The tasks are counted, so `close` can wait for them, and
//! a panic in `destroy` is contained like one in `create` or `check` (see [`Backend::contained`]).

use std::fmt;
use std::future::{Future, poll_fn};
use std::num::NonZeroU32;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{Notify, oneshot};

use super::Manager;
use super::cap_place::CapPlace;
use super::connection::Conn;
use super::counters::{PoolCount, PoolCounters};
use crate::contain::{Containment, Fault, UserCode};

pub(super) struct Backend<M: Manager> {
    pub(super) manager: M,
    /// The governor's, for a pool it started; else the pool's own.
    containment: Arc<Containment>,
    runtime: Handle,
    /// The longest a `destroy` may take before the connection's ports and place are freed
    /// without it (`pool.destroy_timeout`).
    destroy_timeout: Duration,
    /// Destroy tasks spawned and not yet finished.
    pending: AtomicUsize,
    settled: Notify,
    pub(super) counters: PoolCounters,
}

impl<M: Manager> Backend<M> {
    pub(super) fn new(
        manager: M,
        runtime: Handle,
        containment: Arc<Containment>,
        destroy_timeout: Duration,
    ) -> Self {
        Backend {
            manager,
            containment,
            runtime,
            destroy_timeout,
            pending: AtomicUsize::new(0),
            settled: Notify::new(),
            counters: PoolCounters::default(),
        }
    }

    /// Destroys `conn` on its own task, then frees its ports and gives its place back — or,
    /// if `then` is still listening, hands the place on through it. A `destroy` that has not
    /// returned within the destroy timeout is dropped (contained), counted as hung and logged,
    /// and the ports and place are freed all the same: a browser that never quits must not
    /// shrink the pool for good, nor hold `close` for ever.
    pub(super) fn destroy(
        self: &Arc<Self>,
        conn: Conn<M>,
        place: CapPlace<M>,
        then: Option<oneshot::Sender<CapPlace<M>>>,
    ) {
        let backend = Arc::clone(self);
        self.spawn_counted(async move {
            let Conn { connection, ports, key, .. } = conn;
            let backend = &backend;
            let destroy = backend.contained(UserCode::ManagerDestroy, || backend.manager.destroy(connection));
            let limit = backend.destroy_timeout;
            match tokio::time::timeout(limit, destroy).await {
                Ok(Ok(())) => {}
                Ok(Err(_panicked)) => {
                    tracing::debug!(target: "bursar::pool", ?key, "destroy panicked; the connection's ports and place are freed all the same");
                }
                Err(_elapsed) => {
                    backend.containment.fault(UserCode::ManagerDestroy, Fault::Hung(limit));
                    tracing::warn!(target: "bursar::pool", ?key, ?limit, "destroy did not return within the destroy timeout; the connection's ports and place are freed all the same");
                }
            }
            drop(ports);
            backend.counters.add(PoolCount::Destroyed, 1);
            tracing::trace!(target: "bursar::pool", ?key, "connection destroyed");
            // If nobody listens any more, the place comes back here and is given back.
            let unwanted = match then {
                Some(then) => then.send(place).err(),
                None => Some(place),
            };
            drop(unwanted);
        });
    }

    /// Runs `job` on a task of its own, counted until it ends however it ends, so a pool's
    /// `close` waits for it: every destroy, and every create that keeps a key warm.
    pub(super) fn spawn_counted(self: &Arc<Self>, job: impl Future<Output = ()> + Send + 'static) {
        let pending = Pending::enter(Arc::clone(self));
        drop(self.runtime.spawn(async move {
            job.await;
            // `pending` drops last: a `close` that sees no task left sees their places back.
            drop(pending);
        }));
    }

    /// Calls one of the manager's methods with `make` and runs the future it returns, both
    /// contained: a panic in the call, in the future or in its drop is caught, logged as an
    /// `ERROR` event naming the callback, and counted both in the containment's status and in
    /// this pool's `callback_panics`. The call is user code too: a method may panic before
    /// it returns its future.
    ///
    /// # Errors
    ///
    /// The [`Fault`] if it panicked.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it drops the future, contained.
    pub(super) async fn contained<F: Future>(
        &self,
        kind: UserCode,
        make: impl FnOnce() -> F,
    ) -> Result<F::Output, Fault> {
        let slot = pin!(None);
        let mut future = self.in_slot(kind, slot, make);
        poll_fn(|cx| future.poll(cx)).await
    }

    /// `Manager::is_broken`, contained: a panic counts as broken. A lease's return asks from
    /// the lease's `Drop`, so it passes `in_drop`: while the thread unwinds it is not asked
    /// (user code never runs in a drop then) and counts as not broken; the next checkout asks.
    #[inline]
    pub(super) fn is_broken(&self, connection: &M::Connection, in_drop: bool) -> bool {
        if in_drop && std::thread::panicking() {
            return false;
        }
        let asked = self
            .containment
            .call_outside_drop(UserCode::ManagerIsBroken, || self.manager.is_broken(connection));
        asked.unwrap_or_else(|_| {
            self.counters.add(PoolCount::CallbackPanics, 1);
            true
        })
    }

    /// `Manager::process_group`, contained: a panic counts as none.
    pub(super) fn process_group(&self, connection: &M::Connection) -> Option<NonZeroU32> {
        let group =
            self.call_contained(UserCode::ManagerProcessGroup, || self.manager.process_group(connection));
        group.ok().flatten().and_then(NonZeroU32::new)
    }

    /// Runs a synchronous method of the manager contained, counted like
    /// [`contained`](Self::contained).
    fn call_contained<R>(&self, kind: UserCode, code: impl FnOnce() -> R) -> Result<R, Fault> {
        let output = self.containment.call(kind, code);
        if output.is_err() {
            self.counters.add(PoolCount::CallbackPanics, 1);
        }
        output
    }

    /// [`contained`](Self::contained), polled from the caller's own future: for the warm
    /// checkout's `check`, where one more future around it would cost more than the check.
    /// The returned [`InSlot`] calls `make` in its first poll, in the guard of that poll, puts
    /// the future in `slot`, and, however the caller ends, drops it contained.
    #[inline]
    pub(super) fn in_slot<'a, F: Future, Mk: FnOnce() -> F>(
        &'a self,
        kind: UserCode,
        slot: Pin<&'a mut Option<F>>,
        make: Mk,
    ) -> InSlot<'a, M, F, Mk> {
        InSlot { backend: self, kind, future: slot, make: Some(make) }
    }

    /// Destroys still running.
    pub(super) fn pending(&self) -> usize {
        // Acquire: see `settled`.
        self.pending.load(Ordering::Acquire)
    }

    /// Waits until no destroy task is left.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only listens.
    pub(super) async fn settled(&self) {
        loop {
            let mut settled = pin!(self.settled.notified());
            settled.as_mut().enable();
            // Acquire: pairs with the Release in `Pending::drop`, so every finished destroy's
            // effects (counts, freed ports, places given back) are visible once this reads 0.
            if self.pending.load(Ordering::Acquire) == 0 {
                return;
            }
            settled.await;
        }
    }
}

/// One of the manager's futures in its caller's slot (see [`Backend::in_slot`]): polled there
/// contained, and dropped contained when it ends or when this is dropped, so a caller that is
/// cut off or dropped itself never drops the manager's code bare.
pub(super) struct InSlot<'a, M: Manager, F, Mk> {
    backend: &'a Backend<M>,
    kind: UserCode,
    future: Pin<&'a mut Option<F>>,
    /// The call that makes the future, until the first poll makes it.
    make: Option<Mk>,
}

impl<M: Manager, F: Future, Mk: FnOnce() -> F> InSlot<'_, M, F, Mk> {
    /// Polls the future, contained and counted like [`Backend::contained`]. An ended future
    /// stays in its slot until this is dropped (its caller's step ends right after), which
    /// drops it contained and counted.
    #[inline]
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<F::Output, Fault>> {
        let containment = &self.backend.containment;
        let polled =
            ready!(containment.make_and_poll_in_place(self.kind, self.future.as_mut(), &mut self.make, cx));
        if polled.is_err() {
            self.backend.counters.add(PoolCount::CallbackPanics, 1);
        }
        Poll::Ready(polled)
    }
}

impl<M: Manager, F, Mk> Drop for InSlot<'_, M, F, Mk> {
    /// The future's drop is the manager's code: a panic in it counts as one of the pool's.
    fn drop(&mut self) {
        if self.backend.containment.drop_in_place(self.kind, self.future.as_mut()) {
            self.backend.counters.add(PoolCount::CallbackPanics, 1);
        }
    }
}

/// One destroy task in flight; counted out when the task ends, however it ends.
struct Pending<M: Manager>(Arc<Backend<M>>);

impl<M: Manager> Pending<M> {
    fn enter(backend: Arc<Backend<M>>) -> Self {
        // Relaxed: the increment is ordered before the task that decrements it by the spawn.
        backend.pending.fetch_add(1, Ordering::Relaxed);
        Pending(backend)
    }
}

impl<M: Manager> Drop for Pending<M> {
    fn drop(&mut self) {
        // Release: see `settled`.
        if self.0.pending.fetch_sub(1, Ordering::Release) == 1 {
            self.0.settled.notify_waiters();
        }
    }
}

impl<M: Manager> fmt::Debug for Backend<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a gauge for debugging output only.
        let pending = self.pending.load(Ordering::Relaxed);
        f.debug_struct("Backend").field("pending_destroys", &pending).finish_non_exhaustive()
    }
}

//! [`Backend`]: the manager and the destroys it still owes, which outlive the pool.
//!
//! `destroy` is async, but connections are given up in places that cannot wait: a lease's
//! `Drop`, a `get` dropped in the middle of a check, the last pool handle going away. So every
//! destroy runs on a task of its own, spawned on the runtime the pool was built in: no caller
//! giving up can cancel it halfway. The tasks are counted, so `close` can wait for them, and
//! a panic in `destroy` is caught and logged rather than lost with its task.

use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use tokio::runtime::Handle;
use tokio::sync::{Notify, oneshot};

use super::Manager;
use super::counters::{Count, Counters};
use super::held::Conn;
use super::slot::Slot;
use crate::workers::panic_message;

pub(super) struct Backend<M: Manager> {
    pub(super) manager: M,
    runtime: Handle,
    /// Destroy tasks spawned and not yet finished.
    pending: AtomicUsize,
    settled: Notify,
    pub(super) counters: Counters,
}

impl<M: Manager> Backend<M> {
    pub(super) fn new(manager: M, runtime: Handle) -> Self {
        Backend {
            manager,
            runtime,
            pending: AtomicUsize::new(0),
            settled: Notify::new(),
            counters: Counters::default(),
        }
    }

    /// Destroys `conn` on its own task, then frees its ports and gives its place back — or,
    /// if `then` is still listening, hands the place on through it.
    pub(super) fn destroy(
        self: &Arc<Self>,
        conn: Conn<M>,
        slot: Slot<M>,
        then: Option<oneshot::Sender<Slot<M>>>,
    ) {
        let pending = Pending::enter(Arc::clone(self));
        let job = async move {
            let Conn { connection, ports, key, .. } = conn;
            if let Some(message) = catch_panic(pending.0.manager.destroy(connection)).await {
                tracing::error!(target: "bursar::pool", ?key, panic = %message, "destroy panicked");
            }
            drop(ports);
            pending.0.counters.add(Count::Destroyed, 1);
            tracing::trace!(target: "bursar::pool", ?key, "connection destroyed");
            // If nobody listens any more, the slot comes back here and is given back.
            let unwanted = match then {
                Some(then) => then.send(slot).err(),
                None => Some(slot),
            };
            drop(unwanted);
            // `pending` drops last: a `close` that sees no destroys left sees their places back.
            drop(pending);
        };
        drop(self.runtime.spawn(job));
    }

    /// Waits until no destroy task is left.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only listens.
    /// Destroys still running.
    pub(super) fn pending(&self) -> usize {
        // Acquire: see `settled`.
        self.pending.load(Ordering::Acquire)
    }

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

/// Runs `future` to its end; a panic inside it ends it early with the panic's message.
async fn catch_panic(future: impl Future<Output = ()>) -> Option<String> {
    let mut future = pin!(future);
    poll_fn(|cx| match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
        Ok(Poll::Ready(())) => Poll::Ready(None),
        Ok(Poll::Pending) => Poll::Pending,
        Err(payload) => Poll::Ready(Some(panic_message(payload.as_ref()))),
    })
    .await
}

impl<M: Manager> fmt::Debug for Backend<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a gauge for debugging output only.
        let pending = self.pending.load(Ordering::Relaxed);
        f.debug_struct("Backend").field("pending_destroys", &pending).finish_non_exhaustive()
    }
}

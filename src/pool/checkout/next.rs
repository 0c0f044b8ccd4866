//! A checkout's next step: planned under the lock, then every place it names wrapped in a
//! guard before anything can be dropped.

use std::panic::Location;
use std::sync::Arc;

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use crate::pool::Manager;
use crate::pool::cap_place::CapPlace;
use crate::pool::connection::ConnectionGuard;
use crate::pool::counters::PoolCount;
use crate::pool::sessions::{Decision, SessionId};
use crate::pool::shared::Shared;
use crate::pool::state::{Plan, wake};

use super::check::Checking;

/// A `get`'s next step, with every place it holds wrapped in a guard.
pub(super) enum Next<M: Manager> {
    Closed,
    /// Check this connection, lent already, and hand it out if it passes.
    Reuse(Checking<M>),
    /// Create a connection for `session` in `place`.
    Create(SessionId, CapPlace<M>),
    /// `reservation` holds a place of the `get`'s key in `session`; `victim` yields the
    /// evicted connection's place once it has been destroyed.
    Evicting {
        session: SessionId,
        reservation: CapPlace<M>,
        victim: oneshot::Receiver<CapPlace<M>>,
    },
    Wait(Arc<Notify>),
}

/// A `get`'s place in the queue of waiters, left when dropped.
pub(super) struct QueuePlace<'a, M: Manager> {
    pub(super) shared: &'a Shared<M>,
    pub(super) ticket: Option<u64>,
}

impl<M: Manager> Shared<M> {
    /// Plans the next step under the lock at `now`, for a `get` taken at `location`, then
    /// wraps what it names in guards. Inlined into its one caller, so the step is built where
    /// it is used, not copied there.
    #[inline]
    pub(super) fn next(
        self: &Arc<Self>,
        (key, location): (&M::Key, &'static Location<'static>),
        ticket: &mut Option<u64>,
        now: Instant,
    ) -> Next<M> {
        let mut expired = Vec::new();
        let (step, passed_on) = self.state.lock().plan((key, location), ticket, now, &mut expired);
        wake(passed_on);
        if expired.capacity() == 0 {
            // Nothing expired, and an empty `Vec` that never allocated owns nothing: forgotten,
            // it costs no call to its drop glue.
            std::mem::forget(expired);
        } else {
            self.destroy_all(expired, Some(PoolCount::Reaped));
        }
        let decision = match step {
            Plan::Wait(turn) => return Next::Wait(turn),
            Plan::Go(decision) => decision,
        };
        let pool = || Arc::downgrade(self);
        match decision {
            Decision::Closed => Next::Closed,
            Decision::Reuse(kept, checkout) => {
                self.poke_warm_up();
                Next::Reuse(Checking::new(ConnectionGuard::kept(kept), checkout))
            }
            Decision::Create(session) => {
                Next::Create(session, CapPlace::counted(pool(), Some(session), true))
            }
            Decision::Evict { victim, reserved: session } => {
                self.backend.counters.add(PoolCount::Evicted, 1);
                tracing::debug!(target: "bursar::pool", victim = ?victim.conn.key, ?key, "idle connection evicted to make room");
                let reservation = CapPlace::counted(pool(), Some(session), false);
                let victim = ConnectionGuard::kept(victim).destroy_and_reclaim();
                Next::Evicting { session, reservation, victim }
            }
        }
    }
}

impl<M: Manager> Drop for QueuePlace<'_, M> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket {
            self.shared.leave_queue(ticket);
        }
    }
}

//! The guards of a lane: a [`WorkerPermit`] to run, a [`QueueSlot`] while waiting for one (the
//! wait itself is `wait.rs`'s), and the [`WorkerTicket`] that is one or the other. Each is
//! generic over how it holds the lane — `&Lane` for a call awaited in place, `Arc<Lane>` for the
//! waits of a call that owns its governor (the tower layer's) — and releases on drop. A permit
//! taken for a call or a task is then handed to its `Admitted` record, which releases it.

use std::ops::Deref;

use tokio::sync::TryAcquireError;

use super::lane::{Joined, Lane};
use crate::Rejection;
use crate::telemetry::{self, QueueClock};

/// The right to run one unit of work. Dropping it is the release.
#[derive(Debug)]
#[must_use = "dropping the permit releases the worker at once"]
pub(crate) struct WorkerPermit<L: Deref<Target = Lane>> {
    pub(super) lane: L,
}

impl<L: Deref<Target = Lane>> Drop for WorkerPermit<L> {
    fn drop(&mut self) {
        self.lane.release();
    }
}

impl<L: Deref<Target = Lane>> WorkerPermit<L> {
    /// Takes over a permit already taken from `lane` by a holder without a guard of its own.
    pub(super) fn adopt(lane: L) -> Self {
        WorkerPermit { lane }
    }
}

impl WorkerPermit<&Lane> {
    /// Hands the permit to a holder that releases it itself (a call's or a task's `Admitted`).
    pub(super) fn hand_over(self) {
        // Forgetting a guard that borrows its lane leaks nothing: only the release is skipped,
        // and the new holder makes it.
        std::mem::forget(self);
    }
}

/// A place in a lane's wait queue. Dropping it leaves the queue.
#[derive(Debug)]
#[must_use = "dropping the slot leaves the queue"]
pub(crate) struct QueueSlot<L: Deref<Target = Lane>> {
    pub(super) lane: L,
    pub(super) queued_at: QueueClock,
}

impl QueueSlot<&Lane> {
    /// The same place, held through `lane` (the same lane, by another handle).
    pub(super) fn move_to<L: Deref<Target = Lane>>(self, lane: L) -> QueueSlot<L> {
        debug_assert!(std::ptr::eq(self.lane, &*lane), "a queue place moves within its lane");
        QueueSlot { lane, queued_at: self.hand_over() }
    }

    /// Hands the place to a holder that leaves the queue itself (a spawned task's `InFlight`, or
    /// `move_to`'s slot).
    pub(super) fn hand_over(self) -> QueueClock {
        let queued_at = self.queued_at;
        // See `WorkerPermit::hand_over`.
        std::mem::forget(self);
        queued_at
    }
}

impl<L: Deref<Target = Lane>> Drop for QueueSlot<L> {
    fn drop(&mut self) {
        self.lane.leave_queue();
    }
}

/// What admission to a lane gives: a permit at once, or a place in the queue.
#[derive(Debug)]
pub(crate) enum WorkerTicket<L: Deref<Target = Lane>> {
    Ready(WorkerPermit<L>),
    Waiting(QueueSlot<L>),
}

impl<L: Deref<Target = Lane> + Clone> WorkerTicket<L> {
    /// Takes a free permit, or else a queue place, without waiting.
    #[inline(always)]
    pub(crate) fn reserve(lane: L) -> Result<Self, Rejection> {
        match lane.try_take() {
            Ok(()) => {
                // The hot path waited for nothing: a 0 sample, without reading the clock.
                telemetry::no_wait(lane.label);
                Ok(WorkerTicket::Ready(WorkerPermit { lane }))
            }
            Err(TryAcquireError::Closed) => Err(Rejection::ShuttingDown),
            Err(TryAcquireError::NoPermits) => Self::queue(lane),
        }
    }

    /// No permit was free: a place in the queue (or a permit made spare meanwhile).
    #[inline(never)]
    fn queue(lane: L) -> Result<Self, Rejection> {
        if lane.join_queue()? == Joined::Spare {
            // A release made its permit spare after `try_take` looked.
            telemetry::no_wait(lane.label);
            return Ok(WorkerTicket::Ready(WorkerPermit { lane }));
        }
        Ok(WorkerTicket::Waiting(QueueSlot { lane, queued_at: QueueClock::start() }))
    }
}

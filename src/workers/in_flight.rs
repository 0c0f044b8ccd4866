//! [`Admitted`]: what a call or task holds from admission to its end. It counts the work in
//! and out of the drain, and records exactly one outcome — `abandoned` if its owner let it go
//! first. A spawned task's place in its lane, and a call's worker while an attempt holds one,
//! are kept in it too. A call's owner counts it out with the workers it lends; a spawned
//! task's [`InFlight`] guard owns them and counts it out when dropped.

use std::ops::Deref;
use std::sync::Arc;

use super::counters::Count;
use super::drain::Exit;
use super::lane::Lane;
use super::permit::{QueueSlot, WorkerPermit, WorkerTicket};
use super::supervise::Supervised;
use super::{LaneKind, Workers};
use crate::telemetry::QueueClock;
use crate::{Error, Rejection};

/// What a call or task holds from admission to its end: its name, its [`Marks`], and when it
/// took a queue place. It holds no handle to the workers it was admitted to: its owner gives
/// them to each step and counts it out with [`leave_from`](Self::leave_from), exactly once. A call's
/// future owns one handle to its governor and lends it here, so that a `'static` call (the
/// tower layer's) shares one `Arc` between its plan and its record instead of cloning two.
/// [`InFlight`] owns the handle as well, and counts itself out when dropped.
#[derive(Debug)]
#[must_use = "an admitted call stays in flight until its owner calls `leave_from`"]
pub(crate) struct Admitted {
    name: &'static str,
    /// How it ended, whether it succeeded, where it stands in its lane and the memory it
    /// reserved: see [`Marks`].
    marks: Marks,
    /// When a spawned task took its queue place (for the queue-wait histogram; nothing without
    /// the `metrics` feature).
    queued_at: QueueClock,
}

/// An [`Admitted`] record with the workers it counts into: a spawned task's guard, which its
/// future owns alone. Dropped, it counts the task out (`abandoned` if it had not settled).
#[derive(Debug)]
pub(crate) struct InFlight<W: Deref<Target = Workers>> {
    workers: W,
    admitted: Admitted,
}

/// Where a spawned task is in its lane, or the worker a call holds.
///
/// A spawned task's place in its lane, or a call's worker while an attempt holds it, is held
/// in its record rather than by a guard of its own, which would hold a handle to the workers
/// of its own (a task's future fits in fewer of the runtime's cache lines; the tower layer's
/// response future clones one `Arc` less). A call's queue place is its wait's.
#[derive(Debug, Clone, Copy)]
enum Place {
    Queued(LaneKind),
    Working(LaneKind),
}

/// The record's small state, eight bytes with no padding and no invalid value: the memory a
/// call's cost reserved (`Call::cost`) in KiB, given back when it ends (0: none; KiB, so that
/// it takes no room a call's future did not already have), and the codes of its place (see
/// [`Place`]), its exit and its success. As `Option`s and a `bool`, these fields would offer
/// an enum holding the record a byte for its tag: the record would then be copied in overlapping
/// pieces, read back wide right after narrow stores wrote them, which stalls on store
/// forwarding.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
struct Marks {
    reserved_kib: u32,
    place: u8,
    exit: u8,
    succeeded: u8,
    /// Written, so that a copy of the record has no byte left undefined.
    spare: u8,
}

impl Marks {
    #[inline(always)]
    fn place(self) -> Option<Place> {
        match self.place {
            1 => Some(Place::Working(LaneKind::Tasks)),
            2 => Some(Place::Working(LaneKind::Blocking)),
            3 => Some(Place::Queued(LaneKind::Tasks)),
            4 => Some(Place::Queued(LaneKind::Blocking)),
            _ => None,
        }
    }

    #[inline(always)]
    fn set_place(&mut self, place: Option<Place>) {
        self.place = match place {
            None => 0,
            Some(Place::Working(LaneKind::Tasks)) => 1,
            Some(Place::Working(LaneKind::Blocking)) => 2,
            Some(Place::Queued(LaneKind::Tasks)) => 3,
            Some(Place::Queued(LaneKind::Blocking)) => 4,
        };
    }

    #[inline(always)]
    fn take_place(&mut self) -> Option<Place> {
        let place = self.place();
        self.place = 0;
        place
    }

    #[inline(always)]
    fn exit(self) -> Option<Exit> {
        match self.exit {
            1 => Some(Exit::Finished),
            2 => Some(Exit::Cancelled),
            3 => Some(Exit::Rejected),
            _ => None,
        }
    }

    #[inline(always)]
    fn set_exit(&mut self, exit: Exit) {
        self.exit = match exit {
            Exit::Finished => 1,
            Exit::Cancelled => 2,
            Exit::Rejected => 3,
        };
    }

    fn succeeded(self) -> bool {
        self.succeeded != 0
    }

    fn set_succeeded(&mut self) {
        self.succeeded = 1;
    }
}

/// What settles: a call (`run`, `call`, tower), or spawned work, whose successes are also
/// counted apart — the retry budget counts calls only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Work {
    Call,
    Task,
}

impl Admitted {
    /// Admits one call named `name` (for its events) to `workers`, unless the governor is
    /// shutting down or shedding work.
    // Inlined: returned through a `Result`, the record is copied field by field, and the
    // copy's wide reads of its narrow fields stall the call path on store forwarding.
    #[inline(always)]
    pub(crate) fn enter(workers: &Workers, name: &'static str) -> Result<Self, Rejection> {
        if workers.is_shedding() {
            let rejection = Rejection::Overloaded { level: crate::health::HealthLevel::Critical };
            return Err(record_rejection(workers, rejection, name));
        }
        if workers.drain.enter() {
            return Ok(Admitted { name, marks: Marks::default(), queued_at: QueueClock::default() });
        }
        workers.drain.leave(None, false);
        Err(record_rejection(workers, Rejection::ShuttingDown, name))
    }

    /// Takes a worker of the `kind` lane for a spawned task, or a place in its queue; the
    /// place is released when the task leaves.
    ///
    /// # Errors
    ///
    /// The lane's [`Rejection`] (queue full, shutting down), not recorded.
    fn try_hold(&mut self, workers: &Workers, kind: LaneKind) -> Result<(), Rejection> {
        let reserved = match WorkerTicket::reserve(&**workers.lane(kind))? {
            WorkerTicket::Ready(permit) => {
                permit.hand_over();
                Place::Working(kind)
            }
            WorkerTicket::Waiting(slot) => {
                self.queued_at = slot.hand_over();
                Place::Queued(kind)
            }
        };
        self.marks.set_place(Some(reserved));
        Ok(())
    }

    /// The call holds `kib` KiB of memory reserved (`MemoryGate`), given back when it leaves.
    pub(crate) fn holds_memory(&mut self, kib: u32) {
        self.marks.reserved_kib = kib;
    }

    /// Gives the call's memory back, if it holds some.
    #[cold]
    #[inline(never)]
    fn release_memory(&mut self, workers: &Workers) {
        let kib = std::mem::take(&mut self.marks.reserved_kib);
        workers.memory.release(u64::from(kib) * 1024);
    }

    /// Takes a worker for a call from the tasks lane, held here; or else a place in its queue,
    /// which the caller's wait holds with the lane `lane` gives (called only then: a call that
    /// finds a worker free clones no handle).
    ///
    /// # Errors
    ///
    /// The lane's [`Rejection`] (queue full, shutting down), not recorded: the caller records it
    /// with [`reject`](Self::reject).
    #[inline(always)]
    pub(crate) fn take_worker<L: Deref<Target = Lane>>(
        &mut self,
        workers: &Workers,
        lane: impl FnOnce() -> L,
    ) -> Result<Option<QueueSlot<L>>, Rejection> {
        match WorkerTicket::reserve(&*workers.tasks)? {
            WorkerTicket::Ready(permit) => {
                permit.hand_over();
                self.marks.set_place(Some(Place::Working(LaneKind::Tasks)));
                Ok(None)
            }
            WorkerTicket::Waiting(slot) => Ok(Some(slot.move_to(lane()))),
        }
    }

    /// The call holds a worker of the tasks lane taken without a guard (a served wait's): it is
    /// released with [`release_worker`](Self::release_worker), or when the call leaves.
    pub(crate) fn holds_worker(&mut self) {
        self.marks.set_place(Some(Place::Working(LaneKind::Tasks)));
    }

    /// True while the call holds its worker.
    #[inline(always)]
    pub(crate) fn has_worker(&self) -> bool {
        matches!(self.marks.place(), Some(Place::Working(_)))
    }

    /// Gives back the call's worker (or a task's queue place), if it holds one.
    #[inline]
    pub(crate) fn release_worker(&mut self, workers: &Workers) {
        match self.marks.take_place() {
            None => {}
            Some(Place::Working(kind)) => workers.lane(kind).release(),
            Some(Place::Queued(kind)) => workers.lane(kind).leave_queue(),
        }
    }

    /// Records that an admitted call was turned away before it ran.
    pub(crate) fn reject(&mut self, workers: &Workers, rejection: Rejection) -> Rejection {
        self.marks.set_exit(Exit::Rejected);
        record_rejection(workers, rejection, self.name)
    }

    /// Records the rejection of the record in `slot` (if any) and counts it out, leaving the
    /// slot empty. In place, as `leave_from`: if anything on the way panics, the record is
    /// still in its owner's slot, and its owner counts it out.
    #[cfg(feature = "tower")]
    #[cold]
    #[inline(never)]
    pub(crate) fn reject_from(
        slot: &mut Option<Admitted>,
        workers: &Workers,
        rejection: Rejection,
    ) -> Rejection {
        let rejection = match slot {
            Some(call) => call.reject(workers, rejection),
            None => rejection,
        };
        Admitted::leave_from(slot, workers);
        rejection
    }

    /// Records how the work of the record in `slot` (if any) ended, counts it out, and turns
    /// the outcome into its result; the slot is left empty. In place, as `leave_from`.
    #[inline]
    pub(crate) fn settle_from<T, E>(
        slot: &mut Option<Admitted>,
        workers: &Workers,
        outcome: Supervised<Result<T, Error<E>>>,
        work: Work,
    ) -> Result<T, Error<E>> {
        let result = into_result(outcome);
        if let Some(admitted) = slot {
            admitted.settled(workers, &result, work);
        }
        Admitted::leave_from(slot, workers);
        result
    }

    /// Records the result of work that finished on its own; the owner then counts it out with
    /// [`leave_from`](Self::leave_from). By reference, both: a record or a result moved is copied by wide
    /// reads of the narrow stores that wrote it, which stall.
    #[inline]
    pub(crate) fn settled<T, E>(&mut self, workers: &Workers, result: &Result<T, Error<E>>, work: Work) {
        // The worker first (a task's, or a call's cut off): it is free before the work counts
        // as ended.
        self.release_worker(workers);
        self.record(workers, result, work);
    }

    #[inline]
    fn record<T, E>(&mut self, workers: &Workers, result: &Result<T, Error<E>>, work: Work) {
        crate::telemetry::settled(result);
        self.marks.set_exit(Exit::Finished);
        match result {
            // A call's success is counted by its leave, with no count of its own.
            Ok(_) => {
                self.marks.set_succeeded();
                if work == Work::Task {
                    workers.counters.add(Count::TaskCompleted);
                }
            }
            Err(error) => self.record_error(workers, error),
        }
    }

    /// The outcomes that are not a success: out of line, off the hot path.
    #[cold]
    #[inline(never)]
    fn record_error<E>(&mut self, workers: &Workers, error: &Error<E>) {
        let (counters, call) = (&workers.counters, self.name);
        match error {
            Error::Rejected(rejection) => {
                self.reject(workers, *rejection);
            }
            Error::Operation(_) => {
                counters.add(Count::Failed);
                tracing::debug!(target: "bursar::workers", call, "operation failed");
            }
            Error::Timeout { after } => {
                counters.add(Count::Failed);
                counters.add(Count::TimedOut);
                tracing::warn!(target: "bursar::workers", call, ?after, "work ran past the max task duration and was cancelled");
            }
            Error::AttemptTimeout { after } => {
                counters.add(Count::Failed);
                counters.add(Count::AttemptTimedOut);
                tracing::debug!(target: "bursar::workers", call, ?after, "the last attempt ran past its timeout");
            }
            Error::Panicked { message } => {
                counters.add(Count::Failed);
                counters.add(Count::Panicked);
                tracing::error!(target: "bursar::workers", call, panic = %message, "work panicked; its worker was released");
            }
            Error::Cancelled => {
                counters.add(Count::Cancelled);
                self.marks.set_exit(Exit::Cancelled);
                tracing::info!(target: "bursar::workers", call, "work cancelled by shutdown");
            }
            Error::LeaseLost => {
                counters.add(Count::Failed);
                tracing::warn!(target: "bursar::workers", call, "work cancelled: its fleet lease was lost");
            }
            // Made by a task's handle, after its work was dropped (counted as abandoned then).
            Error::Aborted => {}
        }
    }

    /// Counts the work of the record in `slot`, if any, out of `workers`, once, and leaves the
    /// slot empty: its worker or queue place and its memory go back first, then it leaves the
    /// drain — counted as abandoned if it had not settled or been rejected. In place: a record
    /// moved out is copied by wide reads of the narrow stores that last wrote it, which stall,
    /// and is lost if anything panics before it is counted out.
    #[inline(always)]
    pub(crate) fn leave_from(slot: &mut Option<Admitted>, workers: &Workers) {
        if let Some(admitted) = slot {
            let (abandoned, name) = (admitted.count_out(workers), admitted.name);
            *slot = None;
            if abandoned {
                abandoned_event(name);
            }
        }
    }

    /// Counts the work out; `true` if it was abandoned, for the caller to report with
    /// [`abandoned_event`] once the record is gone.
    #[inline]
    fn count_out(&mut self, workers: &Workers) -> bool {
        self.release_worker(workers);
        if self.marks.reserved_kib != 0 {
            // Free before the work counts as ended.
            self.release_memory(workers);
        }
        let Some(exit) = self.marks.exit() else {
            self.leave_abandoned(workers);
            return true;
        };
        workers.drain.leave(Some(exit), self.marks.succeeded());
        false
    }

    /// Left by its owner before it settled: counted as abandoned, then out.
    #[cold]
    #[inline(never)]
    fn leave_abandoned(&self, workers: &Workers) {
        workers.counters.add(Count::Abandoned);
        workers.drain.leave(Some(Exit::Finished), self.marks.succeeded());
    }
}

impl<W: Deref<Target = Workers>> InFlight<W> {
    /// Admits one task named `name` (for its events), unless the governor is shutting down or
    /// shedding work.
    #[inline(always)]
    pub(crate) fn enter(workers: W, name: &'static str) -> Result<Self, Rejection> {
        let admitted = Admitted::enter(&workers, name)?;
        Ok(InFlight { workers, admitted })
    }

    pub(crate) fn workers(&self) -> &Workers {
        &self.workers
    }

    /// The task's name, for its events.
    pub(crate) fn name(&self) -> &'static str {
        self.admitted.name
    }

    /// Takes a worker of the `kind` lane for a spawned task, or a place in its queue; the
    /// place is released when the task settles or is dropped.
    ///
    /// # Errors
    ///
    /// The lane's [`Rejection`] (queue full, shutting down), recorded as this task's.
    pub(crate) fn hold(&mut self, kind: LaneKind) -> Result<(), Rejection> {
        self.try_hold(kind).map_err(|rejection| self.reject(rejection))
    }

    /// [`hold`](Self::hold), with a rejection not recorded: the caller waits and tries again
    /// (or records it with [`reject`](Self::reject)).
    ///
    /// # Errors
    ///
    /// The lane's [`Rejection`] (queue full, shutting down).
    pub(crate) fn try_hold(&mut self, kind: LaneKind) -> Result<(), Rejection> {
        self.admitted.try_hold(&self.workers, kind)
    }

    /// The lane whose queue the task waits in, if it waits.
    pub(crate) fn queued_on(&self) -> Option<&Arc<Lane>> {
        match self.admitted.marks.place() {
            Some(Place::Queued(kind)) => Some(self.workers.lane(kind)),
            _ => None,
        }
    }

    /// The wait in `queued_on`'s lane gave the task its worker: it leaves the queue.
    pub(crate) fn got_worker(&mut self) {
        let admitted = &mut self.admitted;
        if let Some(Place::Queued(kind)) = admitted.marks.place() {
            let lane = self.workers.lane(kind);
            admitted.queued_at.waited(lane.label);
            lane.leave_queue();
            admitted.marks.set_place(Some(Place::Working(kind)));
        }
    }

    /// The task's worker, for work that releases it itself (a blocking closure's thread keeps
    /// it until the closure returns); `None` if the task holds none.
    pub(crate) fn hand_over_worker(&mut self) -> Option<WorkerPermit<Arc<Lane>>> {
        let Some(Place::Working(kind)) = self.admitted.marks.place() else { return None };
        self.admitted.marks.set_place(None);
        Some(WorkerPermit::adopt(Arc::clone(self.workers.lane(kind))))
    }

    /// Records that the task was turned away before it ran.
    pub(crate) fn reject(&mut self, rejection: Rejection) -> Rejection {
        self.admitted.reject(&self.workers, rejection)
    }

    /// Records how the task ended and turns it into its result; the guard's drop then counts
    /// it out.
    #[inline]
    pub(crate) fn settle<T, E>(
        mut self,
        outcome: Supervised<Result<T, Error<E>>>,
        work: Work,
    ) -> Result<T, Error<E>> {
        let result = into_result(outcome);
        self.admitted.settled(&self.workers, &result, work);
        result
    }
}

impl<W: Deref<Target = Workers>> Drop for InFlight<W> {
    #[inline]
    fn drop(&mut self) {
        if self.admitted.count_out(&self.workers) {
            abandoned_event(self.admitted.name);
        }
    }
}

/// Reports a call or task counted out as abandoned. Only once its record is counted out and
/// gone: a `tracing` subscriber or metrics recorder that panics here can neither leave the
/// work counted in (and a shutdown waiting for it) nor have it counted out twice.
#[cold]
#[inline(never)]
fn abandoned_event(call: &'static str) {
    crate::telemetry::abandoned();
    tracing::debug!(target: "bursar::workers", call, "call dropped by its caller before it finished");
}

/// The result of work that ended as `outcome`.
#[inline(always)]
fn into_result<T, E>(outcome: Supervised<Result<T, Error<E>>>) -> Result<T, Error<E>> {
    match outcome {
        Supervised::Finished(result) => result,
        Supervised::TimedOut(after) => Err(Error::Timeout { after }),
        Supervised::Panicked(message) => Err(Error::Panicked { message }),
        Supervised::Cancelled => Err(Error::Cancelled),
    }
}

/// Every rejection passes here, and each ends its call: counted once, by reason.
fn record_rejection(workers: &Workers, rejection: Rejection, call: &'static str) -> Rejection {
    workers.counters.add_rejection(rejection);
    crate::telemetry::rejected(rejection);
    tracing::debug!(target: "bursar::workers", call, %rejection, "call rejected");
    rejection
}

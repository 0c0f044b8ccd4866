//! What a governed service's readiness holds between `poll_ready` and `call`.

use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use crate::governor::CallPlan;
use crate::workers::{Admitted, Lane, QueueSlot, QueueWait, Workers};
use crate::{Governor, Rejection};

/// How long a rejection met at readiness answers the next `call`: one that comes later asks
/// the governor again (the queue may have room by then), so a late call is not turned away by
/// an answer about the past.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(1);

/// A worker reserved by readiness. Given back unused — by [`release`](Self::release), which
/// the service calls when it stops being ready and when it is dropped — it releases the queue
/// place and the worker and counts the call as abandoned. It holds no handle to the governor:
/// the service lends its own, and the response future, which the call moves into, owns one.
///
/// The admitted call is kept apart from the state, in place: readiness writes it here and
/// takes the worker in it where it is. A record moved through results and enums is copied by
/// wide reads of the narrow stores that have just written it, which stall.
#[derive(Default)]
pub(crate) struct Reservation {
    /// Where the reservation is. A wait leaves the queue (its state replaced) before its call
    /// is counted out, in `release`, `take_for_call` and a rejection alike.
    state: State,
    /// The admitted call, while it waits in the queue or holds its worker; `None` otherwise.
    call: Option<Admitted>,
}

#[derive(Default)]
enum State {
    /// Nothing reserved yet.
    #[default]
    Empty,
    /// Admitted, waiting in the queue for a worker; the wait is boxed, so that a reservation
    /// that found a worker free is small.
    Waiting { wait: Box<QueueWait<Arc<Lane>>> },
    /// Admitted, its record holding a worker: the next `call` runs on it.
    Ready,
    /// Turned away (already counted) at `at`: the next `call` answers with it, unless it is
    /// older than [`STALE_AFTER`]. The next `poll_ready` asks again.
    Rejected { rejection: Rejection, at: Instant },
    /// The breaker was open: the next `call` takes the plain path, which fails fast. The next
    /// `poll_ready` asks the breaker again, and reserves a worker if it has closed.
    Unreserved,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.state {
            State::Empty => "Empty",
            State::Waiting { .. } => "Waiting",
            State::Ready => "Ready",
            State::Rejected { .. } => "Rejected",
            State::Unreserved => "Unreserved",
        })
    }
}

impl Reservation {
    /// Reserves a worker for `plan`'s call, waiting in the queue if none is free. An answer
    /// kept from an earlier readiness that held no worker — a rejection, or an open breaker
    /// that has closed since — is stale: readiness asks again, so a ready service holds a
    /// worker whenever the governor can give one.
    #[inline(always)]
    pub(crate) fn poll_reserve(&mut self, gov: &Governor, plan: &CallPlan, cx: &mut Context<'_>) -> Poll<()> {
        let ask = match self.state {
            State::Empty | State::Rejected { .. } => true,
            State::Unreserved => !gov.circuit_is_open(plan.key.as_ref()),
            State::Waiting { .. } | State::Ready => false,
        };
        if ask {
            self.reserve(gov, plan);
        }
        match self.state {
            State::Waiting { .. } => self.poll_wait(gov.workers(), cx),
            _ => Poll::Ready(()),
        }
    }

    /// Waits in the queue: a worker makes the reservation ready, a rejection ends it.
    #[cold]
    fn poll_wait(&mut self, workers: &Workers, cx: &mut Context<'_>) -> Poll<()> {
        let State::Waiting { wait } = &mut self.state else { return Poll::Ready(()) };
        match wait.poll_served(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(())) => {
                if let Some(call) = &mut self.call {
                    call.holds_worker();
                }
                self.state = State::Ready;
            }
            Poll::Ready(Err(rejection)) => {
                // The wait goes first, then the call is counted out with the rejection.
                self.state = State::Empty;
                let rejection = Admitted::reject_from(&mut self.call, workers, rejection);
                self.state = rejected(rejection);
            }
        }
        Poll::Ready(())
    }

    /// Admits the call and takes its worker in its record, where the record is kept, or else a
    /// place in the queue.
    #[inline(always)]
    fn reserve(&mut self, gov: &Governor, plan: &CallPlan) {
        // An earlier answer (a rejection, an open breaker) is replaced; nothing is held.
        if gov.circuit_is_open(plan.key.as_ref()) {
            self.state = State::Unreserved;
            return;
        }
        match gov.admit(plan.name) {
            Ok(call) => self.call = Some(call),
            Err(rejection) => {
                self.state = rejected(rejection);
                return;
            }
        }
        let Some(call) = &mut self.call else { return };
        // Each arm writes its own state: a state chosen by a `match` and then written is built
        // apart and copied whole, its largest variant's size.
        match call.take_worker(gov.workers(), || gov.tasks_lane()) {
            Ok(None) => self.state = State::Ready,
            Ok(Some(slot)) => self.queued(slot),
            Err(rejection) => {
                let rejection = Admitted::reject_from(&mut self.call, gov.workers(), rejection);
                self.state = rejected(rejection);
            }
        }
    }

    #[cold]
    fn queued(&mut self, slot: QueueSlot<Arc<Lane>>) {
        self.state = State::Waiting { wait: Box::new(QueueWait::new(slot, Duration::ZERO)) };
    }

    /// Takes what readiness left for the next call: the worker it reserved, or a rejection it
    /// met a moment ago. Anything else — a stale rejection, an open breaker, a wait not over,
    /// no readiness at all — leaves the call to decide on the plain path (a wait not over is
    /// given back to `workers`, counted as abandoned).
    #[inline(always)]
    pub(crate) fn take_for_call(&mut self, workers: &Workers) -> ForCall {
        match mem::take(&mut self.state) {
            State::Ready => match self.call.take() {
                Some(call) => ForCall::Reserved(call),
                None => ForCall::Unreserved,
            },
            State::Rejected { rejection, at } if at.elapsed() < STALE_AFTER => ForCall::Rejected(rejection),
            // A wait not over leaves the queue, then its call is counted out.
            State::Waiting { wait } => {
                drop(wait);
                self.leave(workers);
                ForCall::Unreserved
            }
            _ => ForCall::Unreserved,
        }
    }

    /// Gives back to `workers` a worker or queue place held for a call not made (counted as
    /// abandoned); a rejection or an open-circuit answer stays for the next call.
    pub(crate) fn release(&mut self, workers: &Workers) {
        if matches!(self.state, State::Waiting { .. } | State::Ready) {
            // The wait leaves the queue first, then the call is counted out.
            self.state = State::Empty;
        }
        // Whatever the state: a record left behind by a panic on its way out goes too.
        self.leave(workers);
    }

    /// Counts out the admitted call, if any.
    fn leave(&mut self, workers: &Workers) {
        Admitted::leave_from(&mut self.call, workers);
    }
}

fn rejected(rejection: Rejection) -> State {
    State::Rejected { rejection, at: Instant::now() }
}

/// What readiness left for one call.
pub(crate) enum ForCall {
    /// Admitted, its record holding its first worker.
    Reserved(Admitted),
    /// Turned away at readiness (and counted there), a moment ago.
    Rejected(Rejection),
    /// Nothing: the call path decides, failing fast while the circuit is open.
    Unreserved,
}

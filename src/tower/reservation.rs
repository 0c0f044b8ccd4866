//! What a governed service's readiness holds between `poll_ready` and `call`.

use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use crate::governor::{Admitted, CallPlan};
use crate::workers::{Lane, QueueSlot, QueueWait};
use crate::{Governor, Rejection};

/// How long a rejection met at readiness answers the next `call`: one that comes later asks
/// the governor again (the queue may have room by then), so a late call is not turned away by
/// an answer about the past.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(1);

/// A worker reserved by readiness. Dropped unused — the service dropped, or `call` never
/// made — it releases the worker and queue place and counts the call as abandoned.
#[derive(Default)]
pub(crate) enum Reservation {
    /// Nothing reserved yet.
    #[default]
    Empty,
    /// Admitted, waiting in the queue for a worker; the wait is boxed, so that a reservation
    /// that found a worker free is small to move.
    Waiting { call: Admitted, wait: Box<QueueWait<Arc<Lane>>> },
    /// Admitted, its guard holding a worker: the next `call` runs on it.
    Ready { call: Admitted },
    /// Turned away (already counted) at `at`: the next `call` answers with it, unless it is
    /// older than [`STALE_AFTER`]. The next `poll_ready` asks again.
    Rejected { rejection: Rejection, at: Instant },
    /// The breaker was open: the next `call` takes the plain path, which fails fast. The next
    /// `poll_ready` asks the breaker again, and reserves a worker if it has closed.
    Unreserved,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reservation::Empty => "Empty",
            Reservation::Waiting { .. } => "Waiting",
            Reservation::Ready { .. } => "Ready",
            Reservation::Rejected { .. } => "Rejected",
            Reservation::Unreserved => "Unreserved",
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
        let ask = match self {
            Reservation::Empty | Reservation::Rejected { .. } => true,
            Reservation::Unreserved => !gov.circuit_is_open(plan.key.as_ref()),
            Reservation::Waiting { .. } | Reservation::Ready { .. } => false,
        };
        if ask {
            *self = Self::reserve(gov, plan);
        }
        match self {
            Reservation::Waiting { .. } => self.poll_wait(cx),
            _ => Poll::Ready(()),
        }
    }

    /// Waits in the queue: a worker makes the reservation ready, a rejection ends it.
    #[cold]
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Reservation::Waiting { mut call, mut wait } = mem::take(self) else { return Poll::Ready(()) };
        *self = match wait.poll_served(cx) {
            Poll::Pending => Reservation::Waiting { call, wait },
            Poll::Ready(Ok(())) => {
                call.holds_worker();
                Reservation::Ready { call }
            }
            Poll::Ready(Err(rejection)) => Reservation::rejected(call.reject(rejection)),
        };
        match self {
            Reservation::Waiting { .. } => Poll::Pending,
            _ => Poll::Ready(()),
        }
    }

    #[inline(always)]
    fn reserve(gov: &Governor, plan: &CallPlan) -> Reservation {
        if gov.circuit_is_open(plan.key.as_ref()) {
            return Reservation::Unreserved;
        }
        match gov.reserve(plan.name) {
            Ok((call, None)) => Reservation::Ready { call },
            Ok((call, Some(slot))) => Reservation::queued(call, slot),
            Err(rejection) => Reservation::rejected(rejection),
        }
    }

    #[cold]
    fn queued(call: Admitted, slot: QueueSlot<Arc<Lane>>) -> Reservation {
        Reservation::Waiting { call, wait: Box::new(QueueWait::new(slot, Duration::ZERO)) }
    }

    fn rejected(rejection: Rejection) -> Reservation {
        Reservation::Rejected { rejection, at: Instant::now() }
    }

    /// Takes what readiness left for the next call: the worker it reserved, or a rejection it
    /// met a moment ago. Anything else — a stale rejection, an open breaker, a wait not over,
    /// no readiness at all — leaves the call to decide on the plain path (a wait not over is
    /// given back, counted as abandoned).
    // Inlined, as `poll_reserve` and `reserve` are: each moves the guards through an enum of its
    // own, which the caller then unpacks (see `InFlight::enter`).
    #[inline(always)]
    pub(crate) fn take_for_call(&mut self) -> ForCall {
        match mem::take(self) {
            Reservation::Ready { call } => ForCall::Reserved(call),
            Reservation::Rejected { rejection, at } if at.elapsed() < STALE_AFTER => {
                ForCall::Rejected(rejection)
            }
            _ => ForCall::Unreserved,
        }
    }

    /// Gives back a worker or queue place held for a call not made (counted as abandoned);
    /// a rejection or an open-circuit answer stays for the next call.
    pub(crate) fn release(&mut self) {
        if matches!(self, Reservation::Waiting { .. } | Reservation::Ready { .. }) {
            *self = Reservation::Empty;
        }
    }
}

/// What readiness left for one call.
pub(crate) enum ForCall {
    /// Admitted, its guard holding its first worker.
    Reserved(Admitted),
    /// Turned away at readiness (and counted there), a moment ago.
    Rejected(Rejection),
    /// Nothing: the call path decides, failing fast while the circuit is open.
    Unreserved,
}

//! What a governed service's readiness holds between `poll_ready` and `call`.

use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use crate::governor::{Admitted, CallPlan, ReservedWorker};
use crate::workers::WorkerTicket;
use crate::{Governor, Rejection};

/// How long a rejection met at readiness answers the next `call`: one that comes later asks
/// the governor again (the queue may have room by then), so a late call is not turned away by
/// an answer about the past.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(1);

type WorkerWait = Pin<Box<dyn Future<Output = Result<ReservedWorker, Rejection>> + Send + Sync>>;

/// A worker reserved by readiness. Dropped unused — the service dropped, or `call` never
/// made — it releases the worker and queue place and counts the call as abandoned.
#[derive(Default)]
pub(crate) enum Reservation {
    /// Nothing reserved yet.
    #[default]
    Empty,
    /// Admitted, waiting in the queue for a worker.
    Waiting { call: Admitted, wait: WorkerWait },
    /// Admitted, holding a worker: the next `call` runs on it.
    Ready { call: Admitted, worker: ReservedWorker },
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
    pub(crate) fn poll_reserve(&mut self, gov: &Governor, plan: &CallPlan, cx: &mut Context<'_>) -> Poll<()> {
        let stale = match self {
            Reservation::Rejected { .. } => true,
            Reservation::Unreserved => !gov.circuit_is_open(plan.key.as_ref()),
            _ => false,
        };
        if stale {
            *self = Reservation::Empty;
        }
        loop {
            *self = match mem::take(self) {
                Reservation::Empty => Self::reserve(gov, plan),
                Reservation::Waiting { call, mut wait } => match wait.as_mut().poll(cx) {
                    Poll::Pending => {
                        *self = Reservation::Waiting { call, wait };
                        return Poll::Pending;
                    }
                    Poll::Ready(Ok(worker)) => Reservation::Ready { call, worker },
                    Poll::Ready(Err(rejection)) => {
                        let mut call = call;
                        Reservation::rejected(call.reject(rejection))
                    }
                },
                held => {
                    *self = held;
                    return Poll::Ready(());
                }
            };
        }
    }

    fn reserve(gov: &Governor, plan: &CallPlan) -> Reservation {
        if gov.circuit_is_open(plan.key.as_ref()) {
            return Reservation::Unreserved;
        }
        match gov.reserve(plan.name) {
            Ok((call, WorkerTicket::Ready(worker))) => Reservation::Ready { call, worker },
            Ok((call, waiting)) => Reservation::Waiting { call, wait: Box::pin(waiting.ready()) },
            Err(rejection) => Reservation::rejected(rejection),
        }
    }

    fn rejected(rejection: Rejection) -> Reservation {
        Reservation::Rejected { rejection, at: Instant::now() }
    }

    /// The rejection readiness kept for this call, if it is fresh; a stale one is dropped and
    /// the call decides again on the plain path.
    pub(crate) fn fresh_rejection(&mut self) -> Option<Rejection> {
        match self {
            Reservation::Rejected { rejection, at } if at.elapsed() < STALE_AFTER => Some(*rejection),
            Reservation::Rejected { .. } => {
                *self = Reservation::Unreserved;
                None
            }
            _ => None,
        }
    }

    /// Gives back a worker or queue place held for a call not made (counted as abandoned);
    /// a rejection or an open-circuit answer stays for the next call.
    pub(crate) fn release(&mut self) {
        if matches!(self, Reservation::Waiting { .. } | Reservation::Ready { .. }) {
            *self = Reservation::Empty;
        }
    }

    /// Takes what readiness reserved, leaving nothing for the next call.
    pub(crate) fn take(&mut self) -> Reservation {
        mem::take(self)
    }
}

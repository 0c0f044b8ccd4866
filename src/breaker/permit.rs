//! The guards of a breaker: a [`Permit`] borrowing it and an [`OwnedPermit`] holding an `Arc`
//! of it, for futures that must be `'static`. Either reports how its call ended — or, dropped
//! without a report, reports nothing and gives a half-open probe slot back.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::circuit_breaker::CircuitBreaker;
use super::engine::Ticket;
use super::transition::BreakerState;

/// How an admitted call ended, for [`Permit::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The call did what it should (a success slower than the
    /// [`slow_call`](super::BreakerConfig::slow_call) threshold still counts as a failure).
    Success,
    /// The call failed in a way that says the dependency is unwell.
    Failure,
}

/// The breaker turned a call away; returned by [`CircuitBreaker::try_acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the circuit breaker is {state}; retry after {retry_after:?}")]
#[non_exhaustive]
pub struct Open {
    /// A hint for when to come back. [`Open`](BreakerState::Open): exactly the rest of the
    /// open wait. [`HalfOpen`](BreakerState::HalfOpen) with every probe slot taken: zero, as
    /// the probes decide when they end and no wait is known. [`ForcedOpen`](BreakerState::ForcedOpen):
    /// the configured `open_wait`, though only a reset closes it.
    pub retry_after: Duration,
    /// The state that turned the call away.
    pub state: BreakerState,
}

/// Permission for one call through a breaker. Report how the call ended with
/// [`record`](Self::record); dropping the permit instead (or calling
/// [`ignore`](Self::ignore)) reports nothing — the right thing for a cancelled call — and gives
/// a half-open probe slot back to the next caller.
#[derive(Debug)]
#[must_use = "dropping the permit reports nothing; call `record` with the call's outcome"]
pub struct Permit<'a> {
    held: Held<&'a CircuitBreaker>,
}

/// A [`Permit`] that holds an `Arc` of its breaker, from
/// [`try_acquire_owned`](CircuitBreaker::try_acquire_owned).
#[derive(Debug)]
#[must_use = "dropping the permit reports nothing; call `record` with the call's outcome"]
pub struct OwnedPermit {
    held: Held<Arc<CircuitBreaker>>,
}

macro_rules! permit_methods {
    () => {
        /// Reports how the call ended: an `outcome` that took `elapsed` and ended at `now`.
        /// A success slower than the slow-call threshold counts as a failure.
        #[inline]
        pub fn record(mut self, outcome: Outcome, elapsed: Duration, now: Instant) {
            if let Some(ticket) = self.held.ticket.take() {
                self.held.breaker.engine.finish(ticket, outcome, elapsed, || now);
            }
        }

        /// [`record`](Self::record) reading the clock only if the breaker needs it, in place:
        /// for a permit its owner keeps, so it is not moved. A second report is ignored.
        #[allow(dead_code, reason = "each permit type uses its own half of the macro")]
        #[inline(always)]
        pub(crate) fn record_lazy(&mut self, outcome: Outcome, elapsed: Duration) {
            if let Some(ticket) = self.held.ticket.take() {
                self.held.breaker.engine.finish(ticket, outcome, elapsed, Instant::now);
            }
        }

        /// Whether the breaker moved on since this permit was given — its closed period ended,
        /// or it is no longer disabled — so that the call should ask it again.
        #[allow(dead_code, reason = "each permit type uses its own half of the macro")]
        pub(crate) fn is_stale(&self) -> bool {
            self.held.ticket.as_ref().is_some_and(|ticket| !self.held.breaker.engine.is_current(ticket))
        }

        /// Whether the outcome was reported already.
        #[allow(dead_code, reason = "each permit type uses its own half of the macro")]
        #[inline(always)]
        pub(crate) fn is_reported(&self) -> bool {
            self.held.ticket.is_none()
        }

        /// Reports nothing: the call was cancelled or never really tried. The same as dropping
        /// the permit.
        pub fn ignore(self) {}

        /// Whether this call is a half-open probe, whose outcome closes or reopens the breaker.
        pub fn is_probe(&self) -> bool {
            matches!(self.held.ticket, Some(Ticket::Probe(_)))
        }
    };
}

impl Permit<'_> {
    permit_methods!();
}

impl OwnedPermit {
    permit_methods!();
}

impl<'a> Permit<'a> {
    #[inline(always)]
    pub(crate) fn new(breaker: &'a CircuitBreaker, ticket: Ticket) -> Self {
        Permit { held: Held { breaker, ticket: Some(ticket) } }
    }
}

impl OwnedPermit {
    #[inline]
    pub(crate) fn new(breaker: Arc<CircuitBreaker>, ticket: Ticket) -> Self {
        OwnedPermit { held: Held { breaker, ticket: Some(ticket) } }
    }
}

/// A breaker and the ticket a call was admitted with; `None` once reported.
#[derive(Debug)]
pub(crate) struct Held<B: Deref<Target = CircuitBreaker>> {
    breaker: B,
    ticket: Option<Ticket>,
}

impl<B: Deref<Target = CircuitBreaker>> Drop for Held<B> {
    #[inline]
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.breaker.engine.abandon(ticket);
        }
    }
}

/// For the governor's call path, which keeps its breaker (borrowed, or an `Arc` of a keyed one)
/// and one permit at a time in one value, and asks again for each attempt.
impl<B: Deref<Target = CircuitBreaker>> Held<B> {
    /// The breaker `breaker`, no permit yet.
    pub(crate) fn unasked(breaker: B) -> Self {
        Held { breaker, ticket: None }
    }

    pub(crate) fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Asks for a permit, reading the clock only if the breaker is not closed. A permit still
    /// held is given back first.
    #[inline(always)]
    pub(crate) fn ask(&mut self) -> Result<(), Open> {
        if let Some(ticket) = self.ticket.take() {
            self.breaker.engine.abandon(ticket);
        }
        self.ticket = Some(self.breaker.engine.admit(Instant::now)?);
        Ok(())
    }

    /// Reports the permit's outcome, once.
    #[inline(always)]
    pub(crate) fn record(&mut self, outcome: Outcome, elapsed: Duration) {
        if let Some(ticket) = self.ticket.take() {
            self.breaker.engine.finish(ticket, outcome, elapsed, Instant::now);
        }
    }

    /// Gives a half-open probe's permit back; an ordinary permit is kept.
    pub(crate) fn give_back_probe(&mut self) {
        if matches!(self.ticket, Some(Ticket::Probe(_))) {
            if let Some(ticket) = self.ticket.take() {
                self.breaker.engine.abandon(ticket);
            }
        }
    }

    /// Whether there is no permit, or it went stale: the breaker moved on since it was given.
    pub(crate) fn must_ask_again(&self) -> bool {
        self.ticket.as_ref().is_none_or(|ticket| !self.breaker.engine.is_current(ticket))
    }
}

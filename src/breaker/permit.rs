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
pub struct NotPermitted {
    /// A hint for when to come back. [`Open`](BreakerState::Open): exactly the rest of the
    /// open wait. [`HalfOpen`](BreakerState::HalfOpen) with every probe slot taken: zero, as
    /// the probes decide when they end and no wait is known. [`ForcedOpen`](BreakerState::ForcedOpen):
    /// the configured `open_wait`, though only a reset closes it.
    pub retry_after: Duration,
    /// The state that turned the call away.
    pub state: BreakerState,
}

/// Permission for one call through a breaker. Report how the call ended with
/// [`success`](Self::success) or [`failure`](Self::failure); dropping the permit instead (or
/// calling [`ignore`](Self::ignore)) reports nothing — the right thing for a cancelled call —
/// and gives a half-open probe slot back to the next caller.
///
/// With a [`slow_call`](super::BreakerConfig::slow_call) rule the permit times its call itself,
/// from its admission to its report; without one it reads no clock for that.
#[derive(Debug)]
#[must_use = "dropping the permit reports nothing; call `success` or `failure` when the call ends"]
pub struct Permit<'a> {
    held: Held<&'a CircuitBreaker>,
}

/// A [`Permit`] that holds an `Arc` of its breaker, from
/// [`try_acquire_owned`](CircuitBreaker::try_acquire_owned).
#[derive(Debug)]
#[must_use = "dropping the permit reports nothing; call `success` or `failure` when the call ends"]
pub struct OwnedPermit {
    held: Held<Arc<CircuitBreaker>>,
}

macro_rules! permit_methods {
    () => {
        /// Reports that the call succeeded; a success slower than the slow-call threshold
        /// counts as a failure.
        #[inline(always)]
        pub fn success(self) {
            self.record(Outcome::Success);
        }

        /// Reports that the call failed in a way that says the dependency is unwell.
        #[inline(always)]
        pub fn failure(self) {
            self.record(Outcome::Failure);
        }

        /// Reports how the call ended: [`success`](Self::success) or
        /// [`failure`](Self::failure) chosen by a value.
        #[inline(always)]
        pub fn record(mut self, outcome: Outcome) {
            self.held.report(outcome, None);
        }

        /// [`record`](Self::record) as if the call ended at `now`, for tests that pass explicit
        /// instants: a slow-call rule times the call from the instant it was admitted at.
        pub fn record_at(mut self, outcome: Outcome, now: Instant) {
            self.held.report(outcome, Some(now));
        }

        /// Reports nothing: the call was cancelled or never really tried. The same as dropping
        /// the permit.
        pub fn ignore(self) {}

        /// Whether this call is a half-open probe, whose outcome closes or reopens the breaker.
        pub fn is_probe(&self) -> bool {
            self.held.permit.is_probe()
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
    pub(crate) fn new(breaker: &'a CircuitBreaker, ticket: Ticket, started: Option<Instant>) -> Self {
        Permit { held: Held { breaker, permit: Ticketed { ticket: Some(ticket), started } } }
    }
}

impl OwnedPermit {
    #[inline]
    pub(crate) fn new(breaker: Arc<CircuitBreaker>, ticket: Ticket, started: Option<Instant>) -> Self {
        OwnedPermit { held: Held { breaker, permit: Ticketed { ticket: Some(ticket), started } } }
    }
}

/// A breaker and its permit's state: what a [`Permit`] and an [`OwnedPermit`] are.
#[derive(Debug)]
struct Held<B: Deref<Target = CircuitBreaker>> {
    breaker: B,
    permit: Ticketed,
}

impl<B: Deref<Target = CircuitBreaker>> Held<B> {
    #[inline(always)]
    fn report(&mut self, outcome: Outcome, now: Option<Instant>) {
        self.permit.record(&self.breaker, outcome, now);
    }
}

impl<B: Deref<Target = CircuitBreaker>> Drop for Held<B> {
    #[inline]
    fn drop(&mut self) {
        self.permit.abandon(&self.breaker);
    }
}

/// A permit's state apart from its breaker: the ticket a call was admitted with (`None` once
/// reported) and, under a slow-call rule, when it was admitted. Its holder gives each method the
/// breaker: a [`Permit`] keeps one beside it; a governed call keeps its permit for one attempt
/// at a time and asks again for each (`governor/breakers.rs`'s `CallBreaker`).
#[derive(Debug, Default)]
pub(crate) struct Ticketed {
    ticket: Option<Ticket>,
    started: Option<Instant>,
}

impl Ticketed {
    /// Reports `outcome`, at `now` or else reading the clock only if the breaker needs it:
    /// once, for the call's duration under a slow-call rule (`started` is set only then), or
    /// for the instant of a failure or of a time window's record.
    #[inline(always)]
    pub(crate) fn record(&mut self, breaker: &CircuitBreaker, outcome: Outcome, now: Option<Instant>) {
        let Some(ticket) = self.ticket.take() else { return };
        let engine = &breaker.engine;
        let failure = outcome == Outcome::Failure;
        match (self.started, now) {
            (None, None) => engine.finish(ticket, failure, Instant::now),
            (None, Some(now)) => engine.finish(ticket, failure, || now),
            (Some(started), now) => {
                let now = now.unwrap_or_else(Instant::now);
                let slow = engine.is_slow(now.saturating_duration_since(started));
                engine.finish(ticket, failure || slow, || now);
            }
        }
    }

    /// Gives the permit back unreported, if one is held: a half-open probe's slot goes to the
    /// next caller (nothing else needs giving back). What the drop of its holder does.
    #[inline]
    pub(crate) fn abandon(&mut self, breaker: &CircuitBreaker) {
        if let Some(ticket) = self.ticket.take() {
            breaker.engine.abandon(ticket);
        }
    }

    /// Whether the permit is a half-open probe's.
    #[inline(always)]
    pub(crate) fn is_probe(&self) -> bool {
        matches!(self.ticket, Some(Ticket::Probe(_)))
    }

    /// Asks `breaker` for a permit, reading the clock only if it is not closed. A permit still
    /// held is given back first.
    #[inline(always)]
    pub(crate) fn ask(&mut self, breaker: &CircuitBreaker) -> Result<(), NotPermitted> {
        self.abandon(breaker);
        self.ticket = Some(breaker.engine.admit(Instant::now)?);
        Ok(())
    }

    /// The attempt the permit is for starts now: under a slow-call rule its duration counts
    /// from here, not from the ask (a call may wait for a worker in between).
    /// `always` times it also without one (for an adaptive worker limit).
    #[inline(always)]
    pub(crate) fn start_timing(&mut self, breaker: &CircuitBreaker, always: bool) {
        self.started = (always || breaker.times_calls()).then(Instant::now);
    }

    /// When the attempt started, if it is timed.
    pub(crate) fn started(&self) -> Option<Instant> {
        self.started
    }

    /// Whether there is no permit, or it went stale: the breaker moved on since it was given.
    pub(crate) fn must_ask_again(&self, breaker: &CircuitBreaker) -> bool {
        self.ticket.as_ref().is_none_or(|ticket| !breaker.engine.is_current(ticket))
    }
}

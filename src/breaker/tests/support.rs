//! Shared helpers: building breakers, instants a given number of seconds after a start, and
//! recording calls in one line.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::breaker::{BreakerConfig, BreakerState, CircuitBreaker, Outcome, Transition, TransitionReason};

pub(super) const SECOND: Duration = Duration::from_secs(1);

pub(super) fn breaker(configure: impl FnOnce(&mut BreakerConfig)) -> CircuitBreaker {
    let mut config = BreakerConfig::default();
    configure(&mut config);
    CircuitBreaker::new(&config).expect("a valid test configuration")
}

/// `start` plus `seconds`.
pub(super) fn at(start: Instant, seconds: u64) -> Instant {
    start + Duration::from_secs(seconds)
}

/// Admits one call at `now` and records `outcome` at `now` too.
pub(super) fn call(breaker: &CircuitBreaker, now: Instant, outcome: Outcome) {
    let permit = breaker.try_acquire_at(now).expect("the breaker admits the call");
    permit.record_at(outcome, now);
}

pub(super) fn fail_times(breaker: &CircuitBreaker, now: Instant, times: usize) {
    (0..times).for_each(|_| call(breaker, now, Outcome::Failure));
}

/// `retry_after` of a rejection at `now`; panics if the call is admitted.
pub(super) fn rejected_for(breaker: &CircuitBreaker, now: Instant) -> Duration {
    match breaker.try_acquire_at(now) {
        Ok(_) => panic!("expected a rejection, the call was admitted"),
        Err(open) => open.retry_after,
    }
}

pub(super) type Seen = Arc<Mutex<Vec<(BreakerState, BreakerState, TransitionReason)>>>;

/// A breaker whose callback keeps every transition it is given.
pub(super) fn watched(configure: impl FnOnce(&mut BreakerConfig)) -> (CircuitBreaker, Seen) {
    let seen = Seen::default();
    let keep = Arc::clone(&seen);
    let breaker = breaker(configure).with_on_transition(move |transition: &Transition| {
        keep.lock().push((transition.from, transition.to, transition.reason));
    });
    (breaker, seen)
}

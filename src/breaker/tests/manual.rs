//! Forced open, disabled and reset; and every transition reported once, in order, to the
//! callback and as a `tracing` event.

use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;
use tokio::time::Instant;

use super::support::{SECOND, at, breaker, call, fail_times, rejected_for, watched};
use crate::breaker::{BreakerState, CircuitBreaker, Outcome, Transition, TransitionReason};

#[test]
fn forced_open_rejects_every_call_until_reset() {
    let breaker = breaker(|_| {});
    let start = Instant::now();
    breaker.force_open_at(start);
    for later in [0, 120, 86_400] {
        let open = breaker.try_acquire_at(at(start, later)).unwrap_err();
        assert_eq!((open.state, open.retry_after), (BreakerState::ForcedOpen, 120 * SECOND));
    }
    assert_eq!(breaker.status_at(start).retry_after, None);
    breaker.reset_at(start);
    call(&breaker, start, Outcome::Success);
}

#[test]
fn disabled_admits_every_call_and_counts_none() {
    let breaker = breaker(|_| {});
    let now = Instant::now();
    fail_times(&breaker, now, 3);
    breaker.disable_at(now);
    fail_times(&breaker, now, 50);
    assert_eq!(breaker.state(), BreakerState::Disabled);
    assert_eq!(breaker.status_at(now).consecutive_failures, 3, "nothing counted while disabled");
    breaker.reset_at(now);
    assert_eq!(breaker.status_at(now).consecutive_failures, 0);
}

#[test]
fn reset_closes_with_clean_counts_and_forgets_calls_admitted_before() {
    use crate::breaker::{FailureRate, RateWindow};
    let breaker = breaker(|config| {
        config.open_wait_multiplier = 2.0;
        config.failure_rate =
            Some(FailureRate { window: RateWindow::Count(10), min_calls: 10, threshold: 1.0 });
    });
    let start = Instant::now();
    fail_times(&breaker, start, 5);
    call(&breaker, at(start, 120), Outcome::Failure); // the wait grows to 240 s
    breaker.reset_at(at(start, 130));
    let snapshot = breaker.status_at(at(start, 130));
    assert_eq!(snapshot.state, BreakerState::Closed);
    assert_eq!((snapshot.consecutive_failures, snapshot.calls_in_window, snapshot.retry_after), (0, 0, None));

    let before_reset = breaker.try_acquire_at(at(start, 130)).expect("closed");
    fail_times(&breaker, at(start, 130), 4);
    breaker.reset_at(at(start, 131)); // closed already: no transition, but clean counts
    before_reset.record_at(Outcome::Failure, at(start, 131));
    fail_times(&breaker, at(start, 131), 4);
    assert_eq!(breaker.state(), BreakerState::Closed, "4 failures since the reset");
    fail_times(&breaker, at(start, 131), 1);
    assert_eq!(rejected_for(&breaker, at(start, 131)), 120 * SECOND, "the grown wait was forgotten");
}

#[test]
fn every_transition_reaches_the_callback_once_in_order() {
    let (breaker, seen) = watched(|_| {});
    let start = Instant::now();
    fail_times(&breaker, start, 5);
    call(&breaker, at(start, 120), Outcome::Failure);
    call(&breaker, at(start, 240), Outcome::Success);
    breaker.force_open_at(at(start, 241));
    breaker.force_open_at(at(start, 241));
    breaker.disable_at(at(start, 242));
    breaker.reset_at(at(start, 243));
    breaker.reset_at(at(start, 243));
    use BreakerState::{Closed, Disabled, ForcedOpen, HalfOpen, Open};
    let expected = [
        (Closed, Open, TransitionReason::ConsecutiveFailures { failures: 5 }),
        (Open, HalfOpen, TransitionReason::WaitElapsed),
        (HalfOpen, Open, TransitionReason::ProbeFailed),
        (Open, HalfOpen, TransitionReason::WaitElapsed),
        (HalfOpen, Closed, TransitionReason::ProbesSucceeded),
        (Closed, ForcedOpen, TransitionReason::ForcedOpen),
        (ForcedOpen, Disabled, TransitionReason::Disabled),
        (Disabled, Closed, TransitionReason::Reset),
    ];
    assert_eq!(*seen.lock(), expected);
}

#[test]
fn a_transition_says_when_and_for_how_long() {
    let kept: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let keep = Arc::clone(&kept);
    let breaker = breaker(|config| config.failure_threshold = 1)
        .with_on_transition(move |transition: &Transition| keep.lock().push(transition.clone()));
    let start = Instant::now();
    fail_times(&breaker, at(start, 7), 1);
    let transitions = kept.lock();
    assert_eq!((transitions[0].at, transitions[0].open_wait), (at(start, 7), Some(120 * SECOND)));
}

#[test]
fn a_callback_may_call_its_own_breaker() {
    let seen: Arc<Mutex<Vec<BreakerState>>> = Arc::default();
    let own: Arc<OnceLock<Weak<CircuitBreaker>>> = Arc::default();
    let (keep, find) = (Arc::clone(&seen), Arc::clone(&own));
    let breaker = Arc::new(breaker(|_| {}).with_on_transition(move |transition: &Transition| {
        keep.lock().push(transition.to);
        let breaker = find.get().and_then(Weak::upgrade).expect("the breaker is alive");
        if transition.to == BreakerState::Open {
            breaker.force_open_at(transition.at); // a transition from inside a transition's callback
        }
    }));
    own.set(Arc::downgrade(&breaker)).expect("set once");
    fail_times(&breaker, Instant::now(), 5);
    assert_eq!(*seen.lock(), [BreakerState::Open, BreakerState::ForcedOpen]);
    assert_eq!(breaker.state(), BreakerState::ForcedOpen);
}

#[test]
fn every_transition_is_a_tracing_event() {
    let capture = crate::test_events::Capture::start();
    let breaker = breaker(|_| {}).with_name("grid");
    let start = Instant::now();
    fail_times(&breaker, start, 5);
    call(&breaker, at(start, 120), Outcome::Success);
    let events: Vec<String> =
        capture.starting("").into_iter().filter(|line| line.contains(" bursar::breaker: ")).collect();
    assert_eq!(events.len(), 3, "{events:#?}");
    assert!(
        events[0]
            .starts_with("WARN bursar::breaker: circuit breaker opened breaker=\"grid\" from=closed to=open"),
        "{}",
        events[0]
    );
    assert!(events[2].contains("from=half_open to=closed reason=ProbesSucceeded"), "{}", events[2]);
}

#[cfg(feature = "serde")]
#[test]
fn the_snapshot_serialises_with_snake_case_states_and_text_durations() {
    let breaker = breaker(|_| {});
    let start = Instant::now();
    fail_times(&breaker, start, 5);
    let json = serde_json::to_value(breaker.status_at(at(start, 20))).expect("serialisable");
    let expected = serde_json::json!({
        "state": "open", "failure_rate": 0.0, "calls_in_window": 0,
        "consecutive_failures": 5, "retry_after": "100s"
    });
    assert_eq!(json, expected);
}

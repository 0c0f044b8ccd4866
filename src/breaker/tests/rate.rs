//! The failure-rate rule over count- and time-based windows, its minimum number of calls, and
//! slow successes counting as failures.

use std::time::Duration;

use tokio::time::Instant;

use super::support::{SECOND, at, breaker, call, fail_times};
use crate::breaker::{
    BreakerConfig, BreakerState, CircuitBreaker, FailureRate, Outcome, RateWindow, SlowCall,
};

/// Only the rate rule: failures in a row would need 1000.
fn rate_breaker(window: RateWindow, min_calls: u32) -> CircuitBreaker {
    breaker(|config: &mut BreakerConfig| {
        config.failure_threshold = 1000;
        config.failure_rate = Some(FailureRate { threshold: 0.5, window, min_calls });
    })
}

#[test]
fn below_min_calls_even_all_failures_do_not_trip() {
    let breaker = rate_breaker(RateWindow::Count(20), 10);
    let now = Instant::now();
    fail_times(&breaker, now, 9);
    assert_eq!(breaker.state(), BreakerState::Closed);
    let snapshot = breaker.status_at(now);
    assert_eq!((snapshot.calls_in_window, snapshot.failure_rate), (9, 1.0));
    fail_times(&breaker, now, 1);
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[test]
fn an_open_breaker_shows_no_rate_of_the_closed_period_that_ended() {
    let breaker = rate_breaker(RateWindow::Count(20), 10);
    let now = Instant::now();
    (0..5).for_each(|_| call(&breaker, now, Outcome::Success));
    fail_times(&breaker, now, 5);
    assert_eq!(breaker.state(), BreakerState::Open);
    let snapshot = breaker.status_at(now);
    assert_eq!((snapshot.calls_in_window, snapshot.failure_rate), (0, 0.0), "while open");
    let later = now + breaker_open_wait();
    let probe = breaker.try_acquire_at(later).unwrap();
    let snapshot = breaker.status_at(later);
    assert_eq!(
        (snapshot.state, snapshot.calls_in_window, snapshot.failure_rate),
        (BreakerState::HalfOpen, 0, 0.0)
    );
    probe.record_at(Outcome::Success, later);
    assert_eq!(breaker.state(), BreakerState::Closed);
    call(&breaker, later, Outcome::Failure);
    let snapshot = breaker.status_at(later);
    assert_eq!((snapshot.calls_in_window, snapshot.failure_rate), (1, 1.0), "the new closed period's own");
}

fn breaker_open_wait() -> Duration {
    BreakerConfig::default().open_wait
}

#[test]
fn exactly_the_threshold_trips_and_just_below_does_not() {
    let breaker = rate_breaker(RateWindow::Count(20), 10);
    let now = Instant::now();
    for _ in 0..5 {
        call(&breaker, now, Outcome::Success);
        call(&breaker, now, Outcome::Failure);
    }
    assert_eq!(breaker.state(), BreakerState::Open, "5 of 10 is 0.5");

    let breaker = rate_breaker(RateWindow::Count(20), 10);
    (0..6).for_each(|_| call(&breaker, now, Outcome::Success));
    fail_times(&breaker, now, 4);
    assert_eq!(breaker.state(), BreakerState::Closed, "4 of 10 is below 0.5");
    assert_eq!(breaker.status_at(now).failure_rate, 0.4);
}

#[test]
fn the_rate_is_judged_on_failures_only() {
    let breaker = rate_breaker(RateWindow::Count(20), 10);
    let now = Instant::now();
    fail_times(&breaker, now, 9);
    call(&breaker, now, Outcome::Success);
    assert_eq!(breaker.state(), BreakerState::Closed, "a success never opens the breaker");
    fail_times(&breaker, now, 1);
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[test]
fn the_count_window_forgets_calls_older_than_the_last_n() {
    let breaker = rate_breaker(RateWindow::Count(10), 10);
    let now = Instant::now();
    fail_times(&breaker, now, 4);
    (0..10).for_each(|_| call(&breaker, now, Outcome::Success));
    let snapshot = breaker.status_at(now);
    assert_eq!((snapshot.calls_in_window, snapshot.failure_rate), (10, 0.0));
    fail_times(&breaker, now, 4);
    assert_eq!(breaker.state(), BreakerState::Closed, "4 of the last 10");
    fail_times(&breaker, now, 1);
    assert_eq!(breaker.state(), BreakerState::Open, "5 of the last 10");
}

#[test]
fn the_time_window_forgets_calls_once_the_window_has_passed() {
    let breaker = rate_breaker(RateWindow::Time(Duration::from_secs(60)), 4);
    let start = Instant::now();
    fail_times(&breaker, start, 3);
    assert_eq!(breaker.status_at(at(start, 59)).calls_in_window, 3);
    let later = at(start, 60);
    assert_eq!(breaker.status_at(later).calls_in_window, 0);
    fail_times(&breaker, later, 3);
    assert_eq!(breaker.state(), BreakerState::Closed, "three calls are below min_calls");
    fail_times(&breaker, at(start, 61), 1);
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[test]
fn a_closed_breaker_starts_with_an_empty_window() {
    let breaker = rate_breaker(RateWindow::Count(20), 10);
    let start = Instant::now();
    fail_times(&breaker, start, 10);
    call(&breaker, at(start, 120), Outcome::Success);
    let snapshot = breaker.status_at(at(start, 120));
    assert_eq!((snapshot.state, snapshot.calls_in_window), (BreakerState::Closed, 0));
}

#[test]
fn a_slow_success_counts_as_a_failure() {
    let breaker = breaker(|config| config.slow_call = Some(SlowCall { threshold: 30 * SECOND }));
    let now = Instant::now();
    for _ in 0..4 {
        breaker.try_acquire_at(now).expect("closed").record_at(Outcome::Success, now + 31 * SECOND);
    }
    breaker.try_acquire_at(now).expect("closed").record_at(Outcome::Success, now + 30 * SECOND);
    assert_eq!(breaker.status_at(now).consecutive_failures, 0, "exactly the threshold is not slow");
    for _ in 0..5 {
        breaker.try_acquire_at(now).expect("closed").record_at(Outcome::Success, now + 31 * SECOND);
    }
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[test]
fn a_slow_probe_reopens_the_breaker() {
    let breaker = breaker(|config| config.slow_call = Some(SlowCall { threshold: 30 * SECOND }));
    let start = Instant::now();
    fail_times(&breaker, start, 5);
    let due = at(start, 120);
    breaker.try_acquire_at(due).expect("the probe").record_at(Outcome::Success, due + 45 * SECOND);
    assert_eq!(breaker.state(), BreakerState::Open);
}

//! Opening after failures in a row, the open wait counting down, exactly one probe, and the
//! probe's outcome closing or reopening the breaker with fixed or growing waits.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::support::{SECOND, at, breaker, call, fail_times, rejected_for};
use crate::breaker::{BreakerState, Outcome};

#[test]
fn five_failures_in_a_row_open_it_and_the_wait_counts_down_exactly() {
    let breaker = breaker(|_| {});
    let start = Instant::now();
    fail_times(&breaker, start, 4);
    assert_eq!(breaker.state(), BreakerState::Closed);
    fail_times(&breaker, start, 1);
    assert_eq!(breaker.state(), BreakerState::Open);
    for elapsed in [0, 1, 60, 119] {
        assert_eq!(rejected_for(&breaker, at(start, elapsed)), Duration::from_secs(120 - elapsed));
    }
    let almost = start + Duration::from_nanos(119_999_999_999);
    assert_eq!(rejected_for(&breaker, almost), Duration::from_nanos(1));
    let snapshot = breaker.status_at(at(start, 20));
    assert_eq!((snapshot.consecutive_failures, snapshot.retry_after), (5, Some(100 * SECOND)));
}

#[test]
fn a_success_ends_the_run_of_failures() {
    let breaker = breaker(|_| {});
    let now = Instant::now();
    fail_times(&breaker, now, 4);
    call(&breaker, now, Outcome::Success);
    assert_eq!(breaker.status_at(now).consecutive_failures, 0);
    fail_times(&breaker, now, 4);
    assert_eq!(breaker.state(), BreakerState::Closed);
    fail_times(&breaker, now, 1);
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[test]
fn after_the_wait_one_probe_goes_through_and_its_success_closes() {
    let breaker = breaker(|_| {});
    let start = Instant::now();
    fail_times(&breaker, start, 5);
    let due = at(start, 120);
    let probe = breaker.try_acquire_at(due).expect("the probe");
    assert!(probe.is_probe());
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    let second = breaker.try_acquire_at(due).unwrap_err();
    assert_eq!((second.state, second.retry_after), (BreakerState::HalfOpen, Duration::ZERO));
    probe.record_at(Outcome::Success, due);
    assert_eq!(breaker.state(), BreakerState::Closed);
    let snapshot = breaker.status_at(due);
    assert_eq!((snapshot.consecutive_failures, snapshot.retry_after), (0, None));
    assert!(!breaker.try_acquire_at(due).expect("closed").is_probe());
}

#[test]
fn a_failed_probe_reopens_for_another_wait() {
    let breaker = breaker(|_| {});
    let start = Instant::now();
    fail_times(&breaker, start, 5);
    call(&breaker, at(start, 120), Outcome::Failure);
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(rejected_for(&breaker, at(start, 120)), 120 * SECOND);
    assert_eq!(breaker.status_at(at(start, 120)).consecutive_failures, 6);
    call(&breaker, at(start, 240), Outcome::Success);
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn waits_grow_by_the_multiplier_up_to_the_cap() {
    let breaker = breaker(|config| config.open_wait_multiplier = 2.0);
    let mut now = Instant::now();
    fail_times(&breaker, now, 5);
    let mut waits = Vec::new();
    for _ in 0..6 {
        let wait = rejected_for(&breaker, now);
        waits.push(wait.as_secs());
        now += wait;
        call(&breaker, now, Outcome::Failure); // the probe fails
    }
    assert_eq!(waits, [120, 240, 480, 960, 1800, 1800]);
    now += rejected_for(&breaker, now);
    call(&breaker, now, Outcome::Success);
    fail_times(&breaker, now, 5);
    assert_eq!(rejected_for(&breaker, now), 120 * SECOND, "closing restores the first wait");
}

#[test]
fn several_successful_probes_may_be_needed_one_at_a_time() {
    let breaker = breaker(|config| config.probes_to_close = 3);
    let start = Instant::now();
    fail_times(&breaker, start, 5);
    let due = at(start, 120);
    for _ in 0..2 {
        let probe = breaker.try_acquire_at(due).expect("a probe");
        assert!(breaker.try_acquire_at(due).is_err(), "one probe at a time");
        probe.record_at(Outcome::Success, due);
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
    }
    call(&breaker, due, Outcome::Success);
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn outcomes_of_an_ended_period_change_nothing() {
    let breaker = breaker(|_| {});
    let start = Instant::now();
    let late_failure = breaker.try_acquire_at(start).expect("closed");
    let late_success = breaker.try_acquire_at(start).expect("closed");
    fail_times(&breaker, start, 5);
    late_success.record_at(Outcome::Success, start);
    assert_eq!(breaker.status_at(start).consecutive_failures, 5, "the success came after the trip");
    let due = at(start, 120);
    call(&breaker, due, Outcome::Success);
    assert_eq!(breaker.state(), BreakerState::Closed);
    fail_times(&breaker, due, 4);
    late_failure.record_at(Outcome::Failure, due);
    assert_eq!(breaker.state(), BreakerState::Closed, "a failure of the old period is not the fifth");
    assert_eq!(breaker.status_at(due).consecutive_failures, 4);
}

#[test]
fn a_cancelled_call_counts_as_nothing() {
    let breaker = breaker(|_| {});
    let now = Instant::now();
    fail_times(&breaker, now, 4);
    breaker.try_acquire_at(now).expect("closed").ignore();
    drop(breaker.try_acquire_at(now).expect("closed"));
    assert_eq!(breaker.status_at(now).consecutive_failures, 4);
}

#[tokio::test(start_paused = true)]
async fn an_owned_permit_moves_into_a_spawned_task() {
    let breaker = Arc::new(breaker(|config| config.failure_threshold = 1));
    let permit = breaker.try_acquire_owned().expect("closed");
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        permit.failure();
    })
    .await
    .expect("the task ends");
    assert_eq!(breaker.try_acquire().unwrap_err().retry_after, 120 * SECOND);
    tokio::time::sleep(120 * SECOND).await;
    let probe = breaker.try_acquire_owned().expect("the probe");
    assert!(probe.is_probe());
    tokio::spawn(async move { drop(probe) }).await.expect("the task ends");
    assert!(breaker.try_acquire().expect("the slot came back").is_probe());
}

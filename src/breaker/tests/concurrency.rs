//! Callers racing on many threads: exactly N probes get through, a dropped probe frees
//! exactly one slot, and a burst of failures opens the breaker exactly once.

use std::sync::Barrier;

use tokio::time::Instant;

use super::support::{at, breaker, fail_times, watched};
use crate::breaker::{BreakerState, CircuitBreaker, Outcome, Permit};

const CALLERS: usize = 100;

/// `CALLERS` threads call `try_acquire(now)` at once; returns the permits they got.
fn race(breaker: &CircuitBreaker, now: Instant) -> Vec<Permit<'_>> {
    let barrier = Barrier::new(CALLERS);
    std::thread::scope(|scope| {
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    breaker.try_acquire_at(now).ok()
                })
            })
            .collect();
        callers.into_iter().filter_map(|caller| caller.join().expect("no caller panics")).collect()
    })
}

#[test]
fn a_hundred_racing_callers_get_exactly_three_probes() {
    for _ in 0..20 {
        let breaker = breaker(|config| config.half_open_probes = 3);
        let start = Instant::now();
        fail_times(&breaker, start, 5);
        let due = at(start, 120);
        let mut probes = race(&breaker, due);
        assert_eq!(probes.len(), 3);
        assert!(probes.iter().all(Permit::is_probe));

        drop(probes.pop()); // cancelled: its slot comes back, and only its slot
        let replacements = race(&breaker, due);
        assert_eq!(replacements.len(), 1);
        assert_eq!(race(&breaker, due).len(), 0);

        for probe in probes.into_iter().chain(replacements) {
            probe.record_at(Outcome::Success, due);
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
    }
}

#[test]
fn a_burst_of_failures_opens_the_breaker_exactly_once() {
    let (breaker, seen) = watched(|_| {});
    let now = Instant::now();
    let permits = race(&breaker, now);
    assert_eq!(permits.len(), CALLERS, "a closed breaker admits everyone");
    std::thread::scope(|scope| {
        for permit in permits {
            scope.spawn(move || permit.record_at(Outcome::Failure, now));
        }
    });
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(seen.lock().len(), 1);
    assert_eq!(breaker.status_at(now).consecutive_failures, 5, "later failures belong to the ended period");
}

#[test]
fn concurrent_successes_fill_the_window_without_a_lock() {
    use crate::breaker::{FailureRate, RateWindow};
    let breaker = breaker(|config| {
        config.failure_rate = Some(FailureRate { window: RateWindow::Count(100), ..FailureRate::default() });
    });
    let now = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..5_000 {
                    let permit = breaker.try_acquire_at(now).expect("closed");
                    permit.record_at(Outcome::Success, now);
                }
            });
        }
    });
    let snapshot = breaker.status_at(now);
    assert_eq!((snapshot.calls_in_window, snapshot.failure_rate), (100, 0.0));
}

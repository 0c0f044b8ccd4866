//! The `chaos` feature: seeded, exact fault injection, and a governor that contains it.
#![cfg(feature = "chaos")]

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bursar::chaos::{Chaos, ChaosConfig, ChaosStatus, Fault};
use bursar::{BuildError, Error};
use support::{Io, io_error};
use tokio::time::Instant;

fn chaos(config: ChaosConfig) -> Chaos {
    Chaos::new(config).unwrap()
}

fn only(fault: &str) -> ChaosConfig {
    let mut config = ChaosConfig::default();
    match fault {
        "fail" => config.fail_rate = 1.0,
        "stall" => config.stall_rate = 1.0,
        "late" => config.late_rate = 1.0,
        _ => config.panic_rate = 1.0,
    }
    config
}

fn mixed(seed: u64) -> ChaosConfig {
    ChaosConfig {
        seed,
        fail_rate: 0.2,
        stall_rate: 0.05,
        late_rate: 0.1,
        panic_rate: 0.01,
        ..ChaosConfig::default()
    }
}

#[test]
fn the_same_seed_gives_the_same_faults_in_the_same_order() {
    let draws = |seed| {
        let chaos = chaos(mixed(seed));
        let faults: Vec<Fault> = (0..10_000).map(|_| chaos.next_fault()).collect();
        (faults, chaos.status())
    };
    let (first, stats) = draws(42);
    assert_eq!(draws(42).0, first);
    assert_ne!(draws(43).0, first, "another seed, another sequence");
    assert_eq!(stats.calls, 10_000);
    assert_eq!(stats.calls, stats.passed + stats.failed + stats.stalled + stats.late + stats.panicked);
    // The counts of seed 42, pinned; each within a few percent of its rate.
    assert_eq!(
        (stats.passed, stats.failed, stats.stalled, stats.late, stats.panicked),
        (PINNED_42.0, PINNED_42.1, PINNED_42.2, PINNED_42.3, PINNED_42.4)
    );
}

/// (passed, failed, stalled, late, panicked) of 10,000 draws of `mixed(42)`.
const PINNED_42: (u64, u64, u64, u64, u64) = (6454, 1910, 523, 1018, 95);

#[tokio::test(start_paused = true)]
async fn each_fault_does_what_it_says() {
    let ran = AtomicU32::new(0);
    let operation = || async {
        ran.fetch_add(1, Ordering::SeqCst);
        Ok::<_, Io>("ok")
    };

    let failing = chaos(only("fail"));
    let failed = failing.wrap(operation(), || io_error("injected")).await;
    assert_eq!(failed.unwrap_err().to_string(), "injected");
    assert_eq!(ran.load(Ordering::SeqCst), 0, "a failed call does not run the operation");

    let late = chaos(ChaosConfig { late_by: Duration::from_millis(1500), ..only("late") });
    let started = Instant::now();
    assert_eq!(late.wrap(operation(), || io_error("unused")).await.unwrap(), "ok");
    assert_eq!((started.elapsed(), ran.load(Ordering::SeqCst)), (Duration::from_millis(1500), 1));

    let stalling = chaos(only("stall"));
    let stalled =
        tokio::time::timeout(Duration::from_secs(3600), stalling.wrap(operation(), || io_error("unused")));
    assert!(stalled.await.is_err(), "a stalled call never finishes");
    assert_eq!(ran.load(Ordering::SeqCst), 1);

    let counts = |stats: ChaosStatus| {
        (stats.calls, stats.passed, stats.failed, stats.stalled, stats.late, stats.panicked)
    };
    assert_eq!(counts(failing.status()), (1, 0, 1, 0, 0, 0));
    assert_eq!(counts(stalling.status()), (1, 0, 0, 1, 0, 0));
    assert_eq!(counts(late.status()), (1, 0, 0, 0, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn an_injected_panic_is_contained_by_the_governor() {
    let panicking = chaos(only("panic"));
    let gov = support::builder().build().unwrap();
    let result = gov.run(|| panicking.wrap(async { Ok::<_, Io>(()) }, || io_error("unused"))).await;
    assert!(matches!(result, Err(Error::Panicked { ref message }) if message == "chaos: injected panic"));
    assert_eq!(panicking.status().panicked, 1, "a panic is never retried");
    let status = gov.status().workers;
    assert_eq!((status.panicked, status.failed, status.active), (1, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn every_governed_call_under_chaos_is_accounted_for() {
    let chaos = chaos(mixed(7));
    let gov = support::builder().max_workers(10).build().unwrap();
    gov.breaker().disable(); // this test is about accounting, not the breaker
    let mut outcomes = [0u64; 4]; // ok, operation error, timeout, panic
    for _ in 0..1_000 {
        let result = gov
            .call(|| chaos.wrap(async { Ok::<_, Io>(()) }, || io_error("injected")))
            .timeout(Duration::from_secs(5)) // cuts stalls off
            .await;
        let slot = match result {
            Ok(()) => 0,
            Err(Error::Operation(_)) => 1,
            Err(Error::AttemptTimeout { .. }) => 2,
            Err(Error::Panicked { .. }) => 3,
            Err(other) => panic!("unexpected: {other}"),
        };
        outcomes[slot] += 1;
    }
    let (stats, status) = (chaos.status(), gov.status().workers);
    assert_eq!(outcomes.iter().sum::<u64>(), 1_000);
    assert_eq!(status.completed, outcomes[0]);
    assert_eq!(status.failed, outcomes[1] + outcomes[2] + outcomes[3]);
    assert_eq!((status.attempt_timeouts, status.panicked), (outcomes[2], outcomes[3]));
    assert_eq!(status.timed_out, 0, "every timeout is an attempt's: no call ran 30 minutes");
    assert_eq!(status.panicked, stats.panicked, "every injected panic ended its call");
    assert_eq!(stats.calls, 1_000 + status.retries, "one fault drawn per attempt");
    assert_eq!((status.active, status.queued, status.in_flight), (0, 0, 0));
}

#[test]
fn bad_rates_are_errors_naming_the_field() {
    let field = |config: ChaosConfig| match Chaos::new(config) {
        Err(BuildError::Invalid { field, .. }) => field,
        other => panic!("expected an error, got {other:?}"),
    };
    assert_eq!(field(ChaosConfig { fail_rate: 1.5, ..ChaosConfig::default() }), "chaos.fail_rate");
    assert_eq!(field(ChaosConfig { panic_rate: f64::NAN, ..ChaosConfig::default() }), "chaos.panic_rate");
    assert_eq!(field(ChaosConfig { stall_rate: -0.1, ..ChaosConfig::default() }), "chaos.stall_rate");
    assert_eq!(
        field(ChaosConfig { fail_rate: 0.6, late_rate: 0.6, ..ChaosConfig::default() }),
        "chaos.rates"
    );
}

#[cfg(feature = "serde")]
#[test]
fn a_config_reads_from_a_map_only() {
    let config: ChaosConfig = serde_json::from_str(r#"{"fail_rate": 0.25}"#).unwrap();
    assert_eq!(config, ChaosConfig { fail_rate: 0.25, ..ChaosConfig::default() });
    let error = serde_json::from_str::<ChaosConfig>("[]").unwrap_err().to_string();
    assert_eq!(error, "invalid type: sequence, expected struct ChaosConfig at line 1 column 2");
}

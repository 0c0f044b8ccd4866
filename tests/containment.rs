//! Containment: no callback a user hands the governor can end, freeze or wedge a part of it.
//! Each callback's panic is caught, counted in `status().callbacks` and survived.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bursar::health::{HealthCheck, HealthConfig, HealthLevel, Readings, Sampler};
use bursar::{Governor, GovernorBuilder};
use support::{Io, capture_events};

const INTERVAL: Duration = Duration::from_secs(10);

/// What the scripted sampler does at its next sample.
#[derive(Debug, Clone, Copy)]
#[repr(usize)]
enum Next {
    Critical,
    Panic,
    Healthy,
    NotANumber,
}

/// A sampler whose next answer the test sets.
#[derive(Debug, Clone, Default)]
struct Scripted(Arc<AtomicUsize>);

impl Scripted {
    fn set(&self, next: Next) {
        self.0.store(next as usize, Ordering::SeqCst);
    }
}

impl Sampler for Scripted {
    async fn sample(&mut self) -> Readings {
        match self.0.load(Ordering::SeqCst) {
            0 => Readings::new(97.0, 40.0, 8),
            1 => panic!("the sensor is gone"),
            2 => Readings::new(10.0, 10.0, 8),
            _ => Readings::new(f64::NAN, 10.0, 8),
        }
    }
}

fn monitored(sampler: &Scripted) -> GovernorBuilder {
    let mut health = HealthConfig::default();
    health.interval = INTERVAL;
    Governor::builder().health(health).sampler(sampler.clone())
}

/// The monitor's samples, taken at 0 s, 10 s, 20 s … from when the governor was built.
struct Samples(tokio::time::Instant);

impl Samples {
    fn start() -> Self {
        Samples(tokio::time::Instant::now())
    }

    /// Wakes 5 s after sample `n`.
    async fn after(&self, n: u32) {
        tokio::time::sleep_until(self.0 + INTERVAL * n + INTERVAL / 2).await;
    }
}

fn panics(gov: &Governor) -> BTreeMap<String, u64> {
    gov.status().callbacks.panics
}

fn counted(name: &str, count: u64) -> BTreeMap<String, u64> {
    BTreeMap::from([(name.to_owned(), count)])
}

async fn a_call_runs(gov: &Governor) -> bool {
    gov.run(|| async { Ok::<_, Io>(()) }).await.is_ok()
}

#[tokio::test(start_paused = true)]
async fn a_panicking_sampler_is_a_missed_sample_and_the_monitor_goes_on() {
    let samples = Samples::start();
    let sampler = Scripted::default();
    let gov = monitored(&sampler).build().unwrap();
    samples.after(0).await;
    assert_eq!(gov.health_level(), HealthLevel::Critical);
    assert!(!a_call_runs(&gov).await, "critical sheds");

    sampler.set(Next::Panic);
    samples.after(2).await;
    assert_eq!(panics(&gov), counted("sampler", 2), "samples 1 and 2 panicked");
    assert_eq!(gov.health_level(), HealthLevel::Critical, "a missed sample keeps the readings");
    assert_eq!(gov.status().health.cpu_percent, Some(97.0));

    sampler.set(Next::Healthy);
    samples.after(3).await;
    assert_eq!(gov.status().health.cpu_percent, Some(10.0), "the monitor samples again");
    samples.after(5).await;
    assert_eq!(gov.health_level(), HealthLevel::Healthy, "critical is left after the dwell");
    assert!(a_call_runs(&gov).await, "calls are no longer shed");
    assert_eq!(gov.status().callbacks.panicked, 2);
}

#[tokio::test(start_paused = true)]
async fn a_reading_that_is_not_a_number_is_a_missed_sample_with_a_warning() {
    let samples = Samples::start();
    let (_guard, events) = capture_events();
    let sampler = Scripted::default();
    sampler.set(Next::NotANumber);
    let gov = monitored(&sampler).build().unwrap();
    samples.after(1).await;
    assert_eq!(gov.health_level(), HealthLevel::Unknown, "NaN is not a healthy reading");
    assert_eq!(gov.status().health.cpu_percent, None);
    let warnings = events.lines_with("invalid reading");
    assert_eq!(warnings.len(), 2, "one warning per sample: {warnings:?}");
    assert!(warnings.iter().all(|line| line.contains("WARN") && line.contains("cpu_percent")));

    sampler.set(Next::Critical);
    samples.after(2).await;
    assert_eq!(gov.health_level(), HealthLevel::Critical);
    sampler.set(Next::NotANumber);
    samples.after(3).await;
    assert_eq!(gov.status().health.cpu_percent, Some(97.0), "the valid readings are kept");
    assert_eq!(gov.status().callbacks.panicked, 0);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_health_check_is_a_failed_check_and_the_monitor_goes_on() {
    let samples = Samples::start();
    let sampler = Scripted::default();
    sampler.set(Next::Healthy);
    let checks = Arc::new(AtomicUsize::new(0));
    let counted_checks = Arc::clone(&checks);
    let gov = monitored(&sampler)
        .health_check("database", move || {
            let n = counted_checks.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    panic!("the check broke");
                }
                HealthCheck::healthy()
            }
        })
        .health_check("broken before its future", || -> std::future::Ready<HealthCheck> {
            panic!("the closure broke")
        })
        .build()
        .unwrap();
    samples.after(0).await;
    let status = gov.status();
    let database = status.health.checks.iter().find(|check| check.name == "database").unwrap();
    assert_eq!(database.check.level, HealthLevel::Unhealthy, "a panic is a failed check");
    assert_eq!(database.check.message, "the check failed: it panicked: the check broke");
    assert_eq!(gov.health_level(), HealthLevel::Unhealthy, "a failed check is unhealthy");

    samples.after(2).await;
    assert_eq!(checks.load(Ordering::SeqCst), 3, "the check ran at every sample");
    let status = gov.status();
    let database = status.health.checks.iter().find(|check| check.name == "database").unwrap();
    assert_eq!(database.check.level, HealthLevel::Healthy);
    assert_eq!(
        status.callbacks.panics,
        counted("health_check", 2 + 3),
        "two panics of the database check, three of the other"
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_emergency_action_is_counted_and_the_next_action_runs() {
    let samples = Samples::start();
    let sampler = Scripted::default();
    let after_it = Arc::new(AtomicUsize::new(0));
    let ran = Arc::clone(&after_it);
    let gov = monitored(&sampler)
        .on_critical(|| async { panic!("the emergency action broke") })
        .on_critical(move || {
            ran.fetch_add(1, Ordering::SeqCst);
            async {}
        })
        .build()
        .unwrap();
    samples.after(0).await;
    assert_eq!(gov.health_level(), HealthLevel::Critical);
    assert_eq!(after_it.load(Ordering::SeqCst), 1);
    assert_eq!(panics(&gov), counted("on_critical", 1));
    assert_eq!(gov.status().health.emergency_recoveries, 1);

    sampler.set(Next::Healthy);
    samples.after(3).await;
    assert_eq!(gov.health_level(), HealthLevel::Healthy, "the monitor went on");
    assert!(a_call_runs(&gov).await);
}

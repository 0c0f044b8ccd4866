//! Containment: no callback a user hands the governor can end, freeze or wedge a part of it.
//! Each callback's panic is caught, counted in `status().callbacks` and survived.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bursar::breaker::{BreakerState, CallError, CircuitBreaker, Transition};
use bursar::health::{CheckResult, HealthConfig, HealthLevel, Readings, Sampler};
use bursar::{Error, Governor, GovernorBuilder, Rejection};
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

/// One call that answers 7, as the governor lets it end.
async fn one_call(gov: &Governor) -> Result<u8, Error<Io>> {
    gov.run(|| async { Ok::<_, Io>(7) }).await
}

/// The call ran and answered.
async fn a_call_runs(gov: &Governor) -> bool {
    matches!(one_call(gov).await, Ok(7))
}

#[tokio::test(start_paused = true)]
async fn a_panicking_sampler_is_a_missed_sample_and_the_monitor_goes_on() {
    let samples = Samples::start();
    let sampler = Scripted::default();
    let gov = monitored(&sampler).build().unwrap();
    samples.after(0).await;
    assert_eq!(gov.health_level(), HealthLevel::Critical);
    let shed = one_call(&gov).await;
    assert!(
        matches!(shed, Err(Error::Rejected(Rejection::Overloaded { level: HealthLevel::Critical }))),
        "{shed:?}"
    );

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
                CheckResult::healthy()
            }
        })
        .health_check("broken before its future", || -> std::future::Ready<CheckResult> {
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

// ---- The breaker's transition callback -------------------------------------------------

fn tripping_breaker() -> bursar::breaker::BreakerConfig {
    let mut breaker = bursar::breaker::BreakerConfig::default();
    breaker.failure_threshold = 1;
    breaker.open_wait = Duration::from_secs(30);
    breaker
}

/// Panics on every transition into `state`.
fn panics_entering(state: BreakerState) -> impl Fn(&str, &Transition) + Send + Sync + 'static {
    move |_, transition| {
        if transition.to == state {
            panic!("the transition callback broke");
        }
    }
}

/// A governor whose breakers open at the first failure and whose transition callback panics
/// on every transition into `state`.
fn tripping_governor(state: BreakerState) -> Governor {
    support::builder()
        .breaker(tripping_breaker())
        .on_breaker_transition(panics_entering(state))
        .build()
        .unwrap()
}

/// One failed call through the breaker of `key` (`"default"`: the unkeyed one).
async fn fail_once(gov: &Governor, key: &str) {
    let failed = gov.call(|| async { Err::<(), _>(support::io_error("down")) }).key(key).attempts(1).await;
    assert!(matches!(failed, Err(Error::Operation(_))));
}

#[tokio::test(start_paused = true)]
async fn a_transition_callback_that_panics_into_half_open_leaves_the_probe_slot_exact() {
    let gov = tripping_governor(BreakerState::HalfOpen);
    fail_once(&gov, "default").await;
    assert_eq!(gov.breaker().state(), BreakerState::Open);
    tokio::time::sleep(Duration::from_secs(30)).await;

    // The probe turns the breaker half-open (the callback panics), runs and closes it.
    assert_eq!(gov.run(|| async { Ok::<_, Io>(7) }).await.unwrap(), 7);
    assert_eq!(gov.breaker().state(), BreakerState::Closed);
    assert_eq!(panics(&gov), counted("on_transition", 1));
    assert_eq!(gov.breaker().callback_panics(), 1);
    for _ in 0..3 {
        assert!(a_call_runs(&gov).await, "no call is turned away after the panic");
    }
}

#[tokio::test(start_paused = true)]
async fn a_transition_callback_that_panics_on_a_standalone_breaker_is_counted() {
    let breaker = CircuitBreaker::new(&tripping_breaker()).unwrap().with_on_transition(|_| panic!("broke"));
    breaker.try_acquire().unwrap().failure();
    assert_eq!((breaker.state(), breaker.callback_panics()), (BreakerState::Open, 1));
    tokio::time::advance(Duration::from_secs(30)).await;
    let probe = breaker.try_acquire().expect("the probe is admitted despite the panic");
    assert!(probe.is_probe());
    probe.success();
    assert_eq!((breaker.state(), breaker.callback_panics()), (BreakerState::Closed, 3));
}

// ---- A breaker's own `call`: the operation and the `call_when` predicate -----------------

#[tokio::test(start_paused = true)]
async fn an_operation_panicking_in_a_breaker_call_is_a_failure_and_an_error_event() {
    let (_guard, events) = capture_events();
    let breaker = CircuitBreaker::new(&tripping_breaker()).unwrap().with_name("grid");
    let panicked = breaker.call(async { panic!("the operation broke") as Result<(), Io> }).await;
    let Err(CallError::Panicked { message }) = panicked else { panic!("{panicked:?}") };
    assert_eq!(message, "the operation broke");
    assert_eq!(breaker.state(), BreakerState::Open, "counted as a failure");
    let logged = events.lines_with("the operation panicked");
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(logged[0].contains("ERROR") && logged[0].contains("breaker=\"grid\""), "{}", logged[0]);
    assert_eq!(breaker.callback_panics(), 0, "the operation's panic is its outcome, not a callback's");
}

#[tokio::test(start_paused = true)]
async fn a_call_when_predicate_that_panics_counts_the_error_as_a_failure() {
    let gov = support::builder().breaker(tripping_breaker()).build().unwrap();
    let failing = async { Err::<(), _>(support::io_error("down")) };
    let judged = gov.breaker().call_when(failing, |_: &Io| panic!("call_when broke")).await;
    assert!(matches!(judged, Err(CallError::Operation(_))), "the operation's error: {judged:?}");
    assert_eq!(gov.breaker().state(), BreakerState::Open, "counted as a failure");
    assert_eq!(panics(&gov), counted("failure_when", 1));
    assert_eq!(gov.breaker().callback_panics(), 1);
}

/// The scenario that aborted the process: an operation panics, its failure trips the breaker,
/// and the transition callback panics too. Run in a child process, so that an abort is seen as
/// the child's exit status rather than ending the test run.
#[test]
fn an_operation_panic_and_a_panicking_transition_callback_do_not_abort_the_process() {
    const CHILD: &str = "BURSAR_CONTAINMENT_ABORT_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let gov = tripping_governor(BreakerState::Open);
            let panicked =
                gov.run(|| -> std::future::Ready<Result<(), Io>> { panic!("the operation broke") }).await;
            assert!(matches!(panicked, Err(Error::Panicked { .. })));
            assert_eq!(gov.breaker().state(), BreakerState::Open, "the panic counted as a failure");
            assert_eq!(panics(&gov), counted("on_transition", 1), "the callback ran, after the unwinding");
        });
        return;
    }
    let test = "an_operation_panic_and_a_panicking_transition_callback_do_not_abort_the_process";
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the child ended with {:?}: {stderr}", output.status);
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 passed"));
}

// ---- The call's hooks and the operation's drop ------------------------------------------

/// An operation that fails its first attempt and succeeds its second.
fn fails_once() -> impl FnMut() -> std::future::Ready<Result<u32, Io>> {
    let mut attempts = 0;
    move || {
        attempts += 1;
        std::future::ready(if attempts == 1 { Err(support::io_error("flaky")) } else { Ok(attempts) })
    }
}

#[tokio::test(start_paused = true)]
async fn a_when_that_panics_means_no_retry() {
    let gov = support::builder().build().unwrap();
    let result = gov.call(fails_once()).when(|_: &Io| panic!("when broke")).await;
    assert!(matches!(result, Err(Error::Operation(_))), "the operation's error: {result:?}");
    assert_eq!(panics(&gov), counted("when", 1));
    let status = gov.status().workers;
    assert_eq!((status.failed, status.retries, status.panicked), (1, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_failure_when_that_panics_counts_the_error_as_a_failure() {
    let gov = support::builder().breaker(tripping_breaker()).build().unwrap();
    let result = gov.call(fails_once()).failure_when(|_: &Io| panic!("failure_when broke")).attempts(1).await;
    assert!(matches!(result, Err(Error::Operation(_))));
    assert_eq!(gov.breaker().state(), BreakerState::Open, "counted as a failure");
    assert_eq!(panics(&gov), counted("failure_when", 1));
}

#[tokio::test(start_paused = true)]
async fn an_overload_when_that_panics_counts_the_error_as_no_overload() {
    let adaptive = bursar::AdaptiveConfig::default().window(1);
    let builder = support::builder().limit(bursar::LimitKind::Aimd).min_workers(4).max_workers(8);
    let gov = builder.adaptive(adaptive).build().unwrap();
    let result =
        gov.call(fails_once()).overload_when(|_: &Io| panic!("overload_when broke")).attempts(1).await;
    assert!(matches!(result, Err(Error::Operation(_))));
    assert_eq!(panics(&gov), counted("overload_when", 1));
    let adaptive = gov.status().workers.adaptive.expect("adaptive");
    // An overload would have cut 4 by the backoff to the floor and said so; no overload
    // and the limit not reached: held where it started.
    assert_eq!((adaptive.limit, adaptive.reason), (4, bursar::LimitReason::Started));
}

#[tokio::test(start_paused = true)]
async fn a_notify_that_panics_does_not_stop_the_retry_and_retries_are_exact() {
    let gov = support::builder().build().unwrap();
    let result = gov.call(fails_once()).notify(|_, _: &Error<Io>, _| panic!("notify broke")).await;
    assert_eq!(result.unwrap(), 2, "the retry ran and succeeded");
    assert_eq!(panics(&gov), counted("notify", 1));
    let status = gov.status().workers;
    assert_eq!((status.completed, status.failed, status.retries), (1, 0, 1));
}

#[tokio::test(start_paused = true)]
async fn an_adjust_that_panics_keeps_the_scheduled_delay() {
    let gov = support::builder().build().unwrap();
    let start = tokio::time::Instant::now();
    let result = gov.call(fails_once()).adjust(|_: &Error<Io>, _| panic!("adjust broke")).await;
    assert_eq!(result.unwrap(), 2);
    assert_eq!(start.elapsed(), Duration::from_secs(2), "the schedule's first delay");
    assert_eq!(panics(&gov), counted("adjust", 1));
}

/// A future whose drop panics.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("the operation's drop broke");
    }
}

#[tokio::test(start_paused = true)]
async fn an_operation_whose_drop_panics_after_a_cut_off_is_contained() {
    let gov = support::builder().max_task_duration(Duration::from_secs(5)).build().unwrap();
    let result = gov
        .run(|| async {
            let _guard = PanicsOnDrop;
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, Io>(())
        })
        .await;
    assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
    assert_eq!(panics(&gov), counted("operation_drop", 1));
    let status = gov.status().workers;
    assert_eq!((status.active, status.in_flight, status.timed_out), (0, 0, 1));
    assert!(a_call_runs(&gov).await);
}

#[tokio::test(start_paused = true)]
async fn a_spawned_task_whose_drop_panics_after_a_cut_off_is_contained() {
    let gov = support::builder().max_task_duration(Duration::from_secs(5)).build().unwrap();
    let handle = gov
        .spawn(async {
            let _guard = PanicsOnDrop;
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, Io>(())
        })
        .unwrap();
    assert!(matches!(handle.await, Err(Error::Timeout { .. })));
    assert_eq!(panics(&gov), counted("operation_drop", 1));
    assert_eq!(gov.status().workers.in_flight, 0);
}

// ---- Recovery callbacks --------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_panicking_recovery_is_counted_as_not_recovered_and_the_next_one_runs() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted_runs = Arc::clone(&runs);
    let gov = support::builder()
        .on_error("webdriver", move |_| {
            let run = counted_runs.fetch_add(1, Ordering::SeqCst);
            async move {
                if run == 0 {
                    panic!("the recovery broke");
                }
                true
            }
        })
        .build()
        .unwrap();
    gov.report_error(bursar::health::ErrorReport::new("webdriver", "session lost"));
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(panics(&gov), counted("on_error", 1));
    assert_eq!(gov.status().health.total_recoveries, 0, "a panic is no recovery");

    tokio::time::sleep(Duration::from_secs(60)).await; // past the recovery cooldown
    gov.report_error(bursar::health::ErrorReport::new("webdriver", "session lost again"));
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(gov.status().health.total_recoveries, 1, "the runner went on");
    assert_eq!(gov.status().callbacks.panicked, 1);
}

// ---- A call nested inside an operation of the same governor ---------------------------

#[tokio::test(start_paused = true)]
async fn a_nested_call_that_has_to_wait_for_a_worker_is_a_warning() {
    let (_guard, events) = capture_events();
    let gov = support::builder().max_workers(1).max_task_duration(Duration::from_secs(5)).build().unwrap();
    let inner = gov.clone();
    let outer = gov
        .run(|| {
            let inner = inner.clone();
            async move {
                inner
                    .run(|| async { Ok::<_, Io>(1) })
                    .await
                    .map_err(|error| support::io_error(&error.to_string()))
            }
        })
        .await;
    assert!(matches!(outer, Err(Error::Timeout { .. })), "it waits until the max task duration: {outer:?}");
    let warnings = events.lines_with("a call nested inside an operation of the same governor");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("WARN"));

    // A call that queues behind another caller's work is no nested call: no warning.
    let busy = gov.spawn(async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok::<_, Io>(())
    });
    assert!(a_call_runs(&gov).await);
    busy.unwrap().await.unwrap();
    assert_eq!(events.lines_with("nested inside").len(), 1);
}

/// A call's own retry that waits for a worker is not nested in anything; a call made inside a
/// spawned task's work is nested, as inside a call's operation.
#[tokio::test(start_paused = true)]
async fn a_retry_waiting_for_a_worker_is_no_nested_call_and_one_inside_a_spawned_task_is() {
    let (_guard, events) = capture_events();
    let gov = support::builder().max_workers(1).max_task_duration(Duration::from_secs(5)).build().unwrap();
    let failures = Arc::new(AtomicUsize::new(0));
    let retried = {
        let (gov, failures) = (gov.clone(), Arc::clone(&failures));
        tokio::spawn(async move {
            gov.run(|| {
                let first = failures.fetch_add(1, Ordering::SeqCst) == 0;
                async move { if first { Err(support::io_error("503")) } else { Ok::<_, Io>(()) } }
            })
            .await
        })
    };
    support::until(|| gov.status().workers.retrying == 1).await;
    // The worker taken for 3 s while the call backs off (2 s): its retry waits 1 s for it.
    let busy = gov.spawn(async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        Ok::<_, Io>(())
    });
    retried.await.unwrap().unwrap();
    busy.unwrap().await.unwrap();
    assert_eq!((failures.load(Ordering::SeqCst), events.lines_with("nested inside").len()), (2, 0));

    let inner = gov.clone();
    let task = gov.spawn(async move {
        inner.run(|| async { Ok::<_, Io>(1) }).await.map_err(|error| support::io_error(&error.to_string()))
    });
    assert!(
        matches!(task.unwrap().await, Err(Error::Timeout { .. })),
        "it waits until the max task duration"
    );
    assert_eq!(events.lines_with("nested inside").len(), 1, "{}", events.text());
}

#[tokio::test(start_paused = true)]
async fn a_keyed_breaker_s_panicking_transition_callback_is_counted_and_the_key_goes_on() {
    let gov = tripping_governor(BreakerState::Open);
    fail_once(&gov, "site").await;
    assert_eq!(gov.breaker_for("site").state(), BreakerState::Open);
    assert_eq!(gov.breaker_for("site").callback_panics(), 1);
    assert_eq!(panics(&gov), counted("on_transition", 1));
    tokio::time::sleep(Duration::from_secs(30)).await;
    let probe = gov.call(|| async { Ok::<_, Io>(3) }).key("site").await;
    assert_eq!(probe.unwrap(), 3, "the probe ran");
    assert_eq!(gov.breaker_for("site").state(), BreakerState::Closed);
    assert_eq!(panics(&gov), counted("on_transition", 1), "the later transitions did not panic");
}

#[tokio::test(start_paused = true)]
async fn the_key_default_names_the_default_breaker() {
    let gov = support::builder().breaker(tripping_breaker()).build().unwrap();
    fail_once(&gov, "default").await;
    assert_eq!(gov.breaker().state(), BreakerState::Open, "the call keyed \"default\" used it");
    assert!(Arc::ptr_eq(&gov.breaker_for("default"), &gov.breaker_for("default")));
    assert_eq!(gov.breaker_for("default").state(), BreakerState::Open);
    let breakers = gov.status().breakers;
    assert_eq!(breakers.len(), 1, "one breaker, shown once: {breakers:?}");
    assert_eq!(breakers["default"].state, BreakerState::Open);
}

//! The health monitor: levels, hysteresis, the gate on the worker limit, recovery, probes.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bursar::health::{CheckResult, ErrorReport, HealthConfig, HealthLevel, Readings, Sampler, Thresholds};
use bursar::{Error, Governor, GovernorBuilder, Probe, Rejection};

/// Why liveness fails.
const NO_READING: &str = "the health monitor has had no reading for three intervals";
use support::{DropCounter, DropToken, Io, sleep_secs};

const INTERVAL: Duration = Duration::from_secs(10);

/// Readings the test sets; the monitor reads them at each sample.
#[derive(Debug, Clone)]
struct Script {
    readings: Arc<Mutex<Readings>>,
    _dropped: Arc<Option<DropToken>>,
}

impl Script {
    fn new(cpu: f64, memory: f64) -> Self {
        let readings = Arc::new(Mutex::new(Readings::new(cpu, memory, 12)));
        Script { readings, _dropped: Arc::new(None) }
    }

    fn set(&self, cpu: f64, memory: f64) {
        *self.readings.lock().unwrap() = Readings::new(cpu, memory, 12);
    }

    /// CPU and memory fine, and the limits' readings as given.
    fn set_limits(&self, fds_percent: f64, nproc_percent: Option<f64>, supervised: usize) {
        let mut readings = Readings::new(10.0, 10.0, 12);
        (readings.fds_percent, readings.nproc_percent) = (Some(fds_percent), nproc_percent);
        readings.supervised_processes = Some(supervised);
        *self.readings.lock().unwrap() = readings;
    }
}

impl Sampler for Script {
    async fn sample(&mut self) -> Readings {
        *self.readings.lock().unwrap()
    }
}

fn config() -> HealthConfig {
    let mut config = HealthConfig::default();
    config.interval = INTERVAL;
    config.error_min_calls = 10;
    config.error_window = Duration::from_secs(60);
    config
}

fn monitored(script: &Script) -> GovernorBuilder {
    Governor::builder().max_workers(8).health(config()).sampler(script.clone())
}

/// Samples happen at 0 s, 10 s, 20 s …; the test looks 5 s after each.
async fn next_sample() {
    tokio::time::sleep(INTERVAL).await;
}

async fn first_sample() {
    tokio::time::sleep(INTERVAL / 2).await;
}

#[tokio::test(start_paused = true)]
async fn every_level_follows_the_rule_and_unknown_comes_first() {
    let script = Script::new(10.0, 10.0);
    let gov = monitored(&script).build().unwrap();
    assert_eq!(gov.health_level(), HealthLevel::Unknown);
    let mut changes = gov.watch_health();
    first_sample().await;
    assert_eq!(gov.health_level(), HealthLevel::Healthy);
    assert!(changes.has_changed().unwrap());

    let steps = [
        ((85.0, 10.0), HealthLevel::Degraded),  // CPU at warn
        ((85.0, 90.0), HealthLevel::Unhealthy), // CPU and memory at warn
        ((96.0, 90.0), HealthLevel::Critical),  // CPU critical
        ((96.0, 10.0), HealthLevel::Critical),  // still critical
    ];
    for ((cpu, memory), level) in steps {
        script.set(cpu, memory);
        next_sample().await;
        assert_eq!(gov.health_level(), level, "cpu {cpu} memory {memory}");
    }
    let status = gov.status().health;
    assert_eq!(
        (status.cpu_percent, status.memory_percent, status.active_threads),
        (Some(96.0), Some(10.0), Some(12))
    );
    assert_eq!(*changes.borrow_and_update(), HealthLevel::Critical);
}

#[tokio::test(start_paused = true)]
async fn a_brief_dip_keeps_the_level_and_the_dwell_time_leaves_it() {
    let script = Script::new(85.0, 10.0);
    let gov = monitored(&script).build().unwrap();
    first_sample().await;
    assert_eq!(gov.health_level(), HealthLevel::Degraded);
    script.set(10.0, 10.0);
    next_sample().await; // better since 10 s
    assert_eq!(gov.health_level(), HealthLevel::Degraded);
    script.set(85.0, 10.0);
    next_sample().await; // relapse at 20 s
    script.set(10.0, 10.0);
    next_sample().await; // better since 30 s
    next_sample().await; // 40 s: 10 s better
    assert_eq!(gov.health_level(), HealthLevel::Degraded);
    next_sample().await; // 50 s: 20 s better = the dwell (two intervals)
    assert_eq!(gov.health_level(), HealthLevel::Healthy);
}

#[tokio::test(start_paused = true)]
async fn the_worker_limit_follows_the_level_and_critical_sheds_new_calls_only() {
    let script = Script::new(10.0, 10.0);
    let gov = monitored(&script).build().unwrap();
    first_sample().await;
    let limit = |gov: &Governor| gov.status().workers.effective_limit;
    assert_eq!(limit(&gov), 8);
    script.set(85.0, 10.0);
    next_sample().await;
    assert_eq!(limit(&gov), 6, "degraded: 75 % of 8");
    script.set(85.0, 90.0);
    next_sample().await;
    assert_eq!(limit(&gov), 4, "unhealthy: 50 % of 8");

    let in_flight = gov.spawn(async {
        sleep_secs(12).await; // ends at 37 s, between samples
        Ok::<_, Io>("finished")
    });
    script.set(99.0, 90.0);
    next_sample().await;
    assert_eq!((gov.health_level(), limit(&gov)), (HealthLevel::Critical, 4));
    let shed = gov.run(|| async { Ok::<_, Io>(()) }).await;
    assert_eq!(shed.unwrap_err().rejection(), Some(Rejection::Overloaded { level: HealthLevel::Critical }));
    assert_eq!(in_flight.unwrap().await.unwrap(), "finished", "work already admitted completes");
    assert_eq!(gov.readiness(), Probe::Fail("health is critical"));

    script.set(10.0, 10.0);
    for _ in 0..3 {
        next_sample().await;
    }
    assert_eq!((gov.health_level(), limit(&gov)), (HealthLevel::Healthy, 8));
    assert_eq!(gov.run(|| async { Ok::<_, Io>(1) }).await.unwrap(), 1);
    assert_eq!(gov.readiness(), Probe::Pass);
    assert_eq!(gov.status().workers.rejected_overloaded, 1);
}

#[tokio::test(start_paused = true)]
async fn the_status_names_the_level_that_lowers_the_worker_limit_and_why() {
    let script = Script::new(10.0, 10.0);
    let gov = monitored(&script).build().unwrap();
    first_sample().await;
    let why = |gov: &Governor| {
        let status = gov.status();
        let workers = status.workers;
        (workers.max_workers, workers.effective_limit, workers.limited_by, status.health.reasons)
    };
    assert_eq!(why(&gov), (8, 8, None, vec![]));

    script.set(85.0, 10.0);
    next_sample().await;
    let cpu = "cpu_percent 85 is at or above its warning threshold 80".to_owned();
    assert_eq!(why(&gov), (8, 6, Some(HealthLevel::Degraded), vec![cpu.clone()]));

    script.set(85.0, 97.0);
    next_sample().await;
    let memory = "memory_percent 97 is at or above its critical threshold 95".to_owned();
    assert_eq!(why(&gov), (8, 4, Some(HealthLevel::Critical), vec![cpu, memory]));

    script.set(10.0, 10.0);
    next_sample().await;
    assert_eq!(
        why(&gov),
        (8, 4, Some(HealthLevel::Critical), vec![]),
        "the dwell: readings fine, level not yet"
    );
    next_sample().await;
    next_sample().await;
    assert_eq!(why(&gov), (8, 8, None, vec![]));
}

/// What the status shows of the limits, and why the level is what it is.
fn limits_and_why(gov: &Governor) -> (HealthLevel, Option<f64>, Option<f64>, Option<usize>, Vec<String>) {
    let health = gov.status().health;
    (health.status, health.fds_percent, health.nproc_percent, health.supervised_processes, health.reasons)
}

#[tokio::test(start_paused = true)]
async fn open_files_processes_and_supervised_processes_set_the_level_and_say_why() {
    let script = Script::new(10.0, 10.0);
    script.set_limits(10.0, Some(10.0), 2);
    let supervised = Thresholds { warn: 4.0, critical: 8.0 };
    let gov = Governor::builder()
        .max_workers(8)
        .health(config().supervised_processes(supervised))
        .sampler(script.clone())
        .build()
        .unwrap();
    first_sample().await;
    assert_eq!(limits_and_why(&gov), (HealthLevel::Healthy, Some(10.0), Some(10.0), Some(2), vec![]));

    script.set_limits(85.0, Some(10.0), 2);
    next_sample().await;
    let fds = "fds_percent 85 is at or above its warning threshold 80".to_owned();
    assert_eq!(
        limits_and_why(&gov),
        (HealthLevel::Degraded, Some(85.0), Some(10.0), Some(2), vec![fds.clone()])
    );
    assert_eq!(gov.status().workers.effective_limit, 6);

    script.set_limits(85.0, Some(80.0), 4);
    next_sample().await;
    let nproc = "nproc_percent 80 is at or above its warning threshold 80".to_owned();
    let supervised = "supervised_processes 4 is at or above its warning threshold 4".to_owned();
    let three = vec![fds.clone(), nproc, supervised];
    assert_eq!(limits_and_why(&gov), (HealthLevel::Unhealthy, Some(85.0), Some(80.0), Some(4), three));

    script.set_limits(95.0, Some(10.0), 8);
    next_sample().await;
    let fds = "fds_percent 95 is at or above its critical threshold 95".to_owned();
    let supervised = "supervised_processes 8 is at or above its critical threshold 8".to_owned();
    let why = vec![fds, supervised];
    assert_eq!(limits_and_why(&gov), (HealthLevel::Critical, Some(95.0), Some(10.0), Some(8), why));
    let shed = gov.run(|| async { Ok::<_, Io>(()) }).await;
    assert_eq!(shed.unwrap_err().rejection(), Some(Rejection::Overloaded { level: HealthLevel::Critical }));
}

#[tokio::test(start_paused = true)]
async fn a_process_limit_not_enforced_and_supervised_processes_without_thresholds_are_not_judged() {
    let script = Script::new(10.0, 10.0);
    script.set_limits(79.0, None, 1000);
    let gov = monitored(&script).build().unwrap();
    first_sample().await;
    assert_eq!(limits_and_why(&gov), (HealthLevel::Healthy, Some(79.0), None, Some(1000), vec![]));
}

#[tokio::test(start_paused = true)]
async fn open_files_above_the_limit_are_critical_and_a_negative_reading_is_a_missed_sample() {
    let script = Script::new(10.0, 10.0);
    script.set_limits(120.0, Some(10.0), 0);
    let gov = monitored(&script).build().unwrap();
    first_sample().await;
    let fds = "fds_percent 120 is at or above its critical threshold 95".to_owned();
    assert_eq!(
        limits_and_why(&gov),
        (HealthLevel::Critical, Some(120.0), Some(10.0), Some(0), vec![fds.clone()])
    );
    script.set_limits(-1.0, Some(10.0), 0);
    next_sample().await;
    assert_eq!(
        limits_and_why(&gov),
        (HealthLevel::Critical, Some(120.0), Some(10.0), Some(0), vec![fds]),
        "the valid readings are kept"
    );
}

#[tokio::test(start_paused = true)]
async fn a_degraded_limit_that_rounds_up_to_max_workers_is_not_limited() {
    let script = Script::new(85.0, 10.0);
    let gov = monitored(&script).max_workers(1).build().unwrap();
    first_sample().await;
    let status = gov.status();
    assert_eq!(status.health.status, HealthLevel::Degraded);
    assert_eq!((status.workers.effective_limit, status.workers.limited_by), (1, None));
}

#[tokio::test(start_paused = true)]
async fn the_recovery_cooldown_is_a_setting_counted_exactly() {
    let ran = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&ran);
    let gov = support::builder()
        .on_error("webdriver", move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { true }
        })
        .recovery_cooldown(Duration::from_secs(3))
        .build()
        .unwrap();
    let lost = || ErrorReport::new("webdriver", "session lost");
    // Reports at 0 s, 1 s, … 9 s: a recovery at 0, 3, 6 and 9 s; the six others are skipped.
    for second in 0..10 {
        gov.report_error(lost());
        tokio::task::yield_now().await;
        assert_eq!(ran.load(Ordering::SeqCst), second / 3 + 1, "at {second} s");
        sleep_secs(1).await;
    }
    let health = gov.status().health;
    assert_eq!((health.total_errors, health.total_recoveries, health.recoveries_skipped), (10, 4, 6));
    assert_eq!(ran.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_recovery_cooldown_below_1_ms_is_refused_naming_it() {
    let error = support::builder().recovery_cooldown(Duration::from_micros(999)).build().unwrap_err();
    assert_eq!(error.field(), Some("health.recovery_cooldown"));
    assert_eq!(
        error.to_string(),
        "invalid configuration: `health.recovery_cooldown` must be at least 1 ms, tokio's timer resolution (got 999µs)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_recovery_runs_once_per_report_of_its_kind_and_floods_are_limited() {
    let ran = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&ran);
    let gov = support::builder()
        .on_error("webdriver", move |report| {
            let counted = Arc::clone(&counted);
            async move {
                assert_eq!(report.session.as_deref(), Some("job-1"));
                counted.fetch_add(1, Ordering::SeqCst);
                true
            }
        })
        .build()
        .unwrap();
    let lost = || ErrorReport::new("webdriver", "session lost").session("job-1");
    for _ in 0..3 {
        gov.report_error(lost());
        sleep_secs(11).await; // past the 10 s cooldown
    }
    assert_eq!(ran.load(Ordering::SeqCst), 3);
    for _ in 0..5 {
        gov.report_error(lost());
    }
    gov.report_error(ErrorReport::new("database", "restart"));
    gov.report_error(lost().recoverable(false));
    sleep_secs(1).await;
    assert_eq!(ran.load(Ordering::SeqCst), 4, "one of the flood of five ran");
    let status = gov.status().health;
    assert_eq!((status.total_errors, status.total_recoveries, status.recoveries_skipped), (10, 4, 4));
}

#[tokio::test(start_paused = true)]
async fn the_emergency_recovery_runs_exactly_once_per_entry_into_critical() {
    let script = Script::new(99.0, 10.0);
    let ran = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&ran);
    let gov = monitored(&script)
        .on_critical(move || {
            let counted = Arc::clone(&counted);
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build()
        .unwrap();
    first_sample().await;
    for _ in 0..3 {
        next_sample().await;
    }
    assert_eq!(ran.load(Ordering::SeqCst), 1, "staying critical does not run it again");
    script.set(10.0, 10.0);
    for _ in 0..3 {
        next_sample().await;
    }
    assert_eq!(gov.health_level(), HealthLevel::Healthy);
    script.set(99.0, 10.0);
    next_sample().await;
    assert_eq!(ran.load(Ordering::SeqCst), 2);
    assert_eq!(gov.status().health.emergency_recoveries, 2);
}

#[tokio::test(start_paused = true)]
async fn custom_checks_and_the_error_rate_raise_the_level() {
    let script = Script::new(10.0, 10.0);
    let slow = Arc::new(AtomicUsize::new(0));
    let answer = Arc::clone(&slow);
    let gov = monitored(&script)
        .max_attempts(1)
        .health_check("database", move || {
            let hang = answer.load(Ordering::SeqCst) == 1;
            async move {
                if hang {
                    std::future::pending::<()>().await;
                }
                CheckResult::degraded("replication lag 12 s")
            }
        })
        .build()
        .unwrap();
    first_sample().await;
    assert_eq!(gov.health_level(), HealthLevel::Degraded);
    let checks = gov.status().health.checks;
    assert_eq!(
        (checks[0].name.as_str(), checks[0].check.message.as_str()),
        ("database", "replication lag 12 s")
    );

    // 3 failures in 10 calls: an error rate of 30 % is a warning besides the check's.
    for call in 0..10 {
        let _ =
            gov.run(|| async move { if call < 3 { Err(support::io_error("down")) } else { Ok(()) } }).await;
    }
    next_sample().await;
    assert_eq!(gov.status().health.error_rate, Some(0.3));
    assert_eq!(gov.health_level(), HealthLevel::Unhealthy);

    slow.store(1, Ordering::SeqCst);
    next_sample().await; // the check starts at 20 s and is given up at 30 s
    next_sample().await;
    let check = &gov.status().health.checks[0].check;
    assert_eq!(check.level, HealthLevel::Unhealthy, "{}", check.message);
}

#[tokio::test(start_paused = true)]
async fn the_monitor_stops_on_shutdown_and_when_the_last_handle_is_dropped() {
    let dropped = DropCounter::default();
    let script = Script { _dropped: Arc::new(Some(dropped.token())), ..Script::new(1.0, 1.0) };
    let gov = monitored(&script).build().unwrap();
    drop(script);
    first_sample().await;
    let clone = gov.clone();
    drop(gov);
    next_sample().await;
    assert_eq!(dropped.drops(), 0, "a handle is still alive");
    drop(clone);
    tokio::task::yield_now().await;
    assert_eq!(dropped.drops(), 1, "the sampler went with its task");

    let gov = support::builder().health(config()).sampler(Script::new(1.0, 1.0)).build().unwrap();
    first_sample().await;
    let report = gov.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report.background_stopped, 2, "the health monitor and the retry budget's settler");
    assert_eq!(gov.readiness(), Probe::Fail("the governor is shutting down"));
}

#[tokio::test(start_paused = true)]
async fn liveness_fails_only_when_the_monitor_stops_sampling() {
    /// Answers once, then never again.
    struct Stuck(bool);
    impl Sampler for Stuck {
        async fn sample(&mut self) -> Readings {
            if std::mem::replace(&mut self.0, true) {
                std::future::pending::<()>().await;
            }
            Readings::new(1.0, 1.0, 1)
        }
    }
    let (_guard, _events) = support::capture_events(); // see the silent sampler's test
    let gov = Governor::builder().health(config()).sampler(Stuck(false)).build().unwrap();
    first_sample().await;
    assert_eq!(gov.liveness(), Probe::Pass);
    sleep_secs(25).await;
    assert_eq!(gov.liveness(), Probe::Pass, "30 s since the last sample is within three intervals");
    sleep_secs(6).await;
    assert_eq!(gov.liveness(), Probe::Fail(NO_READING));
    assert!(matches!(gov.run(|| async { Ok::<_, Io>(()) }).await, Ok(())), "liveness does not gate calls");
    let _: Option<Error<Io>> = None;
}

/// A monitor sampling every second from a sampler that answers at once, with `cpu` percent.
fn every_second(cpu: f64) -> (Script, GovernorBuilder) {
    let script = Script::new(cpu, 10.0);
    let mut health = config();
    health.interval = Duration::from_secs(1);
    let builder = Governor::builder().health(health).sampler(script.clone());
    (script, builder)
}

/// Looks every 100 ms from 0.05 s, between the samples, to 11.95 s, and returns at 12.05 s:
/// the looks (0 at 0.05 s, 1 at 0.15 s …) at which liveness failed, and the level at each.
async fn twelve_seconds_of(gov: &Governor) -> (Vec<u32>, Vec<HealthLevel>) {
    let (mut not_live, mut levels) = (Vec::new(), Vec::new());
    for tenth in 0..120 {
        if !gov.liveness().passed() {
            not_live.push(tenth);
        }
        levels.push(gov.health_level());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (not_live, levels)
}

#[tokio::test(start_paused = true)]
async fn checks_that_never_answer_hold_no_sample_and_leave_liveness_true() {
    let (_guard, events) = support::capture_events();
    let (_script, mut builder) = every_second(10.0);
    for name in ["dns", "database", "cache", "queue"] {
        builder = builder.health_check(name, std::future::pending::<CheckResult>);
    }
    let gov = builder.build().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (not_live, levels) = twelve_seconds_of(&gov).await;
    assert_eq!(not_live, Vec::<u32>::new(), "the sampler answered every second");
    assert_eq!(levels[..10], [HealthLevel::Unknown; 10], "the first sample waits for its checks");
    assert_eq!(levels[10..], [HealthLevel::Unhealthy; 110], "four failed checks, from 1 s on");
    let health = gov.status().health;
    let failed: Vec<_> = health
        .checks
        .iter()
        .filter(|check| check.check.level == HealthLevel::Unhealthy)
        .map(|check| (check.name.as_str(), check.check.message.as_str()))
        .collect();
    let hung = "the check failed: it did not finish within 1s";
    assert_eq!(failed, [("dns", hung), ("database", hung), ("cache", hung), ("queue", hung)]);
    assert_eq!(
        gov.status().callbacks.hangs,
        std::collections::BTreeMap::from([("health_check".to_owned(), 4 * 12)]),
        "the checks of the samples at 0 … 11 s, each given up one second later"
    );
    assert_eq!(
        events.lines_with("did not finish in time; given up callback=\"health_check\" limit=1s").len(),
        4 * 12
    );
}

#[tokio::test(start_paused = true)]
async fn emergency_actions_that_never_answer_hold_no_sample_and_leave_liveness_true() {
    let (_guard, events) = support::capture_events();
    let (script, mut builder) = every_second(99.0);
    let started = Arc::new(AtomicUsize::new(0));
    for _ in 0..4 {
        let started = Arc::clone(&started);
        builder = builder.on_critical(move || {
            started.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>()
        });
    }
    let gov = builder.build().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let at_first = (gov.health_level(), started.load(Ordering::SeqCst));
    script.set(10.0, 10.0);
    let (not_live, levels) = twelve_seconds_of(&gov).await;
    assert_eq!(not_live, Vec::<u32>::new(), "the sampler answered every second");
    assert_eq!(at_first, (HealthLevel::Critical, 4), "the four actions run together");
    // Better from the sample at 1 s on; entered after the dwell of two intervals, at 3 s.
    assert_eq!(levels[..30], [HealthLevel::Critical; 30]);
    assert_eq!(levels[30..], [HealthLevel::Healthy; 90], "the samples went on while the actions hung");
    let status = gov.status();
    assert_eq!(status.health.emergency_recoveries, 1);
    assert_eq!(
        status.callbacks.hangs,
        std::collections::BTreeMap::from([("on_critical".to_owned(), 4)]),
        "each action given up after one interval"
    );
    assert_eq!(
        events.lines_with("did not finish in time; given up callback=\"on_critical\" limit=1s").len(),
        4
    );
}

#[tokio::test(start_paused = true)]
async fn an_emergency_action_that_hangs_is_stopped_with_the_monitor() {
    let dropped = DropCounter::default();
    let token = Arc::new(Mutex::new(Some(dropped.token())));
    let gov = monitored(&Script::new(99.0, 10.0))
        .on_critical(move || {
            let guard = token.lock().unwrap().take();
            async move {
                let _guard = guard;
                std::future::pending::<()>().await
            }
        })
        .build()
        .unwrap();
    first_sample().await;
    assert_eq!((gov.health_level(), dropped.drops()), (HealthLevel::Critical, 0), "running at 5 s");
    let report = gov.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report.background_stopped, 2, "the health monitor and the retry budget's settler");
    sleep_secs(1).await; // 7 s: within the action's interval of 10 s
    assert_eq!(dropped.drops(), 1, "the hung action went with the monitor");
    assert_eq!(gov.status().callbacks.hangs, std::collections::BTreeMap::new(), "stopped, not given up");
}

#[tokio::test(start_paused = true)]
async fn a_sampler_that_never_answers_leaves_the_level_unknown_and_liveness_false() {
    struct Silent;
    impl Sampler for Silent {
        async fn sample(&mut self) -> Readings {
            std::future::pending().await
        }
    }
    // Captured here too: a test emitting a callsite with no subscriber while another thread's
    // test captures it races tracing's interest cache.
    let (_guard, events) = support::capture_events();
    let gov = Governor::builder().health(config()).sampler(Silent).build().unwrap();
    sleep_secs(25).await;
    assert_eq!(gov.liveness(), Probe::Pass, "25 s without a reading is within three intervals");
    sleep_secs(40).await; // 65 s: six samples given up
    let health = gov.status().health;
    assert_eq!(
        (health.status, health.cpu_percent, health.live, health.ready),
        (HealthLevel::Unknown, None, false, false)
    );
    assert_eq!(gov.liveness(), Probe::Fail(NO_READING));
    assert_eq!(
        events.lines_with("did not finish in time; given up callback=\"sampler\" limit=10s").len(),
        6,
        "given up at 10, 20 … 60 s"
    );
}

/// Reads once with CPU at its warning threshold, then never answers again.
struct HangsAfterFirst(Arc<AtomicUsize>);

impl Sampler for HangsAfterFirst {
    async fn sample(&mut self) -> Readings {
        if self.0.fetch_add(1, Ordering::SeqCst) > 0 {
            std::future::pending::<()>().await;
        }
        Readings::new(85.0, 10.0, 12)
    }
}

#[tokio::test(start_paused = true)]
async fn a_sampler_that_never_answers_is_given_up_after_one_interval() {
    let (_guard, events) = support::capture_events();
    let samples = Arc::new(AtomicUsize::new(0));
    let gov = Governor::builder()
        .max_workers(8)
        .max_attempts(1)
        .health(config())
        .sampler(HangsAfterFirst(Arc::clone(&samples)))
        .build()
        .unwrap();
    first_sample().await;
    assert_eq!(gov.health_level(), HealthLevel::Degraded, "CPU 85 % at 0 s");
    for call in 0..10 {
        let _ =
            gov.run(|| async move { if call < 3 { Err(support::io_error("down")) } else { Ok(()) } }).await;
    }
    next_sample().await; // 15 s: the sample started at 10 s still hangs
    assert_eq!(gov.status().health.error_rate, None);
    next_sample().await; // 25 s: given up at 20 s, judged with the kept CPU and a 30 % error rate
    let health = gov.status().health;
    assert_eq!(gov.health_level(), HealthLevel::Unhealthy, "two readings at warn");
    assert_eq!(health.error_rate, Some(0.3));
    assert_eq!(
        (health.cpu_percent, health.memory_percent, health.active_threads),
        (Some(85.0), Some(10.0), Some(12)),
        "the previous readings are kept"
    );
    assert_eq!(samples.load(Ordering::SeqCst), 3, "sampled at 0, 10 and 20 s");
    assert_eq!(events.lines_with("did not finish in time; given up callback=\"sampler\" limit=10s").len(), 1);
    assert!(events.lines_with("did not finish in time").iter().all(|line| line.contains("WARN")));
    sleep_secs(5).await; // 30 s since the last answer
    assert_eq!(gov.liveness(), Probe::Pass);
    sleep_secs(1).await;
    assert_eq!(gov.liveness(), Probe::Fail(NO_READING), "no reading for three intervals");
    assert_eq!(events.lines_with("did not finish in time; given up callback=\"sampler\" limit=10s").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn reported_errors_count_as_failed_calls_in_the_error_rate() {
    let script = Script::new(10.0, 10.0);
    let gov = monitored(&script).build().unwrap();
    first_sample().await; // 0 s: the baseline, no calls yet
    for _ in 0..5 {
        gov.report_error(ErrorReport::new("database", "connection reset"));
    }
    next_sample().await; // 10 s
    let health = gov.status().health;
    assert_eq!((health.error_rate, health.total_errors), (None, 5), "5 calls are fewer than 10");
    assert_eq!(gov.health_level(), HealthLevel::Healthy);
    for _ in 0..15 {
        gov.run(|| async { Ok::<_, Io>(()) }).await.unwrap();
    }
    next_sample().await; // 20 s: 5 reported errors in 20 calls
    let health = gov.status().health;
    assert_eq!((health.error_rate, health.total_errors), (Some(0.25), 5));
    assert_eq!(gov.health_level(), HealthLevel::Degraded, "25 % is at the 10 % warning");
}

/// A recovery that never finishes, holding `dropped`'s token (once) while it runs.
fn hung_recovery(dropped: &DropCounter, started: &Arc<AtomicUsize>) -> GovernorBuilder {
    let token = Arc::new(Mutex::new(Some(dropped.token())));
    let started = Arc::clone(started);
    support::builder().on_error("webdriver", move |_| {
        let guard = token.lock().unwrap().take();
        started.fetch_add(1, Ordering::SeqCst);
        async move {
            let _guard = guard;
            std::future::pending::<bool>().await
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_recovery_that_never_finishes_is_stopped_by_shutdown() {
    let (dropped, started) = (DropCounter::default(), Arc::new(AtomicUsize::new(0)));
    let gov = hung_recovery(&dropped, &started).build().unwrap();
    gov.report_error(ErrorReport::new("webdriver", "session lost"));
    sleep_secs(60).await;
    assert_eq!((started.load(Ordering::SeqCst), dropped.drops()), (1, 0), "running after 60 s");
    let report = gov.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report.background_stopped, 2, "the retry budget's settler and the recovery task");
    sleep_secs(1).await;
    assert_eq!(dropped.drops(), 1, "the hung recovery was dropped");
    gov.report_error(ErrorReport::new("webdriver", "session lost")); // past the cooldown
    sleep_secs(1).await;
    let health = gov.status().health;
    assert_eq!((started.load(Ordering::SeqCst), health.total_errors, health.total_recoveries), (1, 2, 0));
}

#[tokio::test(start_paused = true)]
async fn a_recovery_that_never_finishes_goes_with_the_last_handle() {
    let (dropped, started) = (DropCounter::default(), Arc::new(AtomicUsize::new(0)));
    let gov = hung_recovery(&dropped, &started).build().unwrap();
    gov.report_error(ErrorReport::new("webdriver", "session lost"));
    sleep_secs(60).await;
    assert_eq!((started.load(Ordering::SeqCst), dropped.drops()), (1, 0));
    drop(gov);
    sleep_secs(1).await;
    assert_eq!(dropped.drops(), 1);
}

#[cfg(feature = "sysinfo")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_default_sampler_reads_sane_values_on_this_machine() {
    const WORKERS: usize = 4;
    let mut sampler = bursar::health::SystemSampler::new();
    for _ in 0..2 {
        let readings = sampler.sample().await;
        let cpu = readings.cpu_percent.expect("cpu");
        let memory = readings.memory_percent.expect("memory");
        assert!((0.0..=100.0).contains(&cpu), "cpu {cpu}");
        assert!((0.0..=100.0).contains(&memory) && memory > 0.0, "memory {memory}");
        assert_eq!(readings.supervised_processes, Some(0), "this test supervises no process");
        if cfg!(target_os = "linux") {
            let fds = readings.fds_percent.expect("open files");
            assert!(0.0 < fds && fds < 100.0, "fds {fds}");
            // The runtime's workers, this test's thread and the blocking thread that read.
            let threads = readings.threads.expect("threads");
            assert!(threads >= WORKERS + 2, "{threads} threads");
        } else {
            assert_eq!(readings.threads, None, "sysinfo lists threads on Linux only");
        }
    }
    if !cfg!(target_os = "linux") {
        return;
    }
    // Exactly the kernel's count, main thread included: compared while the count holds still
    // (other tests in this binary start and end threads).
    for attempt in 0.. {
        assert!(attempt < 100, "the thread count never held still");
        let before = threads_in_proc();
        let threads = sampler.sample().await.threads;
        if threads_in_proc() == before {
            assert_eq!(threads, Some(before));
            break;
        }
    }
    #[cfg(feature = "process")]
    {
        // The one test of this binary that supervises a process, so the count is exact.
        let mut command = tokio::process::Command::new("sleep");
        command.arg("300");
        let sleeper = bursar::process::Supervised::spawn("sleeper", command).unwrap();
        assert_eq!(sampler.sample().await.supervised_processes, Some(1));
        sleeper.stop(Duration::from_secs(1)).await.unwrap();
        assert_eq!(sampler.sample().await.supervised_processes, Some(0));
    }
}

#[cfg(feature = "sysinfo")]
fn threads_in_proc() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

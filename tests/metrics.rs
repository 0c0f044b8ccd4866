//! The `metrics` feature: every counter, gauge and histogram sample, asserted exactly through a
//! recording recorder.
//!
//! Each test installs its own recorder on its own thread (`set_default_local_recorder`, on the
//! current-thread runtime of `#[tokio::test]`), so tests running side by side cannot see each
//! other's metrics. Nothing here installs a global recorder: the last test relies on there
//! being none.

mod support;

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::pin::pin;
use std::sync::Mutex;
use std::time::Duration;

use bursar::fleet::{
    Acquire, BackendFuture, FencingToken, FleetBackend, FleetConfig, FleetError, LeaseRequest, Renewal,
};
use bursar::health::{ErrorReport, HealthConfig, HealthLevel, Readings, Sampler};
use bursar::metrics::*;
use bursar::pool::Manager;
use bursar::ports::{PortLease, PortRange, PortsConfig};
use bursar::{Error, Governor, RetryConfig};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use support::{Io, io_error, poll_once, sleep_secs, until};

/// A recorder for one test, and what it recorded.
struct Recording {
    recorder: DebuggingRecorder,
    snapshotter: Snapshotter,
}

impl Recording {
    fn new() -> Self {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        Recording { recorder, snapshotter }
    }

    /// Records this thread's metrics until the guard drops.
    fn install(&self) -> metrics::LocalRecorderGuard<'_> {
        metrics::set_default_local_recorder(&self.recorder)
    }

    /// Takes what was recorded. Taking resets it: counters and gauges read 0 afterwards and
    /// histograms lose their samples, so each take shows only what came after the last.
    fn take(&self) -> Recorded {
        let mut recorded = Recorded::default();
        for (key, unit, description, value) in self.snapshotter.snapshot().into_vec() {
            let (kind, key) = key.into_parts();
            let series = series_name(&key);
            recorded.described.insert(series.clone(), (unit, description.map(|text| text.to_string())));
            match (kind, value) {
                (MetricKind::Counter, DebugValue::Counter(count)) => {
                    recorded.counters.insert(series, count);
                }
                (MetricKind::Gauge, DebugValue::Gauge(value)) => {
                    recorded.gauges.insert(series, value.into_inner());
                }
                (MetricKind::Histogram, DebugValue::Histogram(samples)) => {
                    let mut samples: Vec<f64> =
                        samples.into_iter().map(|sample| sample.into_inner()).collect();
                    samples.sort_by(f64::total_cmp);
                    recorded.histograms.insert(series, samples);
                }
                (kind, value) => panic!("{series}: a {kind:?} holding {value:?}"),
            }
        }
        recorded
    }
}

/// Every series by its name and labels, e.g. `bursar_calls_total{outcome=ok}`.
#[derive(Debug, Default)]
struct Recorded {
    counters: BTreeMap<String, u64>,
    gauges: BTreeMap<String, f64>,
    histograms: BTreeMap<String, Vec<f64>>,
    described: BTreeMap<String, (Option<Unit>, Option<String>)>,
}

fn series_name(key: &Key) -> String {
    let labels: Vec<String> =
        key.labels().map(|label| format!("{}={}", label.key(), label.value())).collect();
    match labels.is_empty() {
        true => key.name().to_owned(),
        false => format!("{}{{{}}}", key.name(), labels.join(",")),
    }
}

fn series<V: Clone>(entries: &[(&str, V)]) -> BTreeMap<String, V> {
    entries.iter().map(|(series, value)| ((*series).to_owned(), value.clone())).collect()
}

/// Readings the test sets; the monitor reads them at each sample.
#[derive(Debug, Clone)]
struct Script(std::sync::Arc<Mutex<Readings>>);

impl Script {
    fn new(cpu: f64, memory: f64, threads: usize) -> Self {
        Script(std::sync::Arc::new(Mutex::new(Readings::new(cpu, memory, threads))))
    }

    fn set(&self, cpu: f64, memory: f64, threads: usize) {
        *self.0.lock().unwrap() = Readings::new(cpu, memory, threads);
    }
}

impl Sampler for Script {
    async fn sample(&mut self) -> Readings {
        *self.0.lock().unwrap()
    }
}

const INTERVAL: Duration = Duration::from_secs(10);

fn monitored(script: &Script) -> bursar::GovernorBuilder {
    let mut health = HealthConfig::default();
    health.interval = INTERVAL;
    Governor::builder().health(health).sampler(script.clone())
}

/// Browser sessions without ports: the pool's gauges are what these tests look at.
struct Browsers;

impl Manager for Browsers {
    type Key = String;
    type Connection = String;
    type Error = Io;

    async fn create(&self, user: &String, _ports: &[PortLease]) -> Result<String, Io> {
        Ok(format!("session of {user}"))
    }

    async fn check(&self, _session: &mut String) -> Result<(), Io> {
        Ok(())
    }

    async fn destroy(&self, _session: String) {}
}

fn small_ports() -> PortsConfig {
    let mut ports = PortsConfig::default();
    ports.ranges = vec![PortRange::new("vnc", 47900..=47909), PortRange::new("ws", 48900..=48909)];
    ports.host_check = false;
    ports
}

async fn ok() -> Result<(), Io> {
    Ok(())
}

async fn sleeper(secs: u64) -> Result<(), Io> {
    sleep_secs(secs).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn every_call_and_task_is_counted_once_by_how_it_ended() {
    let recording = Recording::new();
    let _local = recording.install();
    let gov = support::builder().max_task_duration(Duration::from_secs(10)).build().unwrap();

    gov.breaker().force_open();
    let open = gov.run(ok).await;
    assert!(matches!(open, Err(Error::Rejected(bursar::Rejection::CircuitOpen { .. }))));
    gov.breaker().reset();
    for _ in 0..2 {
        gov.run(ok).await.unwrap();
    }
    gov.spawn(ok()).unwrap().await.unwrap();
    {
        let mut abandoned = pin!(gov.run(|| sleeper(60)));
        assert!(poll_once(abandoned.as_mut()).is_none(), "running when its caller drops it");
    }
    // Three attempts (two retries), then the operation's error.
    let failed = gov.run(|| async { Err::<(), _>(io_error("driver closed the connection")) }).await;
    assert!(matches!(failed, Err(Error::Operation(_))));
    let panicked = gov.run(|| -> std::future::Ready<Result<(), Io>> { panic!("driver exploded") }).await;
    assert!(matches!(panicked, Err(Error::Panicked { .. })));
    // The breaker's fifth failure in a row: it opens, which spawned work does not pass.
    let timed_out = gov.run(|| sleeper(60)).await;
    assert!(matches!(timed_out, Err(Error::Timeout { .. })));
    let cancelled = gov.spawn(sleeper(60)).unwrap();
    tokio::task::yield_now().await;
    gov.shutdown(Duration::from_secs(1)).await;
    assert!(matches!(cancelled.await, Err(Error::Cancelled)));
    let refused = gov.run(ok).await;
    assert!(matches!(refused, Err(Error::Rejected(bursar::Rejection::ShuttingDown))));

    let recorded = recording.take();
    let expected = series(&[
        ("bursar_calls_total{outcome=abandoned}", 1),
        ("bursar_calls_total{outcome=cancelled}", 1),
        ("bursar_calls_total{outcome=error}", 1),
        ("bursar_calls_total{outcome=ok}", 3),
        ("bursar_calls_total{outcome=panic}", 1),
        ("bursar_calls_total{outcome=rejected}", 2),
        ("bursar_calls_total{outcome=timeout}", 1),
        ("bursar_rejections_total{reason=circuit_open}", 1),
        ("bursar_rejections_total{reason=shutting_down}", 1),
        ("bursar_retries_total", 2),
    ]);
    assert_eq!(recorded.counters, expected);
    // The same story as the governor's own exact counts.
    let status = gov.status().workers;
    assert_eq!(
        (status.completed, status.failed, status.timed_out, status.panicked),
        (3, 3, 1, 1),
        "failed = error + timeout + panic"
    );
    assert_eq!((status.abandoned, status.cancelled, status.rejected, status.retries), (1, 1, 2, 2));
}

#[tokio::test(start_paused = true)]
async fn rejections_are_counted_by_reason() {
    let recording = Recording::new();
    let _local = recording.install();

    let full = support::builder().max_workers(1).queue_limit(1).build().unwrap();
    let _busy = full.spawn(sleeper(60)).unwrap();
    let _queued = full.spawn(sleeper(1)).unwrap();
    let turned_away = full.run(ok).await;
    assert!(matches!(turned_away, Err(Error::Rejected(bursar::Rejection::QueueFull { limit: 1 }))));

    let slow = support::builder().max_workers(1).queue_timeout(Duration::from_secs(5)).build().unwrap();
    let _busy = slow.spawn(sleeper(60)).unwrap();
    let waited = slow.run(ok).await;
    assert!(matches!(waited, Err(Error::Rejected(bursar::Rejection::QueueTimeout { .. }))));

    let script = Script::new(97.0, 40.0, 8);
    let critical = monitored(&script).build().unwrap();
    sleep_secs(1).await; // the first sample
    assert_eq!(critical.health_level(), HealthLevel::Critical);
    let shed = critical.run(ok).await;
    assert!(matches!(shed, Err(Error::Rejected(bursar::Rejection::Overloaded { .. }))));

    let mut retry = RetryConfig::default();
    retry.budget.min_per_sec = 0;
    retry.budget.retry_ratio = 0.0;
    let frugal = support::builder().retry(retry).build().unwrap();
    for _ in 0..2 {
        let failed = frugal.run(|| async { Err::<(), _>(io_error("down")) }).await;
        assert!(matches!(failed, Err(Error::Operation(_))), "no budget: the first error, unretried");
    }

    let recorded = recording.take();
    let counted = |series: &str| recorded.counters.get(series).copied();
    assert_eq!(counted("bursar_rejections_total{reason=queue_full}"), Some(1));
    assert_eq!(counted("bursar_rejections_total{reason=queue_timeout}"), Some(1));
    assert_eq!(counted("bursar_rejections_total{reason=overloaded}"), Some(1));
    assert_eq!(counted("bursar_calls_total{outcome=rejected}"), Some(3));
    assert_eq!(counted("bursar_calls_total{outcome=error}"), Some(2));
    assert_eq!(counted("bursar_retry_budget_exhausted_total"), Some(2));
    assert_eq!(counted("bursar_retries_total"), None, "not one retry was made");
    let reasons = recorded.counters.keys().filter(|series| series.starts_with(REJECTIONS_TOTAL)).count();
    assert_eq!(reasons, 3, "no other reason was counted: {:?}", recorded.counters);
    assert_eq!(frugal.status().workers.retry_budget_exhausted, 2);
}

#[tokio::test(start_paused = true)]
async fn queue_wait_is_zero_without_a_wait_and_the_paused_wait_when_queued() {
    let recording = Recording::new();
    let _local = recording.install();
    let gov = support::builder().max_workers(1).queue_limit(1).blocking_threads(1).build().unwrap();

    gov.run(ok).await.unwrap(); // a free worker at once: 0
    let (first, second) = tokio::join!(gov.run(|| sleeper(3)), gov.run(ok));
    first.unwrap(); // 0
    second.unwrap(); // waited 3 s for the first
    let holder = gov.spawn(sleeper(4)).unwrap(); // 0
    let queued = gov.spawn(ok()).unwrap(); // waits 4 s
    let full = gov.run(ok).await; // the queue is full: no sample
    assert!(matches!(full, Err(Error::Rejected(bursar::Rejection::QueueFull { .. }))));
    holder.await.unwrap();
    queued.await.unwrap();
    let mut attempts = 0;
    let retried = gov
        .call(|| {
            attempts += 1;
            let attempt = attempts;
            async move { if attempt == 1 { Err(io_error("flaky")) } else { Ok(()) } }
        })
        .await;
    retried.unwrap(); // each attempt takes a worker: two samples of 0
    gov.spawn_blocking(|| Ok::<_, Io>(())).unwrap().await.unwrap(); // 0 in the blocking lane

    let timing_out = support::builder().max_workers(1).queue_timeout(Duration::from_secs(5)).build().unwrap();
    let _busy = timing_out.spawn(sleeper(60)).unwrap(); // 0
    let waited = timing_out.run(ok).await; // waited 5 s and was rejected: no sample
    assert!(matches!(waited, Err(Error::Rejected(bursar::Rejection::QueueTimeout { .. }))));

    let recorded = recording.take();
    let expected = series(&[
        ("bursar_queue_wait_seconds{lane=blocking}", vec![0.0]),
        ("bursar_queue_wait_seconds{lane=tasks}", vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 4.0]),
    ]);
    assert_eq!(recorded.histograms, expected);
    let unit = &recorded.described["bursar_queue_wait_seconds{lane=tasks}"].0;
    assert_eq!(*unit, Some(Unit::Seconds));
}

/// Eight callers, each making calls of exactly 100 ms, under a `gradient` limit from 1 to 8:
/// the first window of 10 sets the baseline, then each window's latency is the baseline and
/// the limit grows by 30 % (slow start) — 1.3, 1.69, 2.2, 2.86, 3.71, 4.83, 6.27, 8.16 (8) —
/// so the lane's rounded limit changes six times: 2, 3, 4, 5, 6, 8.
#[tokio::test(start_paused = true)]
async fn each_change_of_an_adaptive_limit_is_counted_by_its_reason() {
    let recording = Recording::new();
    let _local = recording.install();
    let gov = support::builder()
        .limit(bursar::LimitKind::Gradient)
        .min_workers(1)
        .max_workers(8)
        .queue_limit(100)
        .build()
        .unwrap();
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let gov = gov.clone();
        callers.spawn(async move {
            for _ in 0..20 {
                gov.run(|| async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok::<_, Io>(())
                })
                .await
                .expect("the call succeeds");
            }
        });
    }
    while let Some(caller) = callers.join_next().await {
        caller.expect("no caller panicked");
    }
    let adaptive = gov.status().workers.adaptive.expect("an adaptive limit");
    assert_eq!((adaptive.limit, adaptive.reason), (8, bursar::LimitReason::Grew));
    let recorded = recording.take();
    let changes: Vec<_> = recorded
        .counters
        .iter()
        .filter(|(series, _)| series.starts_with(WORKERS_ADAPTIVE_CHANGES_TOTAL))
        .collect();
    let grew = format!("{WORKERS_ADAPTIVE_CHANGES_TOTAL}{{reason=grew}}");
    assert_eq!(changes, [(&grew, &6)]);
}

#[tokio::test(start_paused = true)]
async fn record_metrics_sets_every_gauge_from_the_status() {
    let recording = Recording::new();
    let _local = recording.install();
    let script = Script::new(85.0, 40.0, 12); // CPU at its warning threshold: degraded
    let gov = monitored(&script).max_workers(4).blocking_threads(2).ports(small_ports()).build().unwrap();
    sleep_secs(5).await; // the first sample
    assert_eq!(gov.status().workers.effective_limit, 3, "degraded: 4 × 0.75");

    let browsers = gov.pool("browsers", Browsers).build().unwrap();
    let alice = browsers.get("alice".to_owned()).await.unwrap();
    let bob = browsers.get("bob".to_owned()).await.unwrap();
    drop(browsers.get("carol".to_owned()).await.unwrap());
    let _vnc = gov.ports().allocate("vnc").unwrap();
    gov.breaker_for("search").force_open();
    gov.breaker_for("mail").disable();
    for _ in 0..2 {
        gov.report_error(ErrorReport::new("webdriver", "session lost"));
    }
    // From here on nothing awaits, so the clock stands still: one call sleeping between
    // attempts, three holding the three workers, one queued, one blocking closure running.
    let mut retrying = pin!(gov.run(|| async { Err::<(), _>(io_error("flaky")) }));
    assert!(poll_once(retrying.as_mut()).is_none());
    let mut holders: Vec<_> =
        (0..4).map(|_| Box::pin(gov.run(std::future::pending::<Result<(), Io>>))).collect();
    for holder in &mut holders {
        assert!(poll_once(holder.as_mut()).is_none());
    }
    let (release, released) = std::sync::mpsc::channel::<()>();
    let blocking = gov.spawn_blocking(move || released.recv().map_err(Io::other)).unwrap();

    gov.record_metrics();
    let recorded = recording.take();
    let expected = series(&[
        ("bursar_blocking_active", 1.0),
        ("bursar_blocking_max", 2.0),
        ("bursar_blocking_queued", 0.0),
        ("bursar_breaker_state{key=default}", 0.0),
        ("bursar_breaker_state{key=mail}", 4.0),
        ("bursar_breaker_state{key=search}", 3.0),
        ("bursar_health_cpu_percent", 85.0),
        ("bursar_health_level", 1.0),
        ("bursar_health_memory_percent", 40.0),
        ("bursar_health_threads", 12.0),
        ("bursar_pool_connections{pool=browsers,state=active}", 2.0),
        ("bursar_pool_connections{pool=browsers,state=idle}", 1.0),
        ("bursar_pool_leaks{pool=browsers}", 0.0),
        ("bursar_pool_max_total{pool=browsers}", 20.0),
        ("bursar_pool_waiting{pool=browsers}", 0.0),
        ("bursar_ports_free{range=vnc}", 9.0),
        ("bursar_ports_free{range=ws}", 10.0),
        ("bursar_ports_leased{range=vnc}", 1.0),
        ("bursar_ports_leased{range=ws}", 0.0),
        ("bursar_ports_quarantined{range=vnc}", 0.0),
        ("bursar_ports_quarantined{range=ws}", 0.0),
        ("bursar_memory_reserved_bytes", 0.0),
        ("bursar_memory_waiting", 0.0),
        ("bursar_workers_active", 3.0),
        ("bursar_workers_effective_limit", 3.0),
        ("bursar_workers_max", 4.0),
        ("bursar_workers_queue_limit", 1000.0),
        ("bursar_workers_queued", 1.0),
        ("bursar_workers_retrying", 1.0),
    ]);
    assert_eq!(recorded.gauges, expected, "no error rate: too few calls for one");
    let counted = |series: &str| recorded.counters.get(series).copied();
    assert_eq!(counted("bursar_health_errors_total"), Some(2));
    assert_eq!(counted("bursar_health_recoveries_total"), Some(0));
    assert_eq!(counted("bursar_retries_total"), None, "a retry counts when it runs, not while it sleeps");
    // Units are the descriptions test's business; here, every series recorded has its help.
    for (series, (_, description)) in &recorded.described {
        assert!(description.is_some(), "{series} has no help text");
    }

    release.send(()).unwrap();
    blocking.await.unwrap();
    drop((alice, bob, holders));
}

#[tokio::test(start_paused = true)]
async fn an_open_and_a_half_open_breaker_have_their_own_gauge_values() {
    let recording = Recording::new();
    let _local = recording.install();
    let gov = support::builder().max_attempts(1).build().unwrap();
    for key in ["open", "probing"] {
        for _ in 0..5 {
            let failed = gov.call(|| async { Err::<(), _>(io_error("down")) }).key(key).await;
            assert!(matches!(failed, Err(Error::Operation(_))));
        }
    }
    sleep_secs(120).await; // both waits are over; "probing" lets its probe in
    let mut probe = pin!(gov.call(std::future::pending::<Result<(), Io>>).key("probing").run());
    assert!(poll_once(probe.as_mut()).is_none());
    gov.record_metrics();
    let gauges = recording.take().gauges;
    let state = |key: &str| gauges.get(&format!("bursar_breaker_state{{key={key}}}")).copied();
    assert_eq!((state("default"), state("open"), state("probing")), (Some(0.0), Some(2.0), Some(1.0)));
}

#[tokio::test(start_paused = true)]
async fn the_monitor_publishes_the_gauges_after_every_sample() {
    let recording = Recording::new();
    let _local = recording.install();
    let script = Script::new(10.0, 20.0, 6);
    let gov = monitored(&script).max_workers(4).build().unwrap();

    gov.record_metrics(); // before the monitor's first sample: nothing is known
    let before = recording.take();
    assert_eq!(before.gauges.get("bursar_health_level"), Some(&-1.0), "unknown");
    for unknown in [HEALTH_CPU_PERCENT, HEALTH_MEMORY_PERCENT, HEALTH_THREADS, HEALTH_ERROR_RATE] {
        assert!(!before.gauges.contains_key(unknown), "{unknown} set before any reading");
    }

    sleep_secs(5).await; // the first sample, at 0 s; no call to `record_metrics`
    let healthy = recording.take();
    let published = |recorded: &Recorded, series: &str| recorded.gauges.get(series).copied();
    assert_eq!(published(&healthy, HEALTH_LEVEL), Some(0.0));
    assert_eq!(published(&healthy, HEALTH_CPU_PERCENT), Some(10.0));
    assert_eq!(published(&healthy, HEALTH_MEMORY_PERCENT), Some(20.0));
    assert_eq!(published(&healthy, HEALTH_THREADS), Some(6.0));
    assert_eq!(published(&healthy, WORKERS_EFFECTIVE_LIMIT), Some(4.0));

    script.set(97.0, 20.0, 7);
    sleep_secs(10).await; // the sample at 10 s: critical, the limit halved
    let critical = recording.take();
    assert_eq!(published(&critical, HEALTH_LEVEL), Some(3.0));
    assert_eq!(published(&critical, HEALTH_CPU_PERCENT), Some(97.0));
    assert_eq!(published(&critical, HEALTH_THREADS), Some(7.0));
    assert_eq!(published(&critical, WORKERS_EFFECTIVE_LIMIT), Some(2.0));

    gov.shutdown(Duration::from_secs(1)).await;
    sleep_secs(60).await; // six intervals: a stopped monitor publishes nothing
    assert_eq!(published(&recording.take(), HEALTH_LEVEL), Some(0.0), "not set since the last take");
}

#[tokio::test(start_paused = true)]
async fn the_limits_readings_are_gauges_and_a_limit_not_enforced_stays_unset() {
    let recording = Recording::new();
    let _local = recording.install();
    let script = Script::new(10.0, 20.0, 6);
    let mut readings = Readings::new(10.0, 20.0, 6);
    (readings.fds_percent, readings.supervised_processes) = (Some(42.5), Some(3));
    *script.0.lock().unwrap() = readings;
    let _gov = monitored(&script).build().unwrap();
    sleep_secs(5).await; // the first sample, published by the monitor
    let gauges = recording.take().gauges;
    let published = |series: &str| gauges.get(series).copied();
    assert_eq!(published(HEALTH_FDS_PERCENT), Some(42.5));
    assert_eq!(published(HEALTH_SUPERVISED_PROCESSES), Some(3.0));
    assert_eq!(published(HEALTH_NPROC_PERCENT), None, "no process limit enforced: not a 0");
}

/// Captures `describe_*` calls; records nothing.
#[derive(Debug, Default)]
struct Descriptions(Mutex<BTreeMap<String, (MetricKind, Option<Unit>)>>);

impl Descriptions {
    fn describe(&self, kind: MetricKind, key: KeyName, unit: Option<Unit>) {
        self.0.lock().unwrap().insert(key.as_str().to_owned(), (kind, unit));
    }
}

impl Recorder for Descriptions {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(MetricKind::Counter, key, unit);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(MetricKind::Gauge, key, unit);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(MetricKind::Histogram, key, unit);
    }
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[tokio::test]
async fn building_a_governor_describes_every_metric_of_the_table() {
    let descriptions = Descriptions::default();
    let local = metrics::set_default_local_recorder(&descriptions);
    let _gov = support::builder().build().unwrap();
    drop(local);

    use MetricKind::{Counter as C, Gauge as G, Histogram as H};
    let (count, seconds, percent) = (Some(Unit::Count), Some(Unit::Seconds), Some(Unit::Percent));
    let table = [
        (CALLS_TOTAL, C, count),
        (REJECTIONS_TOTAL, C, count),
        (RETRIES_TOTAL, C, count),
        (RETRY_BUDGET_EXHAUSTED_TOTAL, C, count),
        (QUEUE_WAIT_SECONDS, H, seconds),
        (WORKERS_MAX, G, count),
        (WORKERS_EFFECTIVE_LIMIT, G, count),
        (WORKERS_ACTIVE, G, count),
        (WORKERS_QUEUED, G, count),
        (WORKERS_QUEUE_LIMIT, G, count),
        (WORKERS_RETRYING, G, count),
        (BLOCKING_MAX, G, count),
        (BLOCKING_ACTIVE, G, count),
        (BLOCKING_QUEUED, G, count),
        (BREAKER_STATE, G, None),
        (POOL_CONNECTIONS, G, count),
        (POOL_WAITING, G, count),
        (POOL_MAX_TOTAL, G, count),
        (POOL_LEAKS, G, count),
        (PORTS_LEASED, G, count),
        (PORTS_FREE, G, count),
        (PORTS_QUARANTINED, G, count),
        (WORKERS_ADAPTIVE_LIMIT, G, count),
        (WORKERS_ADAPTIVE_CHANGES_TOTAL, C, count),
        (WORKERS_ADAPTIVE_BASELINE_SECONDS, G, Some(Unit::Seconds)),
        (WORKERS_ADAPTIVE_SAMPLE_SECONDS, G, Some(Unit::Seconds)),
        (HEALTH_LEVEL, G, None),
        (HEALTH_CPU_PERCENT, G, percent),
        (HEALTH_MEMORY_PERCENT, G, percent),
        (HEALTH_THREADS, G, count),
        (HEALTH_FDS_PERCENT, G, percent),
        (HEALTH_NPROC_PERCENT, G, percent),
        (HEALTH_SUPERVISED_PROCESSES, G, count),
        (HEALTH_ERROR_RATE, G, None),
        (HEALTH_ERRORS_TOTAL, C, count),
        (HEALTH_RECOVERIES_TOTAL, C, count),
        (MEMORY_RESERVED_BYTES, G, Some(Unit::Bytes)),
        (MEMORY_WAITING, G, count),
        (MEMORY_AVAILABLE_BYTES, G, Some(Unit::Bytes)),
        (MEMORY_FLOOR_BYTES, G, Some(Unit::Bytes)),
        (FLEET_BACKEND_UP, G, None),
        (FLEET_LEASES_HELD, G, count),
        (FLEET_LIVE_INSTANCES, G, count),
        (FLEET_LEASES_LOST_TOTAL, C, count),
        (FLEET_FALLBACKS_TOTAL, C, count),
        (FLEET_REFUSED_TOTAL, C, count),
        (FLEET_BACKEND_ERRORS_TOTAL, C, count),
    ];
    let expected: BTreeMap<String, (MetricKind, Option<Unit>)> =
        table.into_iter().map(|(name, kind, unit)| (name.to_owned(), (kind, unit))).collect();
    assert_eq!(*descriptions.0.lock().unwrap(), expected);
}

#[tokio::test(start_paused = true)]
async fn prometheus_renders_the_counters_gauges_and_help_lines() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let prometheus = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let gov = support::builder().max_workers(3).build().unwrap();
    for _ in 0..2 {
        gov.run(ok).await.unwrap();
    }
    gov.record_metrics();

    let text = prometheus.render();
    for line in [
        "# HELP bursar_calls_total Governed calls and spawned tasks that ended, by outcome.",
        "# TYPE bursar_calls_total counter",
        "bursar_calls_total{outcome=\"ok\"} 2",
        "# TYPE bursar_workers_max gauge",
        "bursar_workers_max 3",
        "bursar_breaker_state{key=\"default\"} 0",
        "bursar_health_level -1",
        "bursar_queue_wait_seconds_count{lane=\"tasks\"} 2",
    ] {
        assert!(text.lines().any(|rendered| rendered == line), "no line `{line}` in:\n{text}");
    }
}

#[tokio::test(start_paused = true)]
async fn without_a_recorder_the_call_path_and_its_counts_are_unchanged() {
    let gov = support::builder().max_workers(1).queue_limit(1).build().unwrap();
    gov.run(ok).await.unwrap();
    let failed = gov.run(|| async { Err::<(), _>(io_error("down")) }).await;
    assert!(matches!(failed, Err(Error::Operation(_))));
    let busy = gov.spawn(sleeper(2)).unwrap();
    let queued = gov.spawn(ok()).unwrap();
    assert!(gov.run(ok).await.is_err(), "the queue is full");
    until(|| gov.status().workers.active == 1).await;
    gov.record_metrics();
    busy.await.unwrap();
    queued.await.unwrap();

    let status = gov.status().workers;
    assert_eq!((status.completed, status.failed, status.retries, status.rejected_queue_full), (3, 1, 2, 1));
    assert_eq!((status.active, status.queued, status.in_flight), (0, 0, 0));
}

/// A recorder that panics whenever a metric is registered: user code, contained.
struct PanickingRecorder;

impl Recorder for PanickingRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        panic!("the recorder broke")
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        panic!("the recorder broke")
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        panic!("the recorder broke")
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_recorder_is_contained_and_counted() {
    let _local = metrics::set_default_local_recorder(&PanickingRecorder);
    let gov = support::builder().build().unwrap();
    assert_eq!(gov.run(|| async { Ok::<_, Io>(3) }).await.unwrap(), 3, "the call is not hurt");
    assert_eq!(
        gov.status().callbacks.panics.get("metrics_recorder"),
        Some(&2),
        "its queue wait and its outcome"
    );
    gov.record_metrics();
    assert_eq!(
        gov.status().callbacks.panics.get("metrics_recorder"),
        Some(&3),
        "the gauges stop at the first"
    );
    assert_eq!(gov.status().workers.completed, 1);
}

/// A fleet backend that grants every lease while up, and is unreachable while down.
#[derive(Debug, Default)]
struct Switch {
    down: std::sync::atomic::AtomicBool,
    tokens: std::sync::atomic::AtomicU64,
}

impl Switch {
    fn answer<T: Send + 'static>(&self, value: T) -> BackendFuture<'static, T> {
        let down = self.down.load(std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            match down {
                true => Err(FleetError::Unreachable { reason: "connection refused".to_owned() }),
                false => Ok(value),
            }
        })
    }
}

impl FleetBackend for Switch {
    fn acquire<'a>(&'a self, _lease: LeaseRequest<'a>) -> BackendFuture<'a, Acquire> {
        let token = self.tokens.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        self.answer(Acquire::Granted { token: FencingToken::new(token), live_instances: 1 })
    }
    fn renew<'a>(&'a self, _lease: LeaseRequest<'a>) -> BackendFuture<'a, Renewal> {
        self.answer(Renewal::Renewed { live_instances: 1 })
    }
    fn release<'a>(&'a self, _resource: &'a str, _lease_id: &'a str) -> BackendFuture<'a, bool> {
        self.answer(true)
    }
    fn live_leases<'a>(&'a self, _resource: &'a str) -> BackendFuture<'a, u64> {
        self.answer(0)
    }
    fn heartbeat<'a>(
        &'a self,
        _resource: &'a str,
        _instance: &'a str,
        _ttl: Duration,
    ) -> BackendFuture<'a, u32> {
        self.answer(1)
    }
    fn leave<'a>(&'a self, _resource: &'a str, _instance: &'a str) -> BackendFuture<'a, bool> {
        self.answer(true)
    }
}

/// The fleet section is gauges and counters labelled by resource: the backend up then down, a
/// lease held, and a call run without a lease while the backend was down.
#[tokio::test(start_paused = true)]
async fn the_fleet_resource_is_gauges_and_counters() {
    let recording = Recording::new();
    let _local = recording.install();
    let backend = std::sync::Arc::new(Switch::default());
    let gov = Governor::builder()
        .health(HealthConfig::disabled())
        .fleet(FleetConfig::new("browsers", 4))
        .fleet_backend(std::sync::Arc::clone(&backend) as std::sync::Arc<dyn FleetBackend>)
        .build()
        .unwrap();
    let fleet = || gov.status().fleet.expect("a fleet section");
    gov.record_metrics();
    let before = recording.take();
    assert_eq!(before.gauges.get("bursar_fleet_backend_up{resource=browsers}"), None, "not asked yet");
    let held = tokio::spawn({
        let gov = gov.clone();
        async move { gov.run(std::future::pending::<Result<(), Io>>).await }
    });
    until(|| fleet().leases_held == 1 && fleet().live_instances == Some(1)).await;
    gov.record_metrics();
    let up = recording.take();
    let fleet_series = |recorded: &BTreeMap<String, f64>| -> BTreeMap<String, f64> {
        recorded
            .iter()
            .filter(|(series, _)| series.starts_with("bursar_fleet"))
            .map(|(s, v)| (s.clone(), *v))
            .collect()
    };
    let expected = series(&[
        ("bursar_fleet_backend_up{resource=browsers}", 1.0),
        ("bursar_fleet_leases_held{resource=browsers}", 1.0),
        ("bursar_fleet_live_instances{resource=browsers}", 1.0),
    ]);
    assert_eq!(fleet_series(&up.gauges), expected);
    let totals = |recorded: &Recorded| -> Vec<u64> {
        ["leases_lost", "fallbacks", "refused", "backend_errors"]
            .map(|name| recorded.counters[&format!("bursar_fleet_{name}_total{{resource=browsers}}")])
            .to_vec()
    };
    assert_eq!(totals(&up), [0, 0, 0, 0]);

    backend.down.store(true, std::sync::atomic::Ordering::SeqCst);
    gov.run(|| async { Ok::<_, Io>(()) }).await.expect("local_share: run without a lease");
    // A take reads every series as 0 afterwards: a value other than 0 shows the down state set
    // it; and two publishes show the totals set whole, not added.
    metrics::gauge!(FLEET_BACKEND_UP, "resource" => "browsers").set(7.0);
    gov.record_metrics();
    gov.record_metrics();
    let down = recording.take();
    let status = fleet();
    assert_eq!(down.gauges["bursar_fleet_backend_up{resource=browsers}"], 0.0);
    assert_eq!(totals(&down), [0, 1, 0, status.backend_errors]);
    // The acquire failed, and so did the give-back of the lease id it asked for.
    assert_eq!((status.fallbacks, status.backend_errors), (1, 2));
    held.abort();
}

/// Memory-aware admission is gauges: the bytes reserved, the work waiting, and the reading's
/// available memory and floor once a sample has them.
#[tokio::test(start_paused = true)]
async fn memory_admission_is_gauges() {
    const GB: u64 = 1 << 30;
    let recording = Recording::new();
    let _local = recording.install();
    let mut readings = Readings::new(10.0, 70.0, 8);
    (readings.memory_available, readings.memory_total) = (Some(3 * GB), Some(10 * GB));
    let script = Script(std::sync::Arc::new(Mutex::new(readings)));
    let health = HealthConfig::default().interval(INTERVAL).memory_floor(10.0);
    let gov = Governor::builder().health(health).sampler(script).build().unwrap();
    sleep_secs(1).await; // the first sample
    let mut running = pin!(gov.call(std::future::pending::<Result<(), Io>>).cost(2 * GB).into_future());
    assert!(poll_once(running.as_mut()).is_none());
    let mut waiting = pin!(gov.call(std::future::pending::<Result<(), Io>>).cost(GB).into_future());
    assert!(poll_once(waiting.as_mut()).is_none());
    gov.record_metrics();
    let recorded = recording.take();
    let memory: BTreeMap<String, f64> =
        recorded.gauges.into_iter().filter(|(series, _)| series.starts_with("bursar_memory")).collect();
    let expected = series(&[
        ("bursar_memory_available_bytes", (3 * GB) as f64),
        ("bursar_memory_floor_bytes", GB as f64),
        ("bursar_memory_reserved_bytes", (2 * GB) as f64),
        ("bursar_memory_waiting", 1.0),
    ]);
    assert_eq!(memory, expected);
}

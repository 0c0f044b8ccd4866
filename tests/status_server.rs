//! The status server's routes (`examples/status_server/routes.rs`), served on an ephemeral port
//! of 127.0.0.1 and asked over real HTTP (`examples/status_server/client.rs`): every route's
//! status code, content type and body, and `/health` and `/health/ready` turning 503 at the
//! levels the example documents — CRITICAL among them.
//!
//! Levels are driven by an injected [`Sampler`] whose readings the test sets. The tests on a
//! paused clock never sleep for a fixed time: they wait for the level on `watch_health`, and the
//! clock jumps to the monitor's next sample.
//!
//! The Prometheus recorder is process-wide, so it is installed once, and the tests run one at a
//! time (gauges are set by whichever governor records last). Counters add up across the tests
//! of this binary, so each counter a test asserts is moved by that test alone: only
//! [`every_route_answers_with_exact_values_while_healthy`] makes successful calls, only
//! [`each_level_gets_its_documented_code_and_critical_sheds_calls`] has a call rejected.

#[path = "../examples/status_server/client.rs"]
mod client;
#[path = "../examples/status_server/routes.rs"]
mod routes;

use std::io;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::http::StatusCode;
use bursar::health::{HealthConfig, HealthLevel, Readings, Sampler};
use bursar::{Error, Governor, Rejection};
use client::StatusClient;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::timeout;

const INTERVAL: Duration = Duration::from_secs(10);
const JSON: &str = "application/json";
/// The most a test waits for a level: clock time, which a paused clock skips through.
const LEVEL_WAIT: Duration = Duration::from_secs(30);

/// Waits for the other tests of this binary to finish (they share the recorder's gauges) and
/// makes sure the recorder is installed before the test builds a governor.
async fn alone() -> tokio::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let guard = ONE_AT_A_TIME.lock().await;
    prometheus();
    guard
}

/// The process-wide recorder, installed by the first test that needs it.
fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| routes::install_prometheus().expect("the only recorder of this process")).clone()
}

/// Readings the test sets; the monitor reads them at each sample.
#[derive(Debug, Clone)]
struct Script(Arc<Mutex<Readings>>);

impl Script {
    fn new(cpu: f64, memory: f64, threads: usize) -> Self {
        Script(Arc::new(Mutex::new(Readings::new(cpu, memory, threads))))
    }

    fn set(&self, cpu: f64, memory: f64) {
        let mut readings = self.0.lock().unwrap();
        *readings = Readings::new(cpu, memory, readings.threads.unwrap());
    }
}

impl Sampler for Script {
    async fn sample(&mut self) -> Readings {
        *self.0.lock().unwrap()
    }
}

/// Answers nothing until the test opens it, then `readings` every time.
#[derive(Debug, Clone)]
struct Gated {
    open: Arc<Semaphore>,
    readings: Readings,
}

impl Sampler for Gated {
    async fn sample(&mut self) -> Readings {
        let _open = self.open.acquire().await.unwrap();
        self.readings
    }
}

/// Ten workers (the default), the monitor every `interval`, readings from `sampler`.
fn governor(interval: Duration, sampler: impl Sampler) -> Governor {
    let mut health = HealthConfig::default();
    health.interval = interval;
    Governor::builder().health(health).sampler(sampler).build().unwrap()
}

/// The routes over `gov`, served on an ephemeral port until the task is aborted.
struct Server {
    client: StatusClient,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(gov: &Governor) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = StatusClient::new(listener.local_addr().unwrap());
        let app = routes::router(gov.clone(), prometheus());
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { client, task }
    }

    /// `GET path`: the status code and the body, which must be JSON and say so.
    async fn json(&self, path: &str) -> (StatusCode, Value) {
        let answer = self.client.get(path).await.unwrap();
        assert_eq!(answer.content_type, JSON, "GET {path}");
        (answer.status, answer.json().unwrap())
    }

    /// `GET /metrics`: must be 200 in the Prometheus text format.
    async fn metrics(&self) -> String {
        let answer = self.client.get("/metrics").await.unwrap();
        assert_eq!((answer.status, answer.content_type.as_str()), (StatusCode::OK, routes::PROMETHEUS_TEXT));
        answer.body
    }

    /// The three health routes at `level`, live: `/health` and `/health/ready` answer `code`
    /// (ready exactly when it is 200) and the readiness probe's answer `probe`, `/health/live`
    /// 200.
    async fn assert_health(&self, level: &str, code: StatusCode, probe: &str) {
        let ready = code == StatusCode::OK;
        let (status, health) = self.json("/health").await;
        let fields = (&health["status"], &health["ready"], &health["live"]);
        assert_eq!((status, fields), (code, (&json!(level), &json!(ready), &json!(true))), "{level}");
        let ready_body = json!({ "ready": ready, "probe": probe, "status": level });
        assert_eq!(self.json("/health/ready").await, (code, ready_body), "{level}");
        let live = json!({ "live": true, "probe": "pass" });
        assert_eq!(self.json("/health/live").await, (StatusCode::OK, live), "{level}");
    }

    async fn stop(self, gov: &Governor) {
        self.task.abort();
        gov.shutdown(Duration::from_secs(1)).await;
    }
}

async fn wait_for_level(gov: &Governor, level: HealthLevel) {
    let mut levels = gov.watch_health();
    let reached = timeout(LEVEL_WAIT, levels.wait_for(|now| *now == level)).await;
    assert!(reached.is_ok(), "the level did not become {level} (it is {})", gov.health_level());
}

#[track_caller]
fn assert_line(metrics: &str, line: &str) {
    assert!(metrics.lines().any(|each| each == line), "no line {line:?} in /metrics:\n{metrics}");
}

#[tokio::test(start_paused = true)]
async fn every_route_answers_with_exact_values_while_healthy() {
    let _alone = alone().await;
    let gov = governor(INTERVAL, Script::new(12.5, 40.0, 7));
    wait_for_level(&gov, HealthLevel::Healthy).await;
    for _ in 0..3 {
        gov.run(|| async { Ok::<_, io::Error>(()) }).await.unwrap();
    }
    let server = Server::start(&gov).await;

    let (status, health) = server.json("/health").await;
    assert_eq!(status, StatusCode::OK);
    let expected = json!({ "status": "healthy", "cpu_percent": 12.5, "memory_percent": 40.0,
        "active_threads": 7, "error_rate": null, "total_errors": 0, "total_recoveries": 0,
        "live": true, "ready": true });
    for (field, value) in expected.as_object().unwrap() {
        assert_eq!(&health[field], value, "/health {field}");
    }
    assert_eq!(server.json("/health/live").await, (StatusCode::OK, json!({ "live": true, "probe": "pass" })));
    let ready = json!({ "ready": true, "probe": "pass", "status": "healthy" });
    assert_eq!(server.json("/health/ready").await, (StatusCode::OK, ready));

    let (status, snapshot) = server.json("/api/system/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(snapshot, serde_json::to_value(gov.status()).unwrap(), "the whole status()");
    let workers = &snapshot["workers"];
    let counts = ["max_workers", "effective_limit", "active", "queued", "completed", "failed", "rejected"];
    assert_eq!(counts.map(|field| workers[field].as_u64().unwrap()), [10, 10, 0, 0, 3, 0, 0]);
    assert_eq!(
        (&snapshot["health"]["status"], &snapshot["health"]["cpu_percent"]),
        (&json!("healthy"), &json!(12.5))
    );
    assert_eq!(snapshot["ports"]["vnc"], json!({ "leased": 0, "free": 100, "quarantined": 0 }));
    assert_eq!(snapshot["breakers"]["default"]["state"], json!("closed"));

    let metrics = server.metrics().await;
    let lines = [
        "bursar_calls_total{outcome=\"ok\"} 3",
        "bursar_queue_wait_seconds_count{lane=\"tasks\"} 3",
        "bursar_workers_max 10",
        "bursar_workers_effective_limit 10",
        "bursar_workers_active 0",
        "bursar_workers_queued 0",
        "bursar_breaker_state{key=\"default\"} 0",
        "bursar_ports_leased{range=\"vnc\"} 0",
        "bursar_ports_free{range=\"vnc\"} 100",
        "bursar_health_level 0",
        "bursar_health_cpu_percent 12.5",
        "bursar_health_memory_percent 40",
        "bursar_health_threads 7",
    ];
    for line in lines {
        assert_line(&metrics, line);
    }
    assert!(metrics.contains("# HELP bursar_calls_total"), "described:\n{metrics}");

    let missing = server.client.get("/nope").await.unwrap();
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    server.stop(&gov).await;
}

#[tokio::test(start_paused = true)]
async fn each_level_gets_its_documented_code_and_critical_sheds_calls() {
    let _alone = alone().await;
    let script = Script::new(10.0, 10.0, 5);
    let gov = governor(INTERVAL, script.clone());
    wait_for_level(&gov, HealthLevel::Healthy).await;
    let server = Server::start(&gov).await;
    server.assert_health("healthy", StatusCode::OK, "pass").await;

    let steps = [
        ((85.0, 10.0), HealthLevel::Degraded, StatusCode::OK, "pass"),
        ((85.0, 90.0), HealthLevel::Unhealthy, StatusCode::SERVICE_UNAVAILABLE, "fail: health is unhealthy"),
        ((97.0, 10.0), HealthLevel::Critical, StatusCode::SERVICE_UNAVAILABLE, "fail: health is critical"),
    ];
    for ((cpu, memory), level, code, probe) in steps {
        script.set(cpu, memory);
        wait_for_level(&gov, level).await;
        server.assert_health(&level.to_string(), code, probe).await;
    }

    let shed = gov.run(|| async { Ok::<_, io::Error>(()) }).await.unwrap_err();
    assert!(matches!(shed, Error::Rejected(Rejection::Overloaded { level: HealthLevel::Critical })));
    let (status, health) = server.json("/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let readings = ["cpu_percent", "memory_percent", "active_threads", "emergency_recoveries"];
    assert_eq!(readings.map(|field| health[field].as_f64().unwrap()), [97.0, 10.0, 5.0, 1.0]);
    let (status, snapshot) = server.json("/api/system/status").await;
    assert_eq!(status, StatusCode::OK, "the status itself is always 200");
    let workers = &snapshot["workers"];
    let counts = ["effective_limit", "completed", "rejected", "rejected_overloaded"];
    assert_eq!(counts.map(|field| workers[field].as_u64().unwrap()), [5, 0, 1, 1]);

    let metrics = server.metrics().await;
    let lines = [
        "bursar_health_level 3",
        "bursar_health_cpu_percent 97",
        "bursar_health_memory_percent 10",
        "bursar_health_threads 5",
        "bursar_workers_effective_limit 5",
        "bursar_calls_total{outcome=\"rejected\"} 1",
        "bursar_rejections_total{reason=\"overloaded\"} 1",
    ];
    for line in lines {
        assert_line(&metrics, line);
    }
    server.stop(&gov).await;
}

/// On a real clock, so that the first sample cannot give up: with a sampling interval of an
/// hour the monitor waits that long for the gated sampler, and the test is over long before.
#[tokio::test]
async fn unknown_before_the_first_reading_is_503_until_the_sampler_answers() {
    let _alone = alone().await;
    let open = Arc::new(Semaphore::new(0));
    let gov = governor(
        Duration::from_secs(3600),
        Gated { open: Arc::clone(&open), readings: Readings::new(20.0, 30.0, 4) },
    );
    let server = Server::start(&gov).await;
    server.assert_health("unknown", StatusCode::SERVICE_UNAVAILABLE, "fail: health is not known yet").await;
    let (_, health) = server.json("/health").await;
    let readings = ["cpu_percent", "memory_percent", "active_threads", "error_rate"];
    assert_eq!(
        readings.map(|field| health[field].clone()),
        [Value::Null, Value::Null, Value::Null, Value::Null]
    );
    assert_line(&server.metrics().await, "bursar_health_level -1");

    open.add_permits(1);
    wait_for_level(&gov, HealthLevel::Healthy).await;
    server.assert_health("healthy", StatusCode::OK, "pass").await;
    assert_line(&server.metrics().await, "bursar_health_level 0");
    server.stop(&gov).await;
}

#[tokio::test(start_paused = true)]
async fn with_the_monitor_off_health_is_200_until_shutdown_makes_it_503() {
    let _alone = alone().await;
    let gov = Governor::builder().health(HealthConfig::disabled()).build().unwrap();
    let server = Server::start(&gov).await;
    server.assert_health("unknown", StatusCode::OK, "pass").await;
    assert_line(&server.metrics().await, "bursar_health_level -1");

    let report = gov.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report.finished + report.cancelled, 0);
    let shutting_down = "fail: the governor is shutting down";
    server.assert_health("unknown", StatusCode::SERVICE_UNAVAILABLE, shutting_down).await;
    let (status, snapshot) = server.json("/api/system/status").await;
    assert_eq!((status, &snapshot["health"]["ready"]), (StatusCode::OK, &json!(false)));
    server.stop(&gov).await;
}

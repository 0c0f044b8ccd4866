//! The status routes: five read-only endpoints over one [`Governor`].
//!
//! | route | answer |
//! |---|---|
//! | `GET /health` | the health section of `status()` as JSON; 200 when live and ready, else 503 |
//! | `GET /health/live` | `{"live": bool}`; 200 when [`Governor::liveness`] is true, else 503 |
//! | `GET /health/ready` | `{"ready": bool, "status": level}`; 200 when [`Governor::readiness`], else 503 |
//! | `GET /api/system/status` | the whole [`Governor::status`] snapshot as JSON, always 200 |
//! | `GET /metrics` | every `bursar_*` metric in the Prometheus text format, always 200 |
//!
//! The rule for `/health` is the library's own probes, combined: the service is well when an
//! orchestrator would both keep it running (live) and send it traffic (ready). With the health
//! monitor on, that makes `healthy` and `degraded` 200, and `unhealthy`, `critical` and
//! `unknown` (no reading yet) 503; a stuck monitor (not live) or a shutdown (not ready) is 503
//! at any level. With the monitor off the level stays `unknown` and nothing is gated, so the
//! answer is 200 until shutdown.
//!
//! Shared by `examples/status_server/main.rs` and `tests/status_server.rs`.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bursar::Governor;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;

/// The content type of the Prometheus text exposition format.
pub(crate) const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4";

/// Bucket bounds of the `bursar_queue_wait_seconds` histogram: 1 ms to 10 s.
const QUEUE_WAIT_BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

/// What every route reads: the governor and the Prometheus recorder's handle.
#[derive(Debug, Clone)]
struct StatusState {
    governor: Governor,
    prometheus: PrometheusHandle,
}

/// The five routes over `governor`; `/metrics` renders `prometheus`.
pub(crate) fn router(governor: Governor, prometheus: PrometheusHandle) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/api/system/status", get(system_status))
        .route("/metrics", get(metrics))
        .with_state(StatusState { governor, prometheus })
}

/// Installs the process-wide Prometheus recorder (once per process: a second call fails) with
/// real buckets for the queue-wait histogram, and returns the handle that renders it.
///
/// The caller runs [`PrometheusHandle::run_upkeep`] now and then (every few seconds).
pub(crate) fn install_prometheus() -> Result<PrometheusHandle, BuildError> {
    let queue_wait = Matcher::Full("bursar_queue_wait_seconds".to_owned());
    PrometheusBuilder::new().set_buckets_for_metric(queue_wait, &QUEUE_WAIT_BUCKETS)?.install_recorder()
}

/// 200 when `ok`, else 503.
fn code(ok: bool) -> StatusCode {
    if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }
}

/// `GET /health`: the level, readings and totals; 200 when live and ready.
async fn health(State(state): State<StatusState>) -> Response {
    let health = state.governor.status().health;
    (code(health.live && health.ready), Json(health)).into_response()
}

/// `GET /health/live`: the liveness probe.
async fn live(State(state): State<StatusState>) -> Response {
    let live = state.governor.liveness();
    (code(live.passed()), Json(json!({ "live": live.passed(), "probe": live.to_string() }))).into_response()
}

/// `GET /health/ready`: the readiness probe and the level behind it.
async fn ready(State(state): State<StatusState>) -> Response {
    let ready = state.governor.readiness();
    let level = state.governor.health_level();
    let body = json!({ "ready": ready.passed(), "probe": ready.to_string(), "status": level });
    (code(ready.passed()), Json(body)).into_response()
}

/// `GET /api/system/status`: the whole snapshot.
async fn system_status(State(state): State<StatusState>) -> Json<bursar::Status> {
    Json(state.governor.status())
}

/// `GET /metrics`: refreshes the gauges from a snapshot, then renders every metric.
async fn metrics(State(state): State<StatusState>) -> Response {
    state.governor.record_metrics();
    ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], state.prometheus.render()).into_response()
}

//! Counters, gauges and a histogram through the [`metrics`](https://docs.rs/metrics) facade
//! (feature `metrics`).
//!
//! bursar records into whatever recorder the service installs — a Prometheus exporter, a
//! StatsD bridge, a test's recording one. Without a recorder every record is a no-op: the
//! facade finds none and returns at once, and the call path builds no key and allocates
//! nothing (the per-call metrics have fixed labels).
//!
//! Two kinds of metric, two ways of keeping them fresh:
//!
//! - **Events** are recorded as they happen: every call's end, every rejection and retry, and
//!   every wait for a worker.
//! - **Gauges** are read from a fresh [`Governor::status`](crate::Governor::status) by
//!   [`Governor::record_metrics`](crate::Governor::record_metrics). The health monitor calls it
//!   after each sample, so with the monitor on they are never older than one interval; call it
//!   before a scrape for an exact reading.
//!
//! # The metrics
//!
//! | name | kind | labels | unit | meaning |
//! |---|---|---|---|---|
//! | `bursar_calls_total` | counter | `outcome` | count | governed calls and spawned tasks that ended, one each: `ok`, `error` (the operation's error), `timeout`, `panic`, `cancelled` (by shutdown), `abandoned` (dropped by the caller), `rejected` |
//! | `bursar_rejections_total` | counter | `reason` | count | calls turned away: `queue_full`, `queue_timeout`, `shutting_down`, `overloaded` (health critical), `circuit_open`, `fleet_unavailable`, `cost_too_high`; they add up to `bursar_calls_total{outcome="rejected"}` |
//! | `bursar_retries_total` | counter | | count | retries made (attempts after a call's first) |
//! | `bursar_retry_budget_exhausted_total` | counter | | count | calls that stopped retrying because the retry budget was spent |
//! | `bursar_queue_wait_seconds` | histogram | `lane`: `tasks`, `blocking` | seconds | from taking a place in the queue to getting a worker, one sample per worker taken (each attempt of a call takes one); a free worker at once is `0` (the clock is not read), a wait that ends in a rejection records nothing |
//! | `bursar_workers_max` | gauge | | count | the configured `max_workers` |
//! | `bursar_workers_effective_limit` | gauge | | count | the worker limit in force (health shrinks it) |
//! | `bursar_workers_adaptive_limit` | gauge | | count | an adaptive algorithm's worker limit (`workers.limit` other than `fixed`) |
//! | `bursar_workers_adaptive_baseline_seconds` | gauge | | seconds | the adaptive algorithm's baseline latency |
//! | `bursar_workers_adaptive_sample_seconds` | gauge | | seconds | the last window's median latency |
//! | `bursar_workers_adaptive_changes_total` | counter | `reason`: `started`, `grew`, `latency_rose`, `overloaded`, `probing`, `probed` | count | changes of the adaptive worker limit, by why |
//! | `bursar_workers_active` | gauge | | count | operations holding a worker |
//! | `bursar_workers_queued` | gauge | | count | calls waiting for a worker |
//! | `bursar_workers_queue_limit` | gauge | | count | the most calls that may wait (`queue_limit`) |
//! | `bursar_workers_retrying` | gauge | | count | calls sleeping between attempts (holding no worker) |
//! | `bursar_blocking_max` | gauge | | count | the most blocking closures that run at once |
//! | `bursar_blocking_active` | gauge | | count | blocking closures running |
//! | `bursar_blocking_queued` | gauge | | count | blocking closures waiting for a thread |
//! | `bursar_breaker_state` | gauge | `key`: `default` or the call's key | | `0` closed, `1` half open, `2` open, `3` forced open, `4` disabled |
//! | `bursar_pool_connections` | gauge | `pool`, `state`: `active`, `idle` | count | connections of each governed pool, leased out or idle |
//! | `bursar_pool_waiting` | gauge | `pool` | count | `get`s waiting for a connection |
//! | `bursar_pool_max_total` | gauge | `pool` | count | the pool's `max_total` |
//! | `bursar_pool_leaks` | gauge | `pool` | count | leases held past the leak threshold now |
//! | `bursar_ports_leased` | gauge | `range` | count | ports leased from each range |
//! | `bursar_ports_free` | gauge | `range` | count | ports that can be leased now |
//! | `bursar_ports_quarantined` | gauge | `range` | count | released ports resting before reuse |
//! | `bursar_health_level` | gauge | | | `-1` unknown, `0` healthy, `1` degraded, `2` unhealthy, `3` critical |
//! | `bursar_health_cpu_percent` | gauge | | percent | system CPU use at the last sample |
//! | `bursar_health_memory_percent` | gauge | | percent | system memory in use at the last sample |
//! | `bursar_health_threads` | gauge | | count | this process's threads at the last sample |
//! | `bursar_health_fds_percent` | gauge | | percent | this process's open file descriptors, of its soft `RLIMIT_NOFILE` |
//! | `bursar_health_nproc_percent` | gauge | | percent | the processes and threads of this process's user, of its soft `RLIMIT_NPROC` (unset where none is enforced) |
//! | `bursar_health_supervised_processes` | gauge | | count | supervised processes alive (feature `process`) |
//! | `bursar_health_error_rate` | gauge | | | failed fraction of the calls in the error window, 0 to 1 |
//! | `bursar_health_errors_total` | counter | | count | errors reported with `report_error` |
//! | `bursar_health_recoveries_total` | counter | | count | recoveries that ran and returned `true` |
//! | `bursar_memory_reserved_bytes` | gauge | | bytes | the cost of the admitted work still running (`Call::cost`, a pool's `create_cost`) |
//! | `bursar_memory_waiting` | gauge | | count | calls and creates waiting for memory (`health.memory_floor`) |
//! | `bursar_memory_available_bytes` | gauge | | bytes | the machine's available memory at the last sample |
//! | `bursar_memory_floor_bytes` | gauge | | bytes | `health.memory_floor` in bytes (unset without a floor) |
//! | `bursar_fleet_backend_up` | gauge | `resource` | | `1` the fleet backend's last answer came, `0` it failed (unset before the first) |
//! | `bursar_fleet_leases_held` | gauge | `resource` | count | this process's leases of the fleet-wide cap |
//! | `bursar_fleet_live_instances` | gauge | `resource` | count | the fleet's live instances, as the backend last told |
//! | `bursar_fleet_leases_lost_total` | counter | `resource` | count | leases lost while their call ran (the call was cancelled) |
//! | `bursar_fleet_fallbacks_total` | counter | `resource` | count | calls run without a lease while the backend was down (`local_share`, `fail_open`) |
//! | `bursar_fleet_refused_total` | counter | `resource` | count | calls refused while the backend was down (`Rejection::FleetUnavailable`) |
//! | `bursar_fleet_backend_errors_total` | counter | `resource` | count | fleet backend operations that failed |
//!
//! A reading the monitor does not have yet (no sample so far, or too few calls for an error
//! rate) is not set, rather than set to a made-up 0. The two `bursar_health_*_total` counters
//! and the four `bursar_fleet_*_total` ones are set from the status with `absolute`, so they
//! equal `status().health` and `status().fleet` exactly — for one governor per recorder (and
//! per fleet resource name): two governors of one process publish into the same series, and
//! `absolute` keeps the larger total.
//!
//! Label values come from bounded sets: breaker keys live in a bounded registry, pools and
//! ranges are named in code. A key, pool or range that goes away keeps its last value in the
//! recorder (the facade cannot remove a series); a Prometheus exporter drops it after its
//! `idle_timeout`, if one is set.
//!
//! [`describe`] gives every metric its unit and help text; building a governor calls it.
//!
//! # Alerts and a dashboard
//!
//! The repository's `contrib/prometheus/alerts.yml` has alert rules over these metrics (a
//! breaker open too long, a queue near its limit, health unhealthy or critical, leaked leases,
//! the retry budget spent, a pool at its cap, the fleet backend down, work waiting for memory), with `promtool test rules` tests beside them,
//! and `contrib/grafana/bursar.json` a Grafana dashboard; the README describes both.
//!
//! # Examples
//!
//! ```
//! use metrics_exporter_prometheus::PrometheusBuilder;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A service installs its exporter once, globally (`PrometheusBuilder::install_recorder`);
//! // this example keeps it to the current thread.
//! let recorder = PrometheusBuilder::new().build_recorder();
//! let prometheus = recorder.handle();
//! let _local = metrics::set_default_local_recorder(&recorder);
//!
//! let gov = bursar::Governor::builder().build()?;
//! gov.run(|| async { Ok::<_, std::io::Error>(()) }).await?;
//! gov.record_metrics();
//!
//! let text = prometheus.render();
//! assert!(text.contains("bursar_calls_total{outcome=\"ok\"} 1"));
//! assert!(text.contains("bursar_workers_max 10"));
//! assert!(text.contains("# HELP bursar_queue_wait_seconds"));
//! # Ok(()) }
//! ```

mod describe;
pub(crate) mod events;
pub(crate) mod gauges;

pub use describe::describe;

/// Counter `bursar_calls_total{outcome}`: governed calls and spawned tasks that ended, one each.
pub const CALLS_TOTAL: &str = "bursar_calls_total";
/// Counter `bursar_rejections_total{reason}`: calls turned away, by reason.
pub const REJECTIONS_TOTAL: &str = "bursar_rejections_total";
/// Counter `bursar_retries_total`: retries made.
pub const RETRIES_TOTAL: &str = "bursar_retries_total";
/// Counter `bursar_retry_budget_exhausted_total`: calls that stopped retrying for want of budget.
pub const RETRY_BUDGET_EXHAUSTED_TOTAL: &str = "bursar_retry_budget_exhausted_total";
/// Histogram `bursar_queue_wait_seconds{lane}`: from queueing to getting a worker, in seconds.
pub const QUEUE_WAIT_SECONDS: &str = "bursar_queue_wait_seconds";
/// Gauge `bursar_workers_max`: the configured `max_workers`.
pub const WORKERS_MAX: &str = "bursar_workers_max";
/// Gauge `bursar_workers_effective_limit`: the worker limit in force.
pub const WORKERS_EFFECTIVE_LIMIT: &str = "bursar_workers_effective_limit";
/// Gauge `bursar_workers_adaptive_limit`: an adaptive algorithm's worker limit.
pub const WORKERS_ADAPTIVE_LIMIT: &str = "bursar_workers_adaptive_limit";
/// Gauge `bursar_workers_adaptive_baseline_seconds`: an adaptive algorithm's baseline latency.
pub const WORKERS_ADAPTIVE_BASELINE_SECONDS: &str = "bursar_workers_adaptive_baseline_seconds";
/// Counter `bursar_workers_adaptive_changes_total{reason}`: changes of an adaptive algorithm's
/// worker limit, by why it changed (`started`, `grew`, `latency_rose`, `overloaded`, `probing`, `probed`).
pub const WORKERS_ADAPTIVE_CHANGES_TOTAL: &str = "bursar_workers_adaptive_changes_total";
/// Gauge `bursar_workers_adaptive_sample_seconds`: the last window's median latency.
pub const WORKERS_ADAPTIVE_SAMPLE_SECONDS: &str = "bursar_workers_adaptive_sample_seconds";
/// Gauge `bursar_workers_active`: operations holding a worker.
pub const WORKERS_ACTIVE: &str = "bursar_workers_active";
/// Gauge `bursar_workers_queued`: calls waiting for a worker.
pub const WORKERS_QUEUED: &str = "bursar_workers_queued";
/// Gauge `bursar_workers_queue_limit`: the most calls that may wait for a worker.
pub const WORKERS_QUEUE_LIMIT: &str = "bursar_workers_queue_limit";
/// Gauge `bursar_workers_retrying`: calls sleeping between attempts.
pub const WORKERS_RETRYING: &str = "bursar_workers_retrying";
/// Gauge `bursar_blocking_max`: the most blocking closures that run at once.
pub const BLOCKING_MAX: &str = "bursar_blocking_max";
/// Gauge `bursar_blocking_active`: blocking closures running.
pub const BLOCKING_ACTIVE: &str = "bursar_blocking_active";
/// Gauge `bursar_blocking_queued`: blocking closures waiting for a thread.
pub const BLOCKING_QUEUED: &str = "bursar_blocking_queued";
/// Gauge `bursar_breaker_state{key}`: 0 closed, 1 half open, 2 open, 3 forced open, 4 disabled.
pub const BREAKER_STATE: &str = "bursar_breaker_state";
/// Gauge `bursar_pool_connections{pool,state}`: connections leased out (`active`) or `idle`.
pub const POOL_CONNECTIONS: &str = "bursar_pool_connections";
/// Gauge `bursar_pool_waiting{pool}`: `get`s waiting for a connection.
pub const POOL_WAITING: &str = "bursar_pool_waiting";
/// Gauge `bursar_pool_max_total{pool}`: the pool's `max_total`.
pub const POOL_MAX_TOTAL: &str = "bursar_pool_max_total";
/// Gauge `bursar_pool_leaks{pool}`: leases held past the leak threshold now.
pub const POOL_LEAKS: &str = "bursar_pool_leaks";
/// Gauge `bursar_ports_leased{range}`: ports leased from the range.
pub const PORTS_LEASED: &str = "bursar_ports_leased";
/// Gauge `bursar_ports_free{range}`: ports of the range that can be leased now.
pub const PORTS_FREE: &str = "bursar_ports_free";
/// Gauge `bursar_ports_quarantined{range}`: released ports of the range resting before reuse.
pub const PORTS_QUARANTINED: &str = "bursar_ports_quarantined";
/// Gauge `bursar_health_level`: -1 unknown, 0 healthy, 1 degraded, 2 unhealthy, 3 critical.
pub const HEALTH_LEVEL: &str = "bursar_health_level";
/// Gauge `bursar_health_cpu_percent`: system CPU use at the last sample.
pub const HEALTH_CPU_PERCENT: &str = "bursar_health_cpu_percent";
/// Gauge `bursar_health_memory_percent`: system memory in use at the last sample.
pub const HEALTH_MEMORY_PERCENT: &str = "bursar_health_memory_percent";
/// Gauge `bursar_health_threads`: this process's threads at the last sample.
pub const HEALTH_THREADS: &str = "bursar_health_threads";
/// Gauge `bursar_health_fds_percent`: open file descriptors, percent of the soft `RLIMIT_NOFILE`.
pub const HEALTH_FDS_PERCENT: &str = "bursar_health_fds_percent";
/// Gauge `bursar_health_nproc_percent`: the user's processes and threads, percent of the soft
/// `RLIMIT_NPROC`.
pub const HEALTH_NPROC_PERCENT: &str = "bursar_health_nproc_percent";
/// Gauge `bursar_health_supervised_processes`: supervised processes alive.
pub const HEALTH_SUPERVISED_PROCESSES: &str = "bursar_health_supervised_processes";
/// Gauge `bursar_health_error_rate`: failed fraction of the calls in the error window.
pub const HEALTH_ERROR_RATE: &str = "bursar_health_error_rate";
/// Counter `bursar_health_errors_total`: errors reported with `report_error`.
pub const HEALTH_ERRORS_TOTAL: &str = "bursar_health_errors_total";
/// Counter `bursar_health_recoveries_total`: recoveries that ran and returned `true`.
pub const HEALTH_RECOVERIES_TOTAL: &str = "bursar_health_recoveries_total";
/// Gauge `bursar_memory_reserved_bytes`: the cost of the admitted work still running.
pub const MEMORY_RESERVED_BYTES: &str = "bursar_memory_reserved_bytes";
/// Gauge `bursar_memory_waiting`: calls and creates waiting for memory.
pub const MEMORY_WAITING: &str = "bursar_memory_waiting";
/// Gauge `bursar_memory_available_bytes`: the machine's available memory at the last sample.
pub const MEMORY_AVAILABLE_BYTES: &str = "bursar_memory_available_bytes";
/// Gauge `bursar_memory_floor_bytes`: `health.memory_floor`, in bytes.
pub const MEMORY_FLOOR_BYTES: &str = "bursar_memory_floor_bytes";
/// Gauge `bursar_fleet_backend_up{resource}`: 1 if the fleet backend's last answer came, 0 if
/// it failed.
pub const FLEET_BACKEND_UP: &str = "bursar_fleet_backend_up";
/// Gauge `bursar_fleet_leases_held{resource}`: this process's leases of the fleet's cap.
pub const FLEET_LEASES_HELD: &str = "bursar_fleet_leases_held";
/// Gauge `bursar_fleet_live_instances{resource}`: the fleet's live instances, as the backend
/// last told.
pub const FLEET_LIVE_INSTANCES: &str = "bursar_fleet_live_instances";
/// Counter `bursar_fleet_leases_lost_total{resource}`: leases lost while their call ran.
pub const FLEET_LEASES_LOST_TOTAL: &str = "bursar_fleet_leases_lost_total";
/// Counter `bursar_fleet_fallbacks_total{resource}`: calls run without a lease, the backend down.
pub const FLEET_FALLBACKS_TOTAL: &str = "bursar_fleet_fallbacks_total";
/// Counter `bursar_fleet_refused_total{resource}`: calls refused, the backend down.
pub const FLEET_REFUSED_TOTAL: &str = "bursar_fleet_refused_total";
/// Counter `bursar_fleet_backend_errors_total{resource}`: fleet backend operations that failed.
pub const FLEET_BACKEND_ERRORS_TOTAL: &str = "bursar_fleet_backend_errors_total";

//! [`describe`]: the unit and help text of every metric, for exporters that show them.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

use super::*;

/// Gives every bursar metric its unit and help text in the recorder in force (Prometheus
/// shows them as `# HELP` lines).
///
/// [`GovernorBuilder::build`](crate::GovernorBuilder::build) calls it, so a recorder installed
/// before the governor is built needs nothing more. Call it yourself after installing a
/// recorder later; describing twice only repeats the same text.
///
/// # Examples
///
/// ```
/// use metrics_exporter_prometheus::PrometheusBuilder;
///
/// let recorder = PrometheusBuilder::new().build_recorder();
/// let prometheus = recorder.handle();
/// metrics::with_local_recorder(&recorder, || {
///     bursar::metrics::describe();
///     metrics::counter!(bursar::metrics::RETRIES_TOTAL).increment(2);
/// });
/// assert!(prometheus.render().contains("# HELP bursar_retries_total Retries made"));
/// ```
pub fn describe() {
    describe_events();
    describe_workers();
    describe_parts();
    describe_health();
    describe_memory_and_fleet();
}

fn describe_events() {
    describe_counter!(CALLS_TOTAL, Unit::Count, "Governed calls and spawned tasks that ended, by outcome.");
    describe_counter!(REJECTIONS_TOTAL, Unit::Count, "Calls turned away, by reason.");
    describe_counter!(RETRIES_TOTAL, Unit::Count, "Retries made (attempts after a call's first).");
    describe_counter!(
        RETRY_BUDGET_EXHAUSTED_TOTAL,
        Unit::Count,
        "Calls that stopped retrying because the retry budget was spent."
    );
    describe_histogram!(
        QUEUE_WAIT_SECONDS,
        Unit::Seconds,
        "Time from queueing to getting a worker, by lane."
    );
}

fn describe_workers() {
    describe_gauge!(WORKERS_MAX, Unit::Count, "The configured limit on concurrent work.");
    describe_gauge!(WORKERS_EFFECTIVE_LIMIT, Unit::Count, "The worker limit in force (health shrinks it).");
    describe_gauge!(
        WORKERS_ADAPTIVE_LIMIT,
        Unit::Count,
        "An adaptive algorithm's worker limit (why it last changed: status().workers.adaptive.reason)."
    );
    describe_counter!(
        WORKERS_ADAPTIVE_CHANGES_TOTAL,
        Unit::Count,
        "Changes of an adaptive algorithm's worker limit, by why it changed."
    );
    describe_gauge!(
        WORKERS_ADAPTIVE_BASELINE_SECONDS,
        Unit::Seconds,
        "An adaptive algorithm's no-queue latency."
    );
    describe_gauge!(
        WORKERS_ADAPTIVE_SAMPLE_SECONDS,
        Unit::Seconds,
        "The last window's median attempt latency."
    );
    describe_gauge!(WORKERS_ACTIVE, Unit::Count, "Operations holding a worker.");
    describe_gauge!(WORKERS_QUEUED, Unit::Count, "Calls waiting for a worker.");
    describe_gauge!(WORKERS_QUEUE_LIMIT, Unit::Count, "The most calls that may wait for a worker.");
    describe_gauge!(WORKERS_RETRYING, Unit::Count, "Calls sleeping between attempts, holding no worker.");
    describe_gauge!(BLOCKING_MAX, Unit::Count, "The most blocking closures that run at once.");
    describe_gauge!(BLOCKING_ACTIVE, Unit::Count, "Blocking closures running.");
    describe_gauge!(BLOCKING_QUEUED, Unit::Count, "Blocking closures waiting for a thread.");
}

fn describe_parts() {
    describe_gauge!(
        BREAKER_STATE,
        "Circuit breaker state by key: 0 closed, 1 half open, 2 open, 3 forced open, 4 disabled."
    );
    describe_gauge!(POOL_CONNECTIONS, Unit::Count, "Pooled connections by pool and state (active, idle).");
    describe_gauge!(POOL_WAITING, Unit::Count, "Pool checkouts waiting for a connection.");
    describe_gauge!(POOL_MAX_TOTAL, Unit::Count, "The most connections a pool holds at once (max_total).");
    describe_gauge!(POOL_LEAKS, Unit::Count, "Pool leases held past the leak threshold now.");
    describe_gauge!(PORTS_LEASED, Unit::Count, "Ports leased, by range.");
    describe_gauge!(PORTS_FREE, Unit::Count, "Ports that can be leased now, by range.");
    describe_gauge!(PORTS_QUARANTINED, Unit::Count, "Released ports resting before reuse, by range.");
}

fn describe_health() {
    describe_gauge!(
        HEALTH_LEVEL,
        "Health level: -1 unknown, 0 healthy, 1 degraded, 2 unhealthy, 3 critical."
    );
    describe_gauge!(HEALTH_CPU_PERCENT, Unit::Percent, "System CPU use at the last health sample.");
    describe_gauge!(HEALTH_MEMORY_PERCENT, Unit::Percent, "System memory in use at the last health sample.");
    describe_gauge!(HEALTH_THREADS, Unit::Count, "This process's threads at the last health sample.");
    describe_gauge!(
        HEALTH_FDS_PERCENT,
        Unit::Percent,
        "Open file descriptors, percent of the soft RLIMIT_NOFILE."
    );
    describe_gauge!(
        HEALTH_NPROC_PERCENT,
        Unit::Percent,
        "Processes and threads of this user, percent of the soft RLIMIT_NPROC."
    );
    describe_gauge!(
        HEALTH_SUPERVISED_PROCESSES,
        Unit::Count,
        "Supervised processes alive at the last health sample."
    );
    describe_gauge!(HEALTH_ERROR_RATE, "Failed fraction of the calls in the error window, 0 to 1.");
    describe_counter!(HEALTH_ERRORS_TOTAL, Unit::Count, "Errors reported to the health monitor.");
    describe_counter!(HEALTH_RECOVERIES_TOTAL, Unit::Count, "Recoveries that ran and returned true.");
}

fn describe_memory_and_fleet() {
    describe_gauge!(MEMORY_RESERVED_BYTES, Unit::Bytes, "The cost of the admitted work still running.");
    describe_gauge!(MEMORY_WAITING, Unit::Count, "Calls and creates waiting for memory.");
    describe_gauge!(MEMORY_AVAILABLE_BYTES, Unit::Bytes, "Available memory at the last health sample.");
    describe_gauge!(MEMORY_FLOOR_BYTES, Unit::Bytes, "The memory floor, in bytes.");
    describe_gauge!(FLEET_BACKEND_UP, "1 if the fleet backend's last answer came, 0 if it failed.");
    describe_gauge!(FLEET_LEASES_HELD, Unit::Count, "This process's leases of the fleet-wide cap.");
    describe_gauge!(
        FLEET_LIVE_INSTANCES,
        Unit::Count,
        "The fleet's live instances, as the backend last told."
    );
    describe_counter!(FLEET_LEASES_LOST_TOTAL, Unit::Count, "Fleet leases lost while their call ran.");
    describe_counter!(
        FLEET_FALLBACKS_TOTAL,
        Unit::Count,
        "Calls run without a lease, the fleet backend down."
    );
    describe_counter!(FLEET_REFUSED_TOTAL, Unit::Count, "Calls refused, the fleet backend down.");
    describe_counter!(FLEET_BACKEND_ERRORS_TOTAL, Unit::Count, "Fleet backend operations that failed.");
}

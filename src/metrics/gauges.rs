//! The gauges, set from one [`Status`] snapshot: workers, breakers, pools, ports, health,
//! memory-aware admission and the fleet resource.

use std::collections::BTreeMap;

use metrics::{counter, gauge};

use super::*;
use crate::breaker::{BreakerState, BreakerStatus};
use crate::fleet::{BackendState, FleetStatus};
use crate::health::HealthLevel;
use crate::pool::PoolStatus;
use crate::ports::RangeStatus;
use crate::{HealthStatus, MemoryStatus, Status, WorkerStatus};

/// Sets every gauge (and the two health totals) from `status`.
pub(crate) fn publish(status: &Status) {
    crate::contain::recording(|| {
        workers(&status.workers);
        breakers(&status.breakers);
        pools(&status.pools);
        ports(&status.ports);
        health(&status.health);
        memory(&status.workers.memory);
        if let Some(fleet) = &status.fleet {
            self::fleet(fleet);
        }
    });
}

fn memory(memory: &MemoryStatus) {
    gauge!(MEMORY_RESERVED_BYTES).set(memory.reserved as f64);
    gauge!(MEMORY_WAITING).set(memory.waiting as f64);
    // Not known yet (or no floor): unset, as the health readings.
    if let Some(available) = memory.available {
        gauge!(MEMORY_AVAILABLE_BYTES).set(available as f64);
    }
    if let Some(floor) = memory.floor {
        gauge!(MEMORY_FLOOR_BYTES).set(floor as f64);
    }
}

fn fleet(fleet: &FleetStatus) {
    let resource = || fleet.resource.clone();
    match fleet.backend {
        BackendState::Up => gauge!(FLEET_BACKEND_UP, "resource" => resource()).set(1.0),
        BackendState::Down => gauge!(FLEET_BACKEND_UP, "resource" => resource()).set(0.0),
        // Not asked yet: neither up nor down.
        BackendState::Unknown => {}
    }
    gauge!(FLEET_LEASES_HELD, "resource" => resource()).set(fleet.leases_held as f64);
    if let Some(live) = fleet.live_instances {
        gauge!(FLEET_LIVE_INSTANCES, "resource" => resource()).set(f64::from(live));
    }
    // Counted by the fleet resource itself; set whole so they equal the status exactly.
    counter!(FLEET_LEASES_LOST_TOTAL, "resource" => resource()).absolute(fleet.lost);
    counter!(FLEET_FALLBACKS_TOTAL, "resource" => resource()).absolute(fleet.fallbacks);
    counter!(FLEET_REFUSED_TOTAL, "resource" => resource()).absolute(fleet.refused);
    counter!(FLEET_BACKEND_ERRORS_TOTAL, "resource" => resource()).absolute(fleet.backend_errors);
}

fn workers(workers: &WorkerStatus) {
    gauge!(WORKERS_MAX).set(workers.max_workers as f64);
    gauge!(WORKERS_EFFECTIVE_LIMIT).set(workers.effective_limit as f64);
    gauge!(WORKERS_ACTIVE).set(workers.active as f64);
    gauge!(WORKERS_QUEUED).set(workers.queued as f64);
    gauge!(WORKERS_QUEUE_LIMIT).set(workers.queue_limit as f64);
    gauge!(WORKERS_RETRYING).set(workers.retrying as f64);
    let blocking = &workers.blocking;
    gauge!(BLOCKING_MAX).set(blocking.max_threads as f64);
    gauge!(BLOCKING_ACTIVE).set(blocking.active as f64);
    gauge!(BLOCKING_QUEUED).set(blocking.queued as f64);
    if let Some(adaptive) = &workers.adaptive {
        gauge!(WORKERS_ADAPTIVE_LIMIT).set(adaptive.limit as f64);
        if let Some(baseline) = adaptive.baseline {
            gauge!(WORKERS_ADAPTIVE_BASELINE_SECONDS).set(baseline.as_secs_f64());
        }
        if let Some(sample) = adaptive.sample_latency {
            gauge!(WORKERS_ADAPTIVE_SAMPLE_SECONDS).set(sample.as_secs_f64());
        }
    }
}

fn breakers(breakers: &BTreeMap<String, BreakerStatus>) {
    for (key, breaker) in breakers {
        gauge!(BREAKER_STATE, "key" => key.clone()).set(breaker_state(breaker.state));
    }
}

/// The value of `bursar_breaker_state`: the more closed to traffic, the higher.
fn breaker_state(state: BreakerState) -> f64 {
    match state {
        BreakerState::Closed => 0.0,
        BreakerState::HalfOpen => 1.0,
        BreakerState::Open => 2.0,
        BreakerState::ForcedOpen => 3.0,
        BreakerState::Disabled => 4.0,
    }
}

fn pools(pools: &BTreeMap<String, PoolStatus>) {
    for (name, pool) in pools {
        gauge!(POOL_CONNECTIONS, "pool" => name.clone(), "state" => "active").set(pool.active as f64);
        gauge!(POOL_CONNECTIONS, "pool" => name.clone(), "state" => "idle").set(pool.idle as f64);
        gauge!(POOL_WAITING, "pool" => name.clone()).set(pool.waiting as f64);
        gauge!(POOL_MAX_TOTAL, "pool" => name.clone()).set(pool.max_total as f64);
        gauge!(POOL_LEAKS, "pool" => name.clone()).set(pool.leaks.len() as f64);
    }
}

fn ports(ranges: &BTreeMap<String, RangeStatus>) {
    for (range, status) in ranges {
        gauge!(PORTS_LEASED, "range" => range.clone()).set(status.leased as f64);
        gauge!(PORTS_FREE, "range" => range.clone()).set(status.free as f64);
        gauge!(PORTS_QUARANTINED, "range" => range.clone()).set(status.quarantined as f64);
    }
}

fn health(health: &HealthStatus) {
    gauge!(HEALTH_LEVEL).set(health_level(health.status));
    let count = |count: Option<usize>| count.map(|count| count as f64);
    let readings = [
        (HEALTH_CPU_PERCENT, health.cpu_percent),
        (HEALTH_MEMORY_PERCENT, health.memory_percent),
        (HEALTH_THREADS, count(health.active_threads)),
        (HEALTH_FDS_PERCENT, health.fds_percent),
        (HEALTH_NPROC_PERCENT, health.nproc_percent),
        (HEALTH_SUPERVISED_PROCESSES, count(health.supervised_processes)),
        (HEALTH_ERROR_RATE, health.error_rate),
    ];
    // A reading not known yet stays unset: a 0 would read as an idle, healthy machine.
    for (name, reading) in readings {
        if let Some(value) = reading {
            gauge!(name).set(value);
        }
    }
    // Counted by the health state itself; set whole so they equal the status exactly.
    counter!(HEALTH_ERRORS_TOTAL).absolute(health.total_errors);
    counter!(HEALTH_RECOVERIES_TOTAL).absolute(health.total_recoveries);
}

/// The value of `bursar_health_level`: its order, with `unknown` below every real level.
fn health_level(level: HealthLevel) -> f64 {
    match level {
        HealthLevel::Unknown => -1.0,
        HealthLevel::Healthy => 0.0,
        HealthLevel::Degraded => 1.0,
        HealthLevel::Unhealthy => 2.0,
        HealthLevel::Critical => 3.0,
    }
}

//! [`Status`]: a snapshot of the governor a person or a dashboard can read.

use std::collections::BTreeMap;

use super::Governor;
use crate::CallbackStatus;
use crate::breaker::BreakerStatus;
use crate::health::state::Totals;
use crate::health::{CheckStatus, HealthLevel};
use crate::pool::{AllPoolsStatus, PoolStatus};
use crate::ports::RangeStatus;
use crate::workers::Count;

/// A snapshot of everything the governor governs; serialisable with serde.
///
/// Counts are exact; gauges (`active`, `queued`, …) are read one after another, so they are
/// exact whenever nothing moves while they are read.
///
/// # From the resource manager's status JSON
///
/// A dashboard built on the `GET /api/system/status` answer of the resource manager, connection
/// pool and health monitor this library replaces reads these fields instead (one format: the
/// names below are the only ones). With the `metrics` feature each has a Prometheus metric too.
///
/// | that status | `status()` as JSON | Prometheus (feature `metrics`) |
/// |---|---|---|
/// | `initialized` | — (a built `Governor` is running; see `health.live`) | — |
/// | `resource_manager.max_workers` | `workers.max_workers` (the limit in force: `workers.effective_limit`; an adaptive one's estimate: `workers.adaptive`) | `bursar_workers_max`, `bursar_workers_effective_limit`, `bursar_workers_adaptive_limit`, `bursar_workers_adaptive_baseline_seconds`, `bursar_workers_adaptive_sample_seconds`, `bursar_workers_adaptive_changes_total{reason}` |
/// | `resource_manager.active_threads` | `workers.active` | `bursar_workers_active` |
/// | `resource_manager.completed_threads` | `workers.completed` (and `workers.failed`) | `bursar_calls_total{outcome="ok"}` |
/// | `resource_manager.circuit_breaker_state` | `breakers.default.state` (one per key: `breakers.<key>.state`) | `bursar_breaker_state{key="default"}` |
/// | `connection_pool.total_sessions` | `pool.total_sessions` | — |
/// | `connection_pool.total_active_connections` | `pool.total_active_connections` | `sum(bursar_pool_connections{state="active"})` |
/// | `connection_pool.available_capacity` | `pool.available_capacity` | — |
/// | `health.current_status` | `health.status` | `bursar_health_level` |
/// | `health.current_metrics.cpu_percent` | `health.cpu_percent` | `bursar_health_cpu_percent` |
/// | `health.current_metrics.memory_percent` | `health.memory_percent` | `bursar_health_memory_percent` |
/// | `health.current_metrics.active_threads` | `health.active_threads` | `bursar_health_threads` |
/// | `health.current_metrics.error_rate` | `health.error_rate` | `bursar_health_error_rate` |
/// | `health.total_errors` | `health.total_errors` | `bursar_health_errors_total` |
/// | `health.total_recoveries` | `health.total_recoveries` | `bursar_health_recoveries_total` |
/// | `resource_management.health_status` (of `GET /health`) | `health.status` | `bursar_health_level` |
///
/// The states read `closed`, `open`, `half_open`, `forced_open`, `disabled`; the levels
/// `unknown`, `healthy`, `degraded`, `unhealthy`, `critical` (lower case, as the seed's).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), bursar::BuildError> {
/// let gov = bursar::Governor::builder().build()?;
/// let status = gov.status();
/// assert_eq!((status.workers.max_workers, status.workers.active), (10, 0));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Status {
    /// The bounded worker pool.
    pub workers: WorkerStatus,
    /// The health monitor.
    pub health: HealthStatus,
    /// Each port range: leased, free and resting ports.
    pub ports: BTreeMap<String, RangeStatus>,
    /// Each circuit breaker: `"default"` and every keyed one.
    pub breakers: BTreeMap<String, BreakerStatus>,
    /// Every connection pool of the governor, added up.
    pub pool: AllPoolsStatus,
    /// Each connection pool by name, in detail.
    pub pools: BTreeMap<String, PoolStatus>,
    /// The user's callbacks that panicked or hung: contained, and counted here to alert on.
    pub callbacks: CallbackStatus,
    /// The resource capped across the fleet, if one is configured.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub fleet: Option<crate::fleet::FleetStatus>,
}

/// The worker pool's section of [`Status`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct WorkerStatus {
    /// The configured limit on concurrent work.
    pub max_workers: usize,
    /// The limit in force now (lower than `max_workers` while health shrinks it, or an
    /// adaptive limit holds it lower).
    pub effective_limit: usize,
    /// Why `effective_limit` is below `max_workers`: the health level that shrinks it
    /// (`degraded` to 75 %, `unhealthy` and `critical` to 50 %, rounded up); the readings
    /// behind the level are in [`HealthStatus::reasons`]. `None` while the whole
    /// `max_workers` is in force.
    pub limited_by: Option<HealthLevel>,
    /// Operations running now.
    pub active: usize,
    /// Calls waiting for a worker now.
    pub queued: usize,
    /// The most calls that may wait.
    pub queue_limit: usize,
    /// Calls and tasks admitted and not yet ended, whether queued, running or in a blocking lane.
    pub in_flight: usize,
    /// Operations that returned `Ok`.
    pub completed: u64,
    /// Operations that returned an error, timed out or panicked.
    pub failed: u64,
    /// Of `failed`: cancelled at the max task duration (see
    /// [`WorkerConfig::max_task_duration`](crate::WorkerConfig::max_task_duration)).
    pub timed_out: u64,
    /// Of `failed`: calls whose last attempt ran past its attempt timeout (see
    /// [`Call::timeout`](crate::Call::timeout)); an attempt that timed out and was retried
    /// is not counted, as each call counts once, by how it ended.
    pub attempt_timeouts: u64,
    /// Of `failed`: panicked.
    pub panicked: u64,
    /// Cancelled by a shutdown's grace period ending (not failures).
    pub cancelled: u64,
    /// Dropped by their caller (or aborted) before they ended (not failures).
    pub abandoned: u64,
    /// Retries made (attempts after the first).
    pub retries: u64,
    /// Calls that stopped retrying because the retry budget was spent.
    pub retry_budget_exhausted: u64,
    /// Calls sleeping between attempts now: they hold no worker and are not queued.
    pub retrying: usize,
    /// Turned away: the sum of the reasons below and of the calls a fleet backend that is down
    /// refused (`Rejection::FleetUnavailable`, counted in `status().fleet.refused`).
    pub rejected: u64,
    /// Of `rejected`: the queue was full.
    pub rejected_queue_full: u64,
    /// Of `rejected`: waited past the queue timeout.
    pub rejected_queue_timeout: u64,
    /// Of `rejected`: the governor was shutting down.
    pub rejected_shutting_down: u64,
    /// Of `rejected`: shed because health was critical.
    pub rejected_overloaded: u64,
    /// Of `rejected`: the circuit breaker was open.
    pub rejected_circuit_open: u64,
    /// Of `rejected`: the call's cost was more than the machine's memory less the floor
    /// ([`Rejection::CostTooHigh`](crate::Rejection::CostTooHigh)).
    pub rejected_cost_too_high: u64,
    /// The blocking lane used by [`Governor::spawn_blocking`].
    pub blocking: BlockingStatus,
    /// The adaptive limit (`workers.limit`), unless it is `fixed`.
    pub adaptive: Option<AdaptiveStatus>,
    /// Memory-aware admission: the bytes reserved and the floor.
    pub memory: MemoryStatus,
}

/// Memory-aware admission's section of [`WorkerStatus`]: what the calls with a
/// [`cost`](crate::Call::cost) and the governor's pools' creates with a
/// [`create_cost`](crate::pool::PoolConfig::create_cost) hold, against the health monitor's last
/// reading of memory and the floor (`health.memory_floor`).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), bursar::BuildError> {
/// let gov = bursar::Governor::builder().health(bursar::health::HealthConfig::disabled()).build()?;
/// let memory = gov.status().workers.memory;
/// assert_eq!((memory.reserved, memory.available, memory.floor, memory.waiting), (0, None, None, 0));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct MemoryStatus {
    /// Bytes reserved by the admitted work that has not ended.
    pub reserved: u64,
    /// The machine's available memory in bytes at the last sample; `None` before one, or if
    /// the sampler does not read memory.
    pub available: Option<u64>,
    /// The floor in bytes (`health.memory_floor` of the machine's memory at the last sample);
    /// `None` without a floor or a reading.
    pub floor: Option<u64>,
    /// Calls and creates waiting for memory now.
    pub waiting: usize,
}

/// The adaptive worker limit's section of [`WorkerStatus`]: what its algorithm believes.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), bursar::BuildError> {
/// use bursar::{LimitKind, LimitReason};
///
/// let gov = bursar::Governor::builder().limit(LimitKind::Gradient).min_workers(2).max_workers(50).build()?;
/// let adaptive = gov.status().workers.adaptive.expect("an adaptive limit");
/// assert_eq!((adaptive.algorithm, adaptive.limit, adaptive.reason), (LimitKind::Gradient, 2, LimitReason::Started));
/// assert_eq!((adaptive.baseline, adaptive.sample_latency), (None, None), "nothing measured yet");
/// assert_eq!(gov.status().workers.effective_limit, 2);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct AdaptiveStatus {
    /// The algorithm.
    pub algorithm: crate::LimitKind,
    /// The algorithm's limit; `effective_limit` is the smaller of this and health's.
    pub limit: usize,
    /// The dependency's latency with no queue in front of it, as last measured (`gradient`
    /// and `vegas`); `None` until measured.
    pub baseline: Option<std::time::Duration>,
    /// The median latency of the successful attempts of the last window judged.
    pub sample_latency: Option<std::time::Duration>,
    /// Why the limit last changed.
    pub reason: crate::LimitReason,
}

/// The blocking lane's section of [`WorkerStatus`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct BlockingStatus {
    /// The most blocking closures that run at once.
    pub max_threads: usize,
    /// Blocking closures running now (including ones whose caller stopped waiting).
    pub active: usize,
    /// Blocking closures waiting for a thread now.
    pub queued: usize,
}

/// The health monitor's section of [`Status`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct HealthStatus {
    /// The level in force.
    pub status: HealthLevel,
    /// System CPU use at the last sample, percent.
    pub cpu_percent: Option<f64>,
    /// System memory in use at the last sample, percent.
    pub memory_percent: Option<f64>,
    /// This process's threads at the last sample.
    pub active_threads: Option<usize>,
    /// This process's open file descriptors at the last sample, percent of its soft
    /// `RLIMIT_NOFILE`.
    pub fds_percent: Option<f64>,
    /// The processes and threads of this process's user at the last sample, percent of its soft
    /// `RLIMIT_NPROC`; `None` where no such limit is enforced (for root, say).
    pub nproc_percent: Option<f64>,
    /// The supervised processes alive at the last sample (feature `process`; 0 without it).
    pub supervised_processes: Option<usize>,
    /// Failed fraction of the calls in the error window (reported errors included); none
    /// until enough calls ended in it.
    pub error_rate: Option<f64>,
    /// Errors reported with `report_error`.
    pub total_errors: u64,
    /// Recoveries that ran and returned `true`.
    pub total_recoveries: u64,
    /// Recoveries not run because their kind's recovery was cooling down.
    pub recoveries_skipped: u64,
    /// Times the emergency recovery ran (once per entry into CRITICAL).
    pub emergency_recoveries: u64,
    /// The custom checks' latest answers.
    pub checks: Vec<CheckStatus>,
    /// Why the level is not healthy, from the latest sample: each reading at or above a
    /// threshold (`"cpu_percent 85 is at or above its warning threshold 80"`) and each check
    /// that is not healthy (`"check `database` is degraded: replication lag 12 s"`). Empty
    /// while healthy — and while a better level waits out its dwell time, when the readings
    /// are already fine but the level has not yet followed.
    pub reasons: Vec<String>,
    /// The liveness probe's answer.
    pub live: bool,
    /// The readiness probe's answer.
    pub ready: bool,
}

impl Governor {
    /// A snapshot of the governor's state and counters.
    pub fn status(&self) -> Status {
        let pools = self.inner.pools.status();
        Status {
            workers: self.worker_status(),
            health: self.health_status(),
            ports: self.inner.ports.status(),
            breakers: self.inner.breakers.status(),
            pool: super::pools::total(&pools),
            pools,
            callbacks: self.inner.workers.containment.status(),
            fleet: self.inner.fleet.as_ref().map(|fleet| fleet.status()),
        }
    }

    fn health_status(&self) -> HealthStatus {
        let health = &self.inner.health;
        let (readings, error_rate, checks, reasons) = {
            let latest = health.latest.lock();
            let reasons = crate::health::reasons::reasons(&health.config, &latest);
            (latest.readings, latest.error_rate, latest.checks.clone(), reasons)
        };
        let totals = &health.totals;
        HealthStatus {
            status: health.level(),
            cpu_percent: readings.cpu_percent,
            memory_percent: readings.memory_percent,
            active_threads: readings.threads,
            fds_percent: readings.fds_percent,
            nproc_percent: readings.nproc_percent,
            supervised_processes: readings.supervised_processes,
            error_rate,
            total_errors: Totals::get(&totals.errors),
            total_recoveries: Totals::get(&totals.recoveries),
            recoveries_skipped: Totals::get(&totals.recoveries_skipped),
            emergency_recoveries: Totals::get(&totals.emergencies),
            checks,
            reasons,
            live: self.liveness().passed(),
            ready: self.readiness().passed(),
        }
    }

    fn worker_status(&self) -> WorkerStatus {
        let workers = &*self.inner.workers;
        let counters = workers.counters();
        WorkerStatus {
            max_workers: workers.max_workers(),
            effective_limit: workers.tasks.limit(),
            limited_by: workers.limited_by(),
            active: workers.tasks.in_use(),
            queued: workers.tasks.waiting(),
            queue_limit: workers.tasks.queue_limit,
            in_flight: workers.drain.in_flight(),
            completed: workers.completed(),
            failed: counters.get(Count::Failed),
            timed_out: counters.get(Count::TimedOut),
            attempt_timeouts: counters.get(Count::AttemptTimedOut),
            panicked: counters.get(Count::Panicked),
            cancelled: counters.get(Count::Cancelled),
            abandoned: counters.get(Count::Abandoned),
            retries: counters.get(Count::Retries),
            retry_budget_exhausted: counters.get(Count::BudgetExhausted),
            retrying: workers.backing_off_now(),
            rejected: counters.rejected(),
            rejected_queue_full: counters.get(Count::QueueFull),
            rejected_queue_timeout: counters.get(Count::QueueTimeout),
            rejected_shutting_down: counters.get(Count::ShuttingDown),
            rejected_overloaded: counters.get(Count::Overloaded),
            rejected_circuit_open: counters.get(Count::CircuitOpen),
            rejected_cost_too_high: counters.get(Count::CostTooHigh),
            blocking: BlockingStatus {
                max_threads: workers.blocking.limit(),
                active: workers.blocking.in_use(),
                queued: workers.blocking.waiting(),
            },
            adaptive: workers.adaptive_estimate().map(|(algorithm, limit, estimate)| AdaptiveStatus {
                algorithm,
                limit,
                baseline: estimate.baseline,
                sample_latency: estimate.sample,
                reason: estimate.reason,
            }),
            memory: {
                let figures = workers.memory.figures();
                MemoryStatus {
                    reserved: figures.reserved,
                    available: figures.available,
                    floor: figures.floor,
                    waiting: figures.waiting,
                }
            },
        }
    }
}

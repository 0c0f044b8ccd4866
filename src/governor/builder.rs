//! [`GovernorBuilder`]: set what differs from the defaults, then `build()` checks every rule.

use std::sync::Arc;
use std::time::Duration;

use std::future::Future;

use super::background::Background;
use super::breakers::{Breakers, TransitionHook};
use super::fleet_breakers;
use super::pools::Pools;
use super::{Governor, Inner};
use crate::contain::Containment;
use crate::fleet::{Fleet, FleetBackend, FleetConfig, Membership};
use crate::health::hooks::{HealthHooks, boxed_action, boxed_check, boxed_recovery};
use crate::health::state::HealthState;
use crate::health::{CheckResult, ErrorReport, HealthConfig, Monitor, Sampler, Thresholds, default_sampler};
use crate::pool::PoolConfig;
use crate::ports::{PortAllocator, PortsConfig};
use crate::retry::{ExponentialBackoff, RetryPolicy};
use crate::workers::{HealthGate, Workers};
use crate::{BuildError, GovernorConfig, RetryConfig};

/// Builds a [`Governor`]; every value is checked once, in [`build`](Self::build).
///
/// The settings users change most have a method each: the workers (`max_workers`, …), retry
/// (`max_attempts`, `backoff`), the breaker (`failure_threshold`, `open_wait`) and the health
/// monitor (`health_interval`, `cpu_percent`, `memory_percent`, `error_rate`,
/// `recovery_cooldown`). Each section can also be given whole (`retry`, `breaker`, `health`,
/// `ports`, `pool_config`), written in its fluent form.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), bursar::BuildError> {
/// let gov = bursar::Governor::builder()
///     .max_workers(20)
///     .queue_limit(500)
///     .queue_timeout(Duration::from_secs(10))
///     .max_task_duration(Duration::from_secs(600))
///     .build()?;
/// assert_eq!(gov.status().workers.max_workers, 20);
/// # Ok(()) }
/// ```
///
/// The figures of the resource manager and health monitor this library replaces, one method
/// each:
///
/// ```
/// use std::time::Duration;
/// use bursar::health::Thresholds;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), bursar::BuildError> {
/// let gov = bursar::Governor::builder()
///     .max_workers(10)                                                  // MAX_WORKERS
///     .max_attempts(3)                                                  // MAX_RETRY_ATTEMPTS
///     .failure_threshold(5)                                             // CIRCUIT_BREAKER_THRESHOLD
///     .open_wait(Duration::from_secs(120))                              // timeout=120.0
///     .health_interval(Duration::from_secs(30))                         // CHECK_INTERVAL
///     .cpu_percent(Thresholds { warn: 80.0, critical: 95.0 })           // CPU_THRESHOLD
///     .memory_percent(Thresholds { warn: 85.0, critical: 95.0 })        // MEMORY_THRESHOLD
///     .error_rate(Thresholds { warn: 0.10, critical: 0.50 })            // ERROR_RATE_THRESHOLD
///     .build()?;
/// assert_eq!(gov.status().workers.max_workers, 10);
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct GovernorBuilder {
    config: GovernorConfig,
    hooks: HealthHooks,
    transitions: Option<TransitionHook>,
    fleet_backend: Option<Arc<dyn FleetBackend>>,
}

impl GovernorBuilder {
    /// Starts from a whole configuration, e.g. one read from a file.
    pub fn from_config(config: GovernorConfig) -> Self {
        GovernorBuilder { config, hooks: HealthHooks::default(), transitions: None, fleet_backend: None }
    }

    /// Every health monitor setting at once; [`HealthConfig::disabled`] turns it off.
    pub fn health(mut self, health: HealthConfig) -> Self {
        self.config.health = health;
        self
    }

    /// The named port ranges sessions lease from. Default: `"vnc"` 5900–5999 and `"ws"`
    /// 6900–6999, a 5 s quarantine, and a check that the port is free on this host.
    pub fn ports(mut self, ports: PortsConfig) -> Self {
        self.config.ports = ports;
        self
    }

    /// Where readings come from. Default: the system's, through `sysinfo`.
    pub fn sampler(mut self, sampler: impl Sampler) -> Self {
        self.hooks.sampler = Some(Box::new(sampler));
        self
    }

    /// A custom check, run every sampling interval; its answer adds to the readings (see
    /// [`CheckResult`]). A check that does not answer within one interval counts as unhealthy.
    /// The checks run together, so however many hang, a sample waits one interval for them.
    pub fn health_check<F, Fut>(mut self, name: impl Into<String>, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CheckResult> + Send + 'static,
    {
        self.hooks.checks.push((name.into(), boxed_check(check)));
        self
    }

    /// A recovery for reported errors of `kind`: it runs when a recoverable error of that
    /// kind is reported, and returns whether it recovered. Recoveries that return `true` count
    /// in `total_recoveries`.
    ///
    /// # Cooldown
    ///
    /// A kind's recovery runs at most once per recovery cooldown, 10 s by default
    /// ([`recovery_cooldown`](Self::recovery_cooldown), or
    /// [`HealthConfig::recovery_cooldown`]): a report of the same kind within the cooldown
    /// after a recovery started runs no callback and counts only in
    /// `status().health.recoveries_skipped`, so a flood of reports from one outage runs one
    /// recovery, not one per report. Each kind has its own cooldown.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), bursar::BuildError> {
    /// use std::time::Duration;
    /// use bursar::health::ErrorReport;
    ///
    /// let gov = bursar::Governor::builder()
    ///     .on_error("webdriver", |_report| async { true })   // restart the browser here
    ///     .recovery_cooldown(Duration::from_secs(3))
    ///     .build()?;
    /// for _ in 0..3 {
    ///     gov.report_error(ErrorReport::new("webdriver", "connection closed"));
    /// }
    /// tokio::time::sleep(Duration::from_secs(1)).await;
    /// let health = gov.status().health;
    /// assert_eq!((health.total_recoveries, health.recoveries_skipped), (1, 2));
    /// # Ok(()) }
    /// ```
    ///
    /// Each kind takes one recovery: a second call for the same kind makes
    /// [`build`](Self::build) fail with [`BuildError::Invalid`] naming `on_error` and the kind.
    pub fn on_error<F, Fut>(mut self, kind: impl Into<String>, recovery: F) -> Self
    where
        F: Fn(ErrorReport) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        self.hooks.add_recovery(kind.into(), boxed_recovery(recovery));
        self
    }

    /// An action of the emergency recovery, run once each time the level enters CRITICAL
    /// (e.g. close idle browser sessions). The actions run together, on a task of their own
    /// while the monitor goes on sampling; each is given up after one sampling interval.
    pub fn on_critical<F, Fut>(mut self, action: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.hooks.emergency.push(boxed_action(action));
        self
    }

    /// At most this many governed operations run at once. Default 10.
    pub fn max_workers(mut self, max_workers: usize) -> Self {
        self.config.workers.max_workers = max_workers;
        self
    }

    /// How the worker limit is set: `Fixed` at `max_workers` (the default), or moved by an
    /// adaptive algorithm between [`min_workers`](Self::min_workers) and `max_workers` from
    /// each attempt's latency and overloads (see [`LimitKind`](crate::LimitKind)).
    pub fn limit(mut self, limit: crate::LimitKind) -> Self {
        self.config.workers.limit = limit;
        self
    }

    /// The floor of an adaptive limit, and where it starts. Default 1.
    pub fn min_workers(mut self, min_workers: usize) -> Self {
        self.config.workers.min_workers = min_workers;
        self
    }

    /// The adaptive algorithms' parameters (see [`AdaptiveConfig`](crate::AdaptiveConfig)).
    pub fn adaptive(mut self, adaptive: crate::AdaptiveConfig) -> Self {
        self.config.workers.adaptive = adaptive;
        self
    }

    /// At most this many calls wait for a worker. Default 1000.
    pub fn queue_limit(mut self, queue_limit: usize) -> Self {
        self.config.workers.queue_limit = queue_limit;
        self
    }

    /// A call that waits longer than this for a worker is rejected. Default: no limit.
    /// At least 1 ms, tokio's timer resolution.
    pub fn queue_timeout(mut self, queue_timeout: Duration) -> Self {
        self.config.workers.queue_timeout = Some(queue_timeout);
        self
    }

    /// Work running longer than this is cancelled. Default 1800 s. At least 1 ms, tokio's
    /// timer resolution.
    pub fn max_task_duration(mut self, max_task_duration: Duration) -> Self {
        self.config.workers.max_task_duration = max_task_duration;
        self
    }

    /// At most this many blocking closures run at once. Default 10.
    pub fn blocking_threads(mut self, blocking_threads: usize) -> Self {
        self.config.workers.blocking_threads = blocking_threads;
        self
    }

    /// At most this many blocking closures wait for a thread. Default 1000.
    pub fn blocking_queue_limit(mut self, blocking_queue_limit: usize) -> Self {
        self.config.workers.blocking_queue_limit = blocking_queue_limit;
        self
    }

    /// A recovery callback for an error kind ([`on_error`](Self::on_error)) runs at most once
    /// per this period; reports within it count in `recoveries_skipped`. Default 10 s. At least
    /// 1 ms, tokio's timer resolution.
    pub fn recovery_cooldown(mut self, recovery_cooldown: Duration) -> Self {
        self.config.health.recovery_cooldown = recovery_cooldown;
        self
    }

    /// How often the health monitor samples (and how long a sample or a custom check may
    /// take). Default 30 s. At least 1 ms, tokio's timer resolution.
    pub fn health_interval(mut self, interval: Duration) -> Self {
        self.config.health.interval = interval;
        self
    }

    /// The warning and critical thresholds of system CPU use, percent. Default 80 and 95.
    pub fn cpu_percent(mut self, thresholds: Thresholds) -> Self {
        self.config.health.cpu_percent = thresholds;
        self
    }

    /// The warning and critical thresholds of system memory in use, percent. Default 85 and 95.
    pub fn memory_percent(mut self, thresholds: Thresholds) -> Self {
        self.config.health.memory_percent = thresholds;
        self
    }

    /// The warning and critical thresholds of the failed fraction of calls, 0 to 1. Default
    /// 0.10 and 0.50.
    pub fn error_rate(mut self, thresholds: Thresholds) -> Self {
        self.config.health.error_rate = thresholds;
        self
    }

    /// Every retry setting at once.
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.config.retry = retry;
        self
    }

    /// Attempts per governed call, the first included (1 turns retrying off). Default 3.
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.config.retry.max_attempts = max_attempts;
        self
    }

    /// The delays between attempts: initial delay, multiplier, cap, jitter and seed.
    /// Default: 2 s, ×2, 30 s, no jitter.
    pub fn backoff(mut self, backoff: ExponentialBackoff) -> Self {
        let retry = &mut self.config.retry;
        retry.initial_delay = backoff.initial_delay();
        retry.multiplier = backoff.multiplier();
        retry.max_delay = backoff.max_delay();
        retry.jitter = backoff.jitter();
        retry.seed = backoff.seed();
        self
    }

    /// Each breaker opens after this many failures in a row (1 to 1000). Default 5.
    pub fn failure_threshold(mut self, failure_threshold: u32) -> Self {
        self.config.breaker.failure_threshold = failure_threshold;
        self
    }

    /// How long an open breaker rejects calls before its first probe. Default 120 s. At least
    /// 1 ms, tokio's timer resolution, and at most `breaker.max_open_wait` (30 min by default).
    pub fn open_wait(mut self, open_wait: Duration) -> Self {
        self.config.breaker.open_wait = open_wait;
        self
    }

    /// What [`Governor::pool`] starts each pool from, e.g.
    /// `PoolConfig::default().max_total(20).max_per_key(5)`. Default [`PoolConfig::default`]:
    /// 20 connections, 5 per key, no ports.
    pub fn pool_config(mut self, pool: PoolConfig) -> Self {
        self.config.pool = pool;
        self
    }

    /// Every circuit breaker setting at once (the default breaker and each keyed one).
    pub fn breaker(mut self, breaker: crate::breaker::BreakerConfig) -> Self {
        self.config.breaker = breaker;
        self
    }

    /// Calls `callback(name, transition)` on every transition of every breaker of the
    /// governor: `name` is `"default"` or the call's key. Each is also a `tracing` event.
    /// The keyed breakers reach the callback through the governor: one kept past the
    /// governor's drop (from [`Governor::breaker_for`](crate::Governor::breaker_for)) no longer
    /// calls it. The default breaker holds it, so a handle of the default breaker kept past the
    /// governor keeps the callback, and calls it.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), bursar::BuildError> {
    /// let gov = bursar::Governor::builder()
    ///     .on_breaker_transition(|name, transition| {
    ///         eprintln!("breaker {name}: {} -> {}", transition.from, transition.to);
    ///     })
    ///     .build()?;
    /// gov.breaker().force_open(); // "breaker default: closed -> forced_open"
    /// # Ok(()) }
    /// ```
    pub fn on_breaker_transition<F>(mut self, callback: F) -> Self
    where
        F: Fn(&str, &crate::breaker::Transition) + Send + Sync + 'static,
    {
        self.transitions = Some(TransitionHook(Arc::new(callback)));
        self
    }

    /// Caps `fleet.resource` across every process of the service (see [`fleet`](crate::fleet)):
    /// each governed call takes its local worker, then a lease from the backend given to
    /// [`fleet_backend`](Self::fleet_backend).
    ///
    /// # Examples
    ///
    /// ```
    /// use bursar::fleet::FleetConfig;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let refused = bursar::Governor::builder().fleet(FleetConfig::new("browsers", 40)).build().unwrap_err();
    /// assert_eq!(refused.field(), Some("fleet"), "a fleet resource needs a backend");
    /// # }
    /// ```
    pub fn fleet(mut self, fleet: FleetConfig) -> Self {
        self.config.fleet = Some(fleet);
        self
    }

    /// The backend of the fleet resource (`RedisBackend` with the `redis` feature, or your own
    /// [`FleetBackend`]).
    pub fn fleet_backend(mut self, backend: Arc<dyn FleetBackend>) -> Self {
        self.fleet_backend = Some(backend);
        self
    }

    /// Checks the configuration and builds the governor.
    ///
    /// It needs a Tokio runtime, since it starts the health monitor and the retry budget's
    /// settler; the configuration alone is checked without one by
    /// [`GovernorConfig::validate`], which is what a plain `#[test]` of a configuration calls.
    ///
    /// # Errors
    ///
    /// - [`BuildError::Invalid`] naming the first field that breaks a rule (zero workers,
    ///   zero queue, time limits under 1 ms or over 365 days, …), or `on_error` given a second
    ///   recovery for one error kind; `fleet` without a backend, or `fleet_backend` without a
    ///   `fleet` section. The configuration is checked first, so a bad one is
    ///   named even outside a runtime.
    /// - [`BuildError::NoRuntime`] if called outside a Tokio runtime (never a panic).
    ///
    /// # Panics
    ///
    /// Never.
    pub fn build(self) -> Result<Governor, BuildError> {
        self.config.validate()?;
        self.hooks.validate()?;
        check_fleet(&self.config.fleet, self.fleet_backend.is_some())?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        tracing::debug!(target: "bursar", config = ?self.config, hooks = ?self.hooks, "governor built");
        let GovernorBuilder { config, hooks, transitions, fleet_backend } = self;
        let health_config = &config.health;
        let gate = HealthGate {
            degraded_ratio: health_config.degraded_worker_ratio,
            unhealthy_ratio: health_config.unhealthy_worker_ratio,
            shed_when_critical: health_config.shed_when_critical,
        };
        let containment = Arc::new(Containment::default());
        let workers = Arc::new(Workers::new(
            &config.workers,
            gate,
            Arc::clone(&containment),
            health_config.memory_floor,
        ));
        let pools = Arc::new(Pools::default());
        let mut emergency = vec![reap_idle_connections(&pools)];
        emergency.extend(hooks.emergency);
        let health = Arc::new(HealthState::new(health_config.clone(), hooks.recoveries, emergency));
        let fleet = config.fleet.clone().zip(fleet_backend).map(|(fleet, backend)| {
            Arc::new(Fleet::new(fleet, backend, runtime.clone(), Arc::clone(&containment)))
        });
        let shared_breakers = fleet.as_ref().and_then(|fleet| fleet.breakers().cloned());
        let transitions = match &shared_breakers {
            Some(shared) => Some(fleet_breakers::hear_transitions(shared, transitions)),
            None => transitions,
        };
        let breakers = Arc::new(Breakers::new(&config.breaker, transitions, &containment)?);
        let background = Background::default();
        if let Some(shared) = shared_breakers {
            background.track(fleet_breakers::start(shared, &breakers, &runtime));
        }
        let mut monitor = None;
        if health_config.enabled {
            let sampler = hooks.sampler.unwrap_or_else(default_sampler);
            let mut checks = hooks.checks;
            checks.push(("circuit breakers".to_owned(), open_breakers_check(&breakers)));
            checks.push(("connection pools".to_owned(), busy_pools_check(&pools)));
            monitor = Some(Monitor::new(
                Arc::clone(&health),
                Arc::clone(&workers),
                sampler,
                checks,
                Arc::clone(&containment),
            ));
        }
        let retry = Arc::new(RetryPolicy::new(&config.retry)?);
        let counted = Arc::clone(&workers);
        if let Some(settler) = retry.settler(move || counted.calls_completed()) {
            background.track(runtime.spawn(settler).abort_handle());
        }
        let ports = Arc::new(PortAllocator::new(&config.ports)?.shared_by(fleet.as_ref()));
        let pool_config = config.pool.clone();
        let default_plan = super::run::CallPlan::of(&retry, fleet.is_some());
        let membership = fleet.as_ref().map(Membership::start);
        let inner = Inner {
            workers,
            retry,
            health,
            ports,
            breakers,
            pools,
            pool_config,
            default_plan,
            fleet,
            membership,
            runtime,
            background,
        };
        let inner = Arc::new(inner);
        // Spawned once the governor exists: with `metrics` it publishes the governor's gauges.
        if let Some(monitor) = monitor {
            #[cfg(feature = "metrics")]
            let monitor = monitor.publishing(super::metrics::publisher(&inner));
            inner.background.track(inner.runtime.spawn(monitor.run()).abort_handle());
        }
        crate::telemetry::describe();
        Ok(Governor { inner })
    }
}

/// A fleet section needs a backend, and a backend a fleet section to govern.
fn check_fleet(fleet: &Option<FleetConfig>, has_backend: bool) -> Result<(), BuildError> {
    match (fleet, has_backend) {
        (Some(fleet), false) => Err(BuildError::invalid_debug(
            "fleet",
            "needs a backend: `GovernorBuilder::fleet_backend`",
            &fleet.resource,
        )),
        (None, true) => {
            Err(BuildError::invalid("fleet_backend", "needs a `fleet` section to govern", "a backend"))
        }
        _ => Ok(()),
    }
}

/// Busy pools are a component of health: one at 80 % of its connections counts as a warning.
fn busy_pools_check(pools: &Arc<Pools>) -> crate::health::hooks::CheckFn {
    let pools = Arc::clone(pools);
    boxed_check(move || {
        let check = pools.check();
        async move { check }
    })
}

/// The emergency recovery's first action: close every idle pooled connection.
fn reap_idle_connections(pools: &Arc<Pools>) -> crate::health::hooks::ActionFn {
    let pools = Arc::clone(pools);
    boxed_action(move || {
        let reaped = pools.reap_all_idle();
        tracing::warn!(target: "bursar::health", reaped, "emergency recovery: idle pooled connections closed");
        async {}
    })
}

/// Open circuit breakers are a component of health: any open one counts as a warning.
fn open_breakers_check(breakers: &Arc<Breakers>) -> crate::health::hooks::CheckFn {
    let breakers = Arc::clone(breakers);
    boxed_check(move || {
        let open = breakers.open();
        async move {
            match open {
                0 => CheckResult::healthy(),
                1 => CheckResult::degraded("1 circuit breaker is open"),
                _ => CheckResult::degraded(format!("{open} circuit breakers are open")),
            }
        }
    })
}

//! [`GovernorBuilder`]: set what differs from the defaults, then `build()` checks every rule.

use std::sync::Arc;
use std::time::Duration;

use std::future::Future;

use super::background::Background;
use super::breakers::{Breakers, TransitionHook};
use super::pools::Pools;
use super::{Governor, Inner};
use crate::contain::Containment;
use crate::health::hooks::{HealthHooks, boxed_action, boxed_check, boxed_recovery};
use crate::health::state::HealthState;
use crate::health::{ErrorReport, HealthCheck, HealthConfig, Monitor, Sampler, default_sampler};
use crate::ports::{PortAllocator, PortsConfig};
use crate::retry::{ExponentialBackoff, RetryPolicy};
use crate::workers::{HealthGate, Workers};
use crate::{BuildError, GovernorConfig, RetryConfig};

/// Builds a [`Governor`]; every value is checked once, in [`build`](Self::build).
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
#[derive(Debug, Default)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct GovernorBuilder {
    config: GovernorConfig,
    hooks: HealthHooks,
    transitions: Option<TransitionHook>,
}

impl GovernorBuilder {
    /// Starts from a whole configuration, e.g. one read from a file.
    pub fn from_config(config: GovernorConfig) -> Self {
        GovernorBuilder { config, hooks: HealthHooks::default(), transitions: None }
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
    /// [`HealthCheck`]). A check that does not answer within one interval counts as unhealthy.
    pub fn health_check<F, Fut>(mut self, name: impl Into<String>, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HealthCheck> + Send + 'static,
    {
        self.hooks.checks.push((name.into(), boxed_check(check)));
        self
    }

    /// A recovery for reported errors of `kind`: it runs (at most once per recovery
    /// cooldown) when a recoverable error of that kind is reported, and returns whether it
    /// recovered. Recoveries that return `true` count in `total_recoveries`.
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
    /// (e.g. close idle browser sessions).
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

    /// Every circuit breaker setting at once (the default breaker and each keyed one).
    pub fn breaker(mut self, breaker: crate::breaker::BreakerConfig) -> Self {
        self.config.breaker = breaker;
        self
    }

    /// Calls `callback(name, transition)` on every transition of every breaker of the
    /// governor: `name` is `"default"` or the call's key. Each is also a `tracing` event.
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

    /// Checks the configuration and builds the governor.
    ///
    /// # Errors
    ///
    /// - [`BuildError::Invalid`] naming the first field that breaks a rule (zero workers,
    ///   zero queue, time limits under 1 ms or over 365 days, …), or `on_error` given a second
    ///   recovery for one error kind.
    /// - [`BuildError::NoRuntime`] if called outside a Tokio runtime.
    pub fn build(self) -> Result<Governor, BuildError> {
        self.config.validate()?;
        self.hooks.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        tracing::debug!(target: "bursar", config = ?self.config, hooks = ?self.hooks, "governor built");
        let GovernorBuilder { config, hooks, transitions } = self;
        let health_config = &config.health;
        let gate = HealthGate {
            degraded_ratio: health_config.degraded_worker_ratio,
            unhealthy_ratio: health_config.unhealthy_worker_ratio,
            shed_when_critical: health_config.shed_when_critical,
        };
        let containment = Arc::new(Containment::default());
        let workers = Arc::new(Workers::new(&config.workers, gate, Arc::clone(&containment)));
        let pools = Arc::new(Pools::default());
        let mut emergency = vec![reap_idle_connections(&pools)];
        emergency.extend(hooks.emergency);
        let health = Arc::new(HealthState::new(health_config.clone(), hooks.recoveries, emergency));
        let breakers = Arc::new(Breakers::new(&config.breaker, transitions, &containment)?);
        let background = Background::default();
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
        let ports = Arc::new(PortAllocator::new(&config.ports)?);
        let pool_config = config.pool.clone();
        let default_plan = super::run::CallPlan::of(&retry);
        let inner = Inner {
            workers,
            retry,
            health,
            ports,
            breakers,
            pools,
            pool_config,
            default_plan,
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
                0 => HealthCheck::healthy(),
                1 => HealthCheck::degraded("1 circuit breaker is open"),
                _ => HealthCheck::degraded(format!("{open} circuit breakers are open")),
            }
        }
    })
}

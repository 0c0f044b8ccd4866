//! The health monitor's part of the configuration.

use std::time::Duration;

use super::Thresholds;
use crate::BuildError;
use crate::config::check_duration;

/// How the health monitor samples, judges and reacts.
///
/// # Default
///
/// | field | default |
/// |---|---|
/// | `enabled` | true |
/// | `interval` | 30 s |
/// | `dwell` | none: two intervals |
/// | `cpu_percent` | warn 80, critical 95 |
/// | `memory_percent` | warn 85, critical 95 |
/// | `fds_percent` | warn 80, critical 95 |
/// | `nproc_percent` | warn 80, critical 95 |
/// | `supervised_processes` | none: not judged |
/// | `error_rate` | warn 0.10, critical 0.50 |
/// | `error_window` | 5 min |
/// | `error_min_calls` | 20 |
/// | `degraded_worker_ratio` | 0.75 |
/// | `unhealthy_worker_ratio` | 0.5 |
/// | `shed_when_critical` | true |
/// | `recovery_cooldown` | 10 s |
/// | `memory_floor` | none: memory-aware admission never waits |
///
/// The two limits warn at 80 % and are critical at 95 %, as CPU: a service that has used 95 %
/// of its descriptors or processes fails its next `accept`, `pipe` or browser start within
/// moments, and shedding new work there is what keeps it up. How many supervised processes are
/// too many only the service knows (a browser farm of 50 is healthy, one that leaks is not at
/// 50), so that reading is shown but judged only when thresholds are set.
///
/// # Examples
///
/// ```
/// use bursar::health::{HealthConfig, Thresholds};
///
/// // A farm of 40 browsers: more than 48 alive is a leak, more than 60 an emergency.
/// let health = HealthConfig::default().supervised_processes(Thresholds { warn: 48.0, critical: 60.0 });
/// assert_eq!(health.validate(), Ok(()));
/// assert_eq!(health.fds_percent, Thresholds { warn: 80.0, critical: 95.0 });
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(remote = "Self", default, deny_unknown_fields))]
#[non_exhaustive]
pub struct HealthConfig {
    /// Whether the monitor runs at all (when off the level stays `unknown` and nothing is gated).
    pub enabled: bool,
    /// How often to sample; also how long a sample, a custom check or an emergency action
    /// may take before it is given up. At least 1 ms, tokio's timer resolution.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::required"))]
    pub interval: Duration,
    /// How long readings must stay better before a better level is entered.
    /// `None`: two sampling intervals. At least 1 ms, tokio's timer resolution.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::optional"))]
    pub dwell: Option<Duration>,
    /// System CPU use, percent.
    pub cpu_percent: Thresholds,
    /// System memory in use, percent.
    pub memory_percent: Thresholds,
    /// This process's open file descriptors, percent of its soft `RLIMIT_NOFILE`.
    pub fds_percent: Thresholds,
    /// The processes and threads of this process's user, percent of its soft `RLIMIT_NPROC`
    /// (not judged where no such limit is enforced).
    pub nproc_percent: Thresholds,
    /// The supervised processes alive, a count (feature `process`); `None`: not judged.
    pub supervised_processes: Option<Thresholds>,
    /// Fraction of governed calls (and reported errors) that failed within `error_window`.
    pub error_rate: Thresholds,
    /// The window the error rate is measured over. At least 1 ms, tokio's timer resolution.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::required"))]
    pub error_window: Duration,
    /// The error rate counts only once this many calls ended within the window.
    pub error_min_calls: u64,
    /// While degraded, the worker limit is `max_workers` times this (rounded up, at least 1).
    pub degraded_worker_ratio: f64,
    /// While unhealthy or critical, the worker limit is `max_workers` times this.
    pub unhealthy_worker_ratio: f64,
    /// While critical, new calls are rejected with `Rejection::Overloaded`.
    pub shed_when_critical: bool,
    /// A recovery callback for an error kind runs at most once per this period.
    /// At least 1 ms, tokio's timer resolution.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::required"))]
    pub recovery_cooldown: Duration,
    /// Memory-aware admission's floor, a percentage of the machine's memory (above 0, below
    /// 100): a call with a [`cost`](crate::Call::cost), or a pool's create with a
    /// [`create_cost`](crate::pool::PoolConfig::create_cost), waits (within the queue or
    /// checkout timeout) while the available memory at the last sample, less the costs of the
    /// admitted work still running and its own, would fall below it; a cost more than the
    /// machine's memory less the floor is refused at once. `None`: costs are counted
    /// (`status().workers.memory`) but never wait. Read on the sampler's cadence, so it needs
    /// the monitor on and a sampler that reads memory (bursar's own do).
    pub memory_floor: Option<f64>,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            enabled: true,
            interval: Duration::from_secs(30),
            dwell: None,
            cpu_percent: Thresholds { warn: 80.0, critical: 95.0 },
            memory_percent: Thresholds { warn: 85.0, critical: 95.0 },
            fds_percent: Thresholds { warn: 80.0, critical: 95.0 },
            nproc_percent: Thresholds { warn: 80.0, critical: 95.0 },
            supervised_processes: None,
            error_rate: Thresholds { warn: 0.10, critical: 0.50 },
            error_window: Duration::from_secs(300),
            error_min_calls: 20,
            degraded_worker_ratio: 0.75,
            unhealthy_worker_ratio: 0.5,
            shed_when_critical: true,
            recovery_cooldown: Duration::from_secs(10),
            memory_floor: None,
        }
    }
}

impl HealthConfig {
    /// The defaults with the monitor turned off: no sampling, no gating, level `unknown`.
    pub fn disabled() -> Self {
        HealthConfig { enabled: false, ..HealthConfig::default() }
    }

    /// The dwell time in force.
    pub(crate) fn dwell_in_force(&self) -> Duration {
        self.dwell.unwrap_or(self.interval.saturating_mul(2))
    }

    /// Checks every rule of the health configuration.
    ///
    /// # Errors
    ///
    /// The first field that breaks a rule, as [`BuildError::Invalid`].
    pub fn validate(&self) -> Result<(), BuildError> {
        check_duration("health.interval", self.interval)?;
        if let Some(dwell) = self.dwell {
            check_duration("health.dwell", dwell)?;
        }
        check_duration("health.error_window", self.error_window)?;
        check_duration("health.recovery_cooldown", self.recovery_cooldown)?;
        if self.error_window.as_nanos() / self.interval.as_nanos() > 10_000 {
            return Err(BuildError::invalid_debug(
                "health.error_window",
                "must be at most 10000 sampling intervals",
                self.error_window,
            ));
        }
        thresholds("health.cpu_percent", self.cpu_percent, 100.0)?;
        thresholds("health.memory_percent", self.memory_percent, 100.0)?;
        thresholds("health.fds_percent", self.fds_percent, 100.0)?;
        thresholds("health.nproc_percent", self.nproc_percent, 100.0)?;
        if let Some(supervised) = self.supervised_processes {
            thresholds("health.supervised_processes", supervised, f64::INFINITY)?;
        }
        thresholds("health.error_rate", self.error_rate, 1.0)?;
        ratio("health.degraded_worker_ratio", self.degraded_worker_ratio)?;
        ratio("health.unhealthy_worker_ratio", self.unhealthy_worker_ratio)?;
        match self.memory_floor {
            Some(floor) if !(floor.is_finite() && 0.0 < floor && floor < 100.0) => {
                Err(BuildError::invalid_debug(
                    "health.memory_floor",
                    "must be above 0 and below 100 (percent)",
                    floor,
                ))
            }
            _ => Ok(()),
        }
    }
}

/// `0 <= warn <= critical <= max`, both finite; `max` is 1 (a rate), 100 (a percentage) or
/// infinite (a count).
fn thresholds(field: &'static str, value: Thresholds, max: f64) -> Result<(), BuildError> {
    let valid = value.warn.is_finite()
        && value.critical.is_finite()
        && 0.0 <= value.warn
        && value.warn <= value.critical
        && value.critical <= max;
    if valid {
        return Ok(());
    }
    let rule = match max {
        1.0 => "must have 0 <= warn <= critical <= 1",
        100.0 => "must have 0 <= warn <= critical <= 100",
        _ => "must have 0 <= warn <= critical, both finite",
    };
    Err(BuildError::invalid_debug(
        field,
        rule,
        format_args!("warn {}, critical {}", value.warn, value.critical),
    ))
}

fn ratio(field: &'static str, value: f64) -> Result<(), BuildError> {
    if value.is_finite() && 0.0 < value && value <= 1.0 {
        return Ok(());
    }
    Err(BuildError::invalid_debug(field, "must be above 0 and at most 1", value))
}

crate::config::setters!(HealthConfig {
    enabled: bool,
    interval: Duration,
    cpu_percent: Thresholds,
    memory_percent: Thresholds,
    fds_percent: Thresholds,
    nproc_percent: Thresholds,
    error_rate: Thresholds,
    error_window: Duration,
    error_min_calls: u64,
    degraded_worker_ratio: f64,
    unhealthy_worker_ratio: f64,
    shed_when_critical: bool,
    recovery_cooldown: Duration,
} into {
    dwell: Option<Duration>,
    supervised_processes: Option<Thresholds>,
    memory_floor: Option<f64>,
});

#[cfg(feature = "serde")]
crate::config::map_only!(HealthConfig);

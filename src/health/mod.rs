//! The health monitor: readings, error rate, levels with hysteresis, recovery, and
//! health-gated admission.
//!
//! Services rarely die at once; they degrade for minutes first — CPU pinned, memory
//! climbing, errors creeping up — and crash when something finally runs out. The monitor
//! samples the machine (through a [`Sampler`]; by default [`SystemSampler`] over `sysinfo`),
//! this process's limits (open files against `RLIMIT_NOFILE`, its user's processes against
//! `RLIMIT_NPROC`, the supervised processes alive: see [`Readings`]) and the governor's own
//! outcomes every interval, and turns them into a [`HealthLevel`]:
//!
//! | readings at their warning threshold | level |
//! |---|---|
//! | none | `Healthy` |
//! | one | `Degraded`: the worker limit shrinks to 75 % |
//! | two or more | `Unhealthy`: the worker limit shrinks to 50 % |
//! | any at its critical threshold | `Critical`: new calls are shed with `Rejection::Overloaded` |
//!
//! Custom checks ([`GovernorBuilder::health_check`](crate::GovernorBuilder::health_check)) add
//! to the readings: a degraded check counts as one more warning. A worse level is entered at once; a better one only after the
//! readings have stayed better for the dwell time, so a brief dip does not flap the limit.
//! Entering `Critical` runs the emergency recovery once. Errors seen outside governed calls
//! are reported with [`Governor::report_error`](crate::Governor::report_error), which runs
//! the recovery callback registered for their kind.
//!
//! Subscribe to changes with [`Governor::watch_health`](crate::Governor::watch_health);
//! [`Governor::liveness`](crate::Governor::liveness) and
//! [`Governor::readiness`](crate::Governor::readiness) answer the two probes an orchestrator
//! asks.

mod blocking_read;
mod check;
mod config;
mod error_rate;
pub(crate) mod hooks;
mod hysteresis;
mod judged;
mod level;
mod limits;
mod monitor;
pub(crate) mod reasons;
pub(crate) mod recovery;
mod report;
mod sampler;
pub(crate) mod state;

pub use check::{CheckResult, CheckStatus};
pub use config::HealthConfig;
pub use level::{HealthLevel, Thresholds};
pub use report::ErrorReport;
#[cfg(feature = "sysinfo")]
#[cfg_attr(docsrs, doc(cfg(feature = "sysinfo")))]
pub use sampler::SystemSampler;
pub use sampler::{Readings, Sampler};

pub(crate) use monitor::Monitor;
pub(crate) use sampler::DynSampler;

/// The sampler used when none is given: the system's, or this process's limits alone without
/// the `sysinfo` feature.
pub(crate) fn default_sampler() -> Box<dyn DynSampler> {
    #[cfg(feature = "sysinfo")]
    return Box::new(SystemSampler::new());
    #[cfg(not(feature = "sysinfo"))]
    return Box::new(limits::LimitsSampler::default());
}

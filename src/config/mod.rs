//! [`GovernorConfig`]: plain data with serde and documented defaults, checked once by
//! [`GovernorBuilder::build`](crate::GovernorBuilder::build) through [`GovernorConfig::validate`].
//!
//! Durations are written as text with a unit (`"30s"`, `"5m"`, `"250ms"`, `"1h"`) or as a
//! number of seconds, so a configuration file reads naturally.

#[cfg(feature = "serde")]
pub(crate) mod duration_text;
#[cfg(feature = "toml")]
mod env;
mod limit;
#[cfg(feature = "serde")]
pub(crate) mod map_only;
#[cfg(feature = "toml")]
mod overlay;
mod retry;
mod rules;
mod setters;
#[cfg(feature = "toml")]
mod sources;
mod workers;

pub use limit::{AdaptiveConfig, LimitKind};
#[cfg(feature = "serde")]
pub(crate) use map_only::map_only;
pub use retry::{BudgetConfig, RetryConfig};
pub(crate) use rules::{check_count, check_duration};
pub(crate) use setters::setters;
#[cfg(feature = "toml")]
pub use sources::ConfigError;
pub use workers::WorkerConfig;

use crate::BuildError;

/// The whole configuration of a [`Governor`](crate::Governor).
///
/// Every field has a default taken from the incidents this library was written for; see each
/// part's own type.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let mut config = bursar::GovernorConfig::default();
/// assert_eq!(config.workers.max_workers, 10);
/// config.workers.queue_timeout = Some(Duration::from_secs(5));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(remote = "Self", default, deny_unknown_fields))]
#[non_exhaustive]
pub struct GovernorConfig {
    /// The bounded worker pool.
    pub workers: WorkerConfig,
    /// How governed calls retry.
    pub retry: RetryConfig,
    /// The health monitor.
    pub health: crate::health::HealthConfig,
    /// The named port ranges sessions lease from.
    pub ports: crate::ports::PortsConfig,
    /// The circuit breakers: the default one and each keyed one.
    pub breaker: crate::breaker::BreakerConfig,
    /// What [`Governor::pool`](crate::Governor::pool) starts each pool from.
    pub pool: crate::pool::PoolConfig,
    /// A resource capped across every process of the service, through the backend given to
    /// [`GovernorBuilder::fleet_backend`](crate::GovernorBuilder::fleet_backend); `None` (the
    /// default): no fleet limit, and the call path is the local one alone.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub fleet: Option<crate::fleet::FleetConfig>,
}

impl GovernorConfig {
    /// Checks every rule of the configuration.
    ///
    /// # Errors
    ///
    /// The first field that breaks a rule, as [`BuildError::Invalid`] naming the field, the
    /// rule and the value — `pool.ports` with the index and name of a range that
    /// `ports.ranges` lacks, for one.
    pub fn validate(&self) -> Result<(), BuildError> {
        self.workers.validate()?;
        self.retry.validate()?;
        self.health.validate()?;
        self.ports.validate()?;
        self.breaker.validate()?;
        self.pool.validate()?;
        if let Some(fleet) = &self.fleet {
            fleet.validate()?;
        }
        rules::known_ranges(&self.pool.ports, &self.ports.ranges)
    }
}

setters!(GovernorConfig {
    workers: WorkerConfig,
    retry: RetryConfig,
    health: crate::health::HealthConfig,
    ports: crate::ports::PortsConfig,
    breaker: crate::breaker::BreakerConfig,
    pool: crate::pool::PoolConfig,
} into {
    fleet: Option<crate::fleet::FleetConfig>,
});

#[cfg(feature = "serde")]
map_only!(GovernorConfig);

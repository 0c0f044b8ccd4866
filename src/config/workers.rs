//! The worker pool's part of the configuration.

use std::time::Duration;

#[cfg(feature = "serde")]
use super::duration_text;
use super::rules;
use super::{AdaptiveConfig, LimitKind};
use crate::BuildError;

/// The bounded worker pool: how much governed work runs at once and how much may wait.
///
/// # Default
///
/// | field | default |
/// |---|---|
/// | `max_workers` | 10 |
/// | `queue_limit` | 1000 |
/// | `queue_timeout` | none (wait until a worker is free) |
/// | `max_task_duration` | 1800 s (30 minutes) |
/// | `blocking_threads` | 10 |
/// | `blocking_queue_limit` | 1000 |
/// | `limit` | `"fixed"`: `max_workers` is the limit |
/// | `min_workers` | 1 (the floor of an adaptive limit) |
/// | `adaptive` | see [`AdaptiveConfig`] |
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(remote = "Self", default, deny_unknown_fields))]
#[non_exhaustive]
pub struct WorkerConfig {
    /// At most this many governed operations run at once (at least 1).
    pub max_workers: usize,
    /// At most this many calls wait for a worker; one more is rejected with
    /// [`Rejection::QueueFull`](crate::Rejection::QueueFull) at once (at least 1).
    pub queue_limit: usize,
    /// A call that waits longer than this for a worker is rejected with
    /// [`Rejection::QueueTimeout`](crate::Rejection::QueueTimeout). `None`: wait as long as it takes.
    /// At least 1 ms, tokio's timer resolution.
    #[cfg_attr(feature = "serde", serde(with = "duration_text::optional"))]
    pub queue_timeout: Option<Duration>,
    /// Work running longer than this is cancelled and fails with
    /// [`Error::Timeout`](crate::Error::Timeout). Measured from the moment the work first gets
    /// a worker; it covers every attempt, backoff sleep and wait between attempts after that.
    /// At least 1 ms, tokio's timer resolution.
    #[cfg_attr(feature = "serde", serde(with = "duration_text::required"))]
    pub max_task_duration: Duration,
    /// At most this many [`spawn_blocking`](crate::Governor::spawn_blocking) closures run at
    /// once, on Tokio's blocking threads (at least 1).
    pub blocking_threads: usize,
    /// At most this many blocking closures wait for a thread (at least 1).
    pub blocking_queue_limit: usize,
    /// How the limit on concurrent work is set: `fixed` at `max_workers`, or moved by an
    /// adaptive algorithm between `min_workers` and `max_workers` (see [`LimitKind`]). The
    /// health monitor's shrinking applies on top: the smaller limit is in force.
    pub limit: LimitKind,
    /// An adaptive limit never goes below this, and starts here (at least 1, at most
    /// `max_workers`). Unused with `limit = "fixed"`.
    pub min_workers: usize,
    /// The adaptive algorithms' parameters.
    pub adaptive: AdaptiveConfig,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            max_workers: 10,
            queue_limit: 1000,
            queue_timeout: None,
            max_task_duration: Duration::from_secs(1800),
            blocking_threads: 10,
            blocking_queue_limit: 1000,
            limit: LimitKind::Fixed,
            min_workers: 1,
            adaptive: AdaptiveConfig::default(),
        }
    }
}

impl WorkerConfig {
    /// Checks every rule of the worker pool's configuration.
    ///
    /// # Errors
    ///
    /// The first field that breaks a rule, as [`BuildError::Invalid`].
    pub fn validate(&self) -> Result<(), BuildError> {
        rules::check_count("workers.max_workers", self.max_workers)?;
        rules::check_count("workers.queue_limit", self.queue_limit)?;
        if let Some(timeout) = self.queue_timeout {
            rules::check_duration("workers.queue_timeout", timeout)?;
        }
        rules::check_duration("workers.max_task_duration", self.max_task_duration)?;
        rules::check_count("workers.blocking_threads", self.blocking_threads)?;
        rules::check_count("workers.blocking_queue_limit", self.blocking_queue_limit)?;
        rules::check_count("workers.min_workers", self.min_workers)?;
        if self.min_workers > self.max_workers {
            let rule = "must be at most workers.max_workers";
            return Err(BuildError::invalid("workers.min_workers", rule, self.min_workers));
        }
        self.adaptive.validate()
    }
}

crate::config::setters!(WorkerConfig {
    max_workers: usize,
    queue_limit: usize,
    max_task_duration: Duration,
    blocking_threads: usize,
    blocking_queue_limit: usize,
    limit: LimitKind,
    min_workers: usize,
    adaptive: AdaptiveConfig,
} into {
    queue_timeout: Option<Duration>,
});

#[cfg(feature = "serde")]
crate::config::map_only!(WorkerConfig);

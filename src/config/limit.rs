//! The adaptive worker limit's part of the configuration: `workers.limit` and
//! `workers.adaptive`.

use std::time::Duration;

#[cfg(feature = "serde")]
use super::duration_text;
use super::rules;
use crate::BuildError;

/// How the worker limit is set: by `max_workers` alone, or by an algorithm that moves it
/// between `min_workers` and `max_workers` from each attempt's latency and overloads.
///
/// Written in lower case in a file: `workers.limit = "gradient"`.
///
/// # Default
///
/// `Fixed`: `max_workers` is the limit (the health monitor still shrinks it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum LimitKind {
    /// `max_workers`, as configured.
    #[default]
    Fixed,
    /// Additive increase, multiplicative decrease: grows by `increase` per window while the
    /// limit is reached, cuts by `backoff` on an overload. Learns only from overloads.
    Aimd,
    /// Follows the ratio of the latency to its baseline: settles where a queue adds
    /// `tolerance` to the latency. The one the simulation in BENCHMARKS.md shows safe.
    Gradient,
    /// Keeps between `alpha` and `beta` attempts queued at the dependency, stepping by one.
    Vegas,
}

impl LimitKind {
    /// The name used in the configuration and in `status()`.
    pub fn name(self) -> &'static str {
        match self {
            LimitKind::Fixed => "fixed",
            LimitKind::Aimd => "aimd",
            LimitKind::Gradient => "gradient",
            LimitKind::Vegas => "vegas",
        }
    }
}

/// The adaptive algorithms' parameters, `workers.adaptive`; each says which algorithm uses it.
///
/// An algorithm judges its samples in *windows*: at least `window` attempts, and at least as
/// many as the limit (about one round of the running attempts).
///
/// # Default
///
/// | field | default | used by |
/// |---|---|---|
/// | `window` | 10 attempts | all |
/// | `backoff` | 0.9 | all: the limit's cut on an overload |
/// | `probe_every` | 100 windows | `gradient`, `vegas`: how often the baseline is measured |
/// | `tolerance` | 0.2 | `gradient`: the queueing latency allowed over the baseline |
/// | `gain` | 0.3 | `gradient`: how far one window moves the limit toward its target |
/// | `increase` | 1.0 | `aimd`: added per window in which the limit was reached |
/// | `latency_limit` | none | `aimd`: an attempt slower than this counts as an overload |
/// | `alpha` | 2 | `vegas`: below this many queued, grow |
/// | `beta` | 4 | `vegas`: above this many queued, shrink |
///
/// # Examples
///
/// ```
/// use bursar::{AdaptiveConfig, LimitKind, WorkerConfig};
///
/// let workers = WorkerConfig::default()
///     .limit(LimitKind::Gradient)
///     .min_workers(2)
///     .max_workers(64)
///     .adaptive(AdaptiveConfig::default().tolerance(0.3));
/// assert!(workers.validate().is_ok());
///
/// let wrong = WorkerConfig::default().adaptive(AdaptiveConfig::default().backoff(1.5));
/// let refused = wrong.validate().unwrap_err().to_string();
/// assert!(refused.contains("workers.adaptive.backoff"), "{refused}");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(remote = "Self", default, deny_unknown_fields))]
#[non_exhaustive]
pub struct AdaptiveConfig {
    /// Attempts judged together, at least (1 to 10 000).
    pub window: usize,
    /// The limit is multiplied by this on an overload (above 0, below 1).
    pub backoff: f64,
    /// Windows between two measurements of the baseline (at least 1).
    pub probe_every: u32,
    /// `gradient`: the share of latency a queue may add over the baseline (above 0, at most 10).
    pub tolerance: f64,
    /// `gradient`: the exponent of each window's step toward the target (above 0, at most 1).
    pub gain: f64,
    /// `aimd`: added to the limit per window in which it was reached (above 0, at most 1000).
    pub increase: f64,
    /// `aimd`: an attempt slower than this counts as an overload. `None`: only timeouts and
    /// `overload_when` errors do.
    #[cfg_attr(feature = "serde", serde(with = "duration_text::optional"))]
    pub latency_limit: Option<Duration>,
    /// `vegas`: grow while fewer than this many attempts are estimated queued (at least 0).
    pub alpha: u32,
    /// `vegas`: shrink while more than this many are (more than `alpha`).
    pub beta: u32,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            window: 10,
            backoff: 0.9,
            probe_every: 100,
            tolerance: 0.2,
            gain: 0.3,
            increase: 1.0,
            latency_limit: None,
            alpha: 2,
            beta: 4,
        }
    }
}

impl AdaptiveConfig {
    /// Checks every rule of the adaptive parameters.
    ///
    /// # Errors
    ///
    /// The first field that breaks a rule, as [`BuildError::Invalid`].
    pub fn validate(&self) -> Result<(), BuildError> {
        if !(1..=10_000).contains(&self.window) {
            return Err(BuildError::invalid(
                "workers.adaptive.window",
                "must be between 1 and 10000",
                self.window,
            ));
        }
        open_unit("workers.adaptive.backoff", self.backoff, 1.0, "must be above 0 and below 1", false)?;
        if self.probe_every == 0 {
            return Err(BuildError::invalid(
                "workers.adaptive.probe_every",
                "must be at least 1",
                self.probe_every,
            ));
        }
        open_unit(
            "workers.adaptive.tolerance",
            self.tolerance,
            10.0,
            "must be above 0 and at most 10",
            true,
        )?;
        open_unit("workers.adaptive.gain", self.gain, 1.0, "must be above 0 and at most 1", true)?;
        open_unit(
            "workers.adaptive.increase",
            self.increase,
            1000.0,
            "must be above 0 and at most 1000",
            true,
        )?;
        if let Some(latency) = self.latency_limit {
            rules::check_duration("workers.adaptive.latency_limit", latency)?;
        }
        if self.beta <= self.alpha {
            return Err(BuildError::invalid(
                "workers.adaptive.beta",
                "must be more than workers.adaptive.alpha",
                self.beta,
            ));
        }
        Ok(())
    }
}

/// A value above 0 and below `top` (or up to it, if `inclusive`); NaN breaks the rule too.
fn open_unit(
    field: &'static str,
    value: f64,
    top: f64,
    rule: &'static str,
    inclusive: bool,
) -> Result<(), BuildError> {
    let below_top = if inclusive { value <= top } else { value < top };
    match value > 0.0 && below_top {
        true => Ok(()),
        false => Err(BuildError::invalid(field, rule, value)),
    }
}

crate::config::setters!(AdaptiveConfig {
    window: usize,
    backoff: f64,
    probe_every: u32,
    tolerance: f64,
    gain: f64,
    increase: f64,
    alpha: u32,
    beta: u32,
} into {
    latency_limit: Option<Duration>,
});

#[cfg(feature = "serde")]
crate::config::map_only!(AdaptiveConfig);

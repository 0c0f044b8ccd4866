//! The retry part of the configuration: how often and how patiently governed calls retry.

use std::time::Duration;

#[cfg(feature = "serde")]
use super::duration_text;
use super::rules;
use crate::BuildError;
use crate::retry::{ExponentialBackoff, Jitter, RetryBudget};

/// How governed calls retry: an exponential schedule, a limit on attempts, an optional
/// deadline and a budget shared by every call of the governor.
///
/// Attempts count the first call: `max_attempts = 3` is one call and at most two retries.
///
/// # Default
///
/// | field | default |
/// |---|---|
/// | `max_attempts` | 3 |
/// | `initial_delay` | 2 s |
/// | `multiplier` | 2.0 |
/// | `max_delay` | 30 s |
/// | `jitter` | [`Jitter::None`] (so the delays are exactly 2 s, 4 s, …) |
/// | `seed` | none: each call's jitter is seeded from entropy |
/// | `deadline` | none |
/// | `budget` | on: retries ≤ 20 % of the calls of the last 10 s, plus 10 per second |
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(remote = "Self", default, deny_unknown_fields))]
#[non_exhaustive]
pub struct RetryConfig {
    /// Attempts per call, the first included (1 to 1000; 1 turns retrying off).
    pub max_attempts: u32,
    /// The delay before the first retry.
    /// Longer than zero; one below 1 ms sleeps 1 ms, tokio's timer resolution.
    #[cfg_attr(feature = "serde", serde(with = "duration_text::required"))]
    pub initial_delay: Duration,
    /// Each delay is the previous one times this (a finite number, at least 1).
    pub multiplier: f64,
    /// No delay is longer than this, jitter included.
    #[cfg_attr(feature = "serde", serde(with = "duration_text::required"))]
    pub max_delay: Duration,
    /// How delays are randomised so clients that failed together do not retry together.
    pub jitter: Jitter,
    /// Fixes the jitter's random source, for reproducible tests. Each call still gets its
    /// own sequence, derived from this seed and the order in which calls first fail.
    pub seed: Option<u64>,
    /// No retry starts that would end after this long since the call began.
    /// At least 1 ms, tokio's timer resolution.
    #[cfg_attr(feature = "serde", serde(with = "duration_text::optional"))]
    pub deadline: Option<Duration>,
    /// The retry budget shared by every call of the governor.
    pub budget: BudgetConfig,
}

impl Default for RetryConfig {
    fn default() -> Self {
        let backoff = ExponentialBackoff::new();
        RetryConfig {
            max_attempts: 3,
            initial_delay: backoff.initial_delay(),
            multiplier: backoff.multiplier(),
            max_delay: backoff.max_delay(),
            jitter: backoff.jitter(),
            seed: None,
            deadline: None,
            budget: BudgetConfig::default(),
        }
    }
}

/// The retry budget: retries may be at most `retry_ratio` of the calls of the last `ttl`,
/// plus `min_per_sec` per second. See [`RetryBudget`].
///
/// # Default
///
/// | field | default |
/// |---|---|
/// | `enabled` | true |
/// | `ttl` | 10 s |
/// | `min_per_sec` | 10 |
/// | `retry_ratio` | 0.2 |
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(remote = "Self", default, deny_unknown_fields))]
#[non_exhaustive]
pub struct BudgetConfig {
    /// Whether the budget applies at all.
    pub enabled: bool,
    /// The window calls and retries are counted over (1 s to 60 s).
    #[cfg_attr(feature = "serde", serde(with = "duration_text::required"))]
    pub ttl: Duration,
    /// Retries per second allowed even without calls.
    pub min_per_sec: u32,
    /// Retries allowed per call (0 to 1000).
    pub retry_ratio: f32,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        let budget = RetryBudget::default();
        BudgetConfig {
            enabled: true,
            ttl: budget.ttl(),
            min_per_sec: budget.min_per_sec(),
            retry_ratio: budget.retry_ratio(),
        }
    }
}

impl RetryConfig {
    /// The schedule this configuration describes.
    pub fn backoff(&self) -> ExponentialBackoff {
        let backoff = ExponentialBackoff::new()
            .with_initial_delay(self.initial_delay)
            .with_multiplier(self.multiplier)
            .with_max_delay(self.max_delay)
            .with_jitter(self.jitter);
        match self.seed {
            Some(seed) => backoff.with_seed(seed),
            None => backoff,
        }
    }

    /// Checks every rule of the retry configuration.
    ///
    /// # Errors
    ///
    /// The first field that breaks a rule, as [`BuildError::Invalid`].
    pub fn validate(&self) -> Result<(), BuildError> {
        if !(1..=crate::retry::MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(BuildError::invalid(
                "retry.max_attempts",
                "must be between 1 and 1000",
                self.max_attempts,
            ));
        }
        self.backoff().validate()?;
        rules::delay("retry.max_delay", self.max_delay)?;
        if let Some(deadline) = self.deadline {
            rules::check_duration("retry.deadline", deadline)?;
        }
        self.budget.build().map(drop)
    }
}

impl BudgetConfig {
    /// The budget this configuration describes, if enabled.
    pub(crate) fn build(&self) -> Result<Option<RetryBudget>, BuildError> {
        if !self.enabled {
            return Ok(None);
        }
        RetryBudget::new(self.ttl, self.min_per_sec, self.retry_ratio).map(Some)
    }
}

crate::config::setters!(RetryConfig {
    max_attempts: u32,
    initial_delay: Duration,
    multiplier: f64,
    max_delay: Duration,
    jitter: Jitter,
    budget: BudgetConfig,
} into {
    seed: Option<u64>,
    deadline: Option<Duration>,
});

crate::config::setters!(BudgetConfig { enabled: bool, ttl: Duration, min_per_sec: u32, retry_ratio: f32 });

#[cfg(feature = "serde")]
crate::config::map_only!(RetryConfig, BudgetConfig);

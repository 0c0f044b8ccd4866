//! The circuit breaker's part of the configuration: when a breaker opens, how long it stays
//! open, how it probes its way closed again, and how many keyed breakers are kept.

use std::time::Duration;

use super::trip_rules::{FailureRate, SlowCall};
use crate::BuildError;
use crate::config::check_duration;

/// The longest duration a setting may have: far beyond any sane wait, yet short enough that
/// adding it to "now" can never overflow a clock.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// When a [`CircuitBreaker`](super::CircuitBreaker) opens and how it recovers.
///
/// A breaker opens after `failure_threshold` failures in a row, or — if `failure_rate` is set —
/// when the share of failures among recent calls reaches its threshold. It then rejects every
/// call for `open_wait`, admits `half_open_probes` trial calls at a time, and closes after
/// `probes_to_close` of them succeed. A failed probe opens it again for `open_wait_multiplier`
/// times as long as before, up to `max_open_wait`.
///
/// # Default
///
/// | field | default |
/// |---|---|
/// | `failure_threshold` | 5 failures in a row |
/// | `failure_rate` | none (only failures in a row count) |
/// | `slow_call` | none (a success is a success however long it took) |
/// | `open_wait` | 120 s |
/// | `open_wait_multiplier` | 1.0 (every wait is `open_wait`) |
/// | `max_open_wait` | 30 min |
/// | `half_open_probes` | 1 |
/// | `probes_to_close` | 1 |
/// | `max_keys` | 10 000 |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use bursar::breaker::{BreakerConfig, FailureRate, RateWindow, SlowCall};
///
/// let mut config = BreakerConfig::default();
/// config.open_wait_multiplier = 2.0; // 120 s, 240 s, 480 s … up to 30 min
/// config.failure_rate = Some(FailureRate::default()); // half of the last 100 calls
/// config.slow_call = Some(SlowCall::new(Duration::from_secs(20)));
/// assert!(config.validate().is_ok());
///
/// config.failure_rate = Some(FailureRate::new(0.5, RateWindow::Count(10), 20));
/// let error = config.validate().unwrap_err();
/// assert_eq!(error.field(), Some("breaker.failure_rate.min_calls"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(remote = "Self", default, deny_unknown_fields))]
#[non_exhaustive]
pub struct BreakerConfig {
    /// Opens the breaker after this many failures in a row (1 to 1000).
    pub failure_threshold: u32,
    /// Also opens the breaker when this share of recent calls failed.
    pub failure_rate: Option<FailureRate>,
    /// Counts successes slower than this as failures.
    pub slow_call: Option<SlowCall>,
    /// How long the breaker stays open before its first probe.
    /// At least 1 ms, tokio's timer resolution.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::required"))]
    pub open_wait: Duration,
    /// Each failed probe multiplies the wait by this (a finite number from 1 to 1000).
    pub open_wait_multiplier: f64,
    /// No wait is longer than this (at least `open_wait`). At least 1 ms, tokio's timer resolution.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::required"))]
    pub max_open_wait: Duration,
    /// At most this many probes run at once while half-open (1 to 1000).
    pub half_open_probes: u32,
    /// This many successful probes close the breaker (1 to 1000).
    pub probes_to_close: u32,
    /// A [`BreakerRegistry`](super::BreakerRegistry) keeps at most this many keyed breakers
    /// (at least 1).
    pub max_keys: usize,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            failure_rate: None,
            slow_call: None,
            open_wait: Duration::from_secs(120),
            open_wait_multiplier: 1.0,
            max_open_wait: Duration::from_secs(30 * 60),
            half_open_probes: 1,
            probes_to_close: 1,
            max_keys: 10_000,
        }
    }
}

impl BreakerConfig {
    /// Checks every rule of the breaker configuration.
    ///
    /// # Errors
    ///
    /// The first field that breaks a rule, as [`BuildError::Invalid`] naming it
    /// (`breaker.open_wait`, `breaker.failure_rate.threshold`, …).
    pub fn validate(&self) -> Result<(), BuildError> {
        count("breaker.failure_threshold", self.failure_threshold)?;
        if let Some(rate) = &self.failure_rate {
            rate.validate()?;
        }
        if let Some(slow) = &self.slow_call {
            duration("breaker.slow_call.threshold", slow.threshold)?;
        }
        check_duration("breaker.open_wait", self.open_wait)?;
        let multiplier = self.open_wait_multiplier;
        if !(multiplier.is_finite() && (1.0..=1000.0).contains(&multiplier)) {
            let rule = "must be a finite number from 1 to 1000";
            return Err(BuildError::invalid("breaker.open_wait_multiplier", rule, multiplier));
        }
        check_duration("breaker.max_open_wait", self.max_open_wait)?;
        if self.max_open_wait < self.open_wait {
            return Err(BuildError::invalid_debug(
                "breaker.max_open_wait",
                "must be at least `breaker.open_wait`",
                self.max_open_wait,
            ));
        }
        count("breaker.half_open_probes", self.half_open_probes)?;
        count("breaker.probes_to_close", self.probes_to_close)?;
        if self.max_keys == 0 {
            return Err(BuildError::invalid("breaker.max_keys", "must be at least 1", 0));
        }
        Ok(())
    }
}

/// A count of failures or probes: 1 to 1000.
pub(super) fn count(field: &'static str, value: u32) -> Result<(), BuildError> {
    if !(1..=1000).contains(&value) {
        return Err(BuildError::invalid(field, "must be from 1 to 1000", value));
    }
    Ok(())
}

/// A threshold calls are measured against (not a timer): longer than zero, at most 365 days.
pub(super) fn duration(field: &'static str, value: Duration) -> Result<(), BuildError> {
    if value.is_zero() {
        return Err(BuildError::invalid(field, "must be longer than zero", format_args!("{value:?}")));
    }
    if value > MAX_DURATION {
        return Err(BuildError::invalid(field, "must be at most 365 days", format_args!("{value:?}")));
    }
    Ok(())
}

crate::config::setters!(BreakerConfig {
    failure_threshold: u32,
    open_wait: Duration,
    open_wait_multiplier: f64,
    max_open_wait: Duration,
    half_open_probes: u32,
    probes_to_close: u32,
    max_keys: usize,
} into {
    failure_rate: Option<FailureRate>,
    slow_call: Option<SlowCall>,
});

#[cfg(feature = "serde")]
crate::config::map_only!(BreakerConfig);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::RateWindow;

    fn error_of(config: &BreakerConfig) -> (&'static str, String) {
        let error = config.validate().unwrap_err();
        (error.field().unwrap(), error.to_string())
    }

    #[test]
    fn the_default_is_the_seed_defaults_and_valid() {
        let config = BreakerConfig::default();
        assert_eq!((config.failure_threshold, config.open_wait), (5, Duration::from_secs(120)));
        assert_eq!((config.half_open_probes, config.probes_to_close, config.max_keys), (1, 1, 10_000));
        assert_eq!(config.validate(), Ok(()));
        let rate = FailureRate::default();
        assert_eq!((rate.threshold, rate.window, rate.min_calls), (0.5, RateWindow::Count(100), 20));
    }

    #[test]
    fn validate_names_each_broken_field() {
        type Breaks = fn(&mut BreakerConfig);
        let cases: [(Breaks, &str, &str); 12] = [
            (|c| c.failure_threshold = 0, "breaker.failure_threshold", "0"),
            (|c| c.failure_threshold = 1001, "breaker.failure_threshold", "1001"),
            (|c| c.open_wait = Duration::ZERO, "breaker.open_wait", "0ns"),
            (|c| c.open_wait_multiplier = 0.5, "breaker.open_wait_multiplier", "0.5"),
            (|c| c.open_wait_multiplier = f64::NAN, "breaker.open_wait_multiplier", "NaN"),
            (|c| c.max_open_wait = Duration::from_secs(60), "breaker.max_open_wait", "60s"),
            (|c| c.half_open_probes = 0, "breaker.half_open_probes", "0"),
            (|c| c.probes_to_close = 0, "breaker.probes_to_close", "0"),
            (|c| c.max_keys = 0, "breaker.max_keys", "0"),
            (
                |c| c.slow_call = Some(SlowCall { threshold: Duration::ZERO }),
                "breaker.slow_call.threshold",
                "0ns",
            ),
            (
                |c| c.failure_rate = Some(FailureRate { threshold: 0.0, ..FailureRate::default() }),
                "breaker.failure_rate.threshold",
                "0",
            ),
            (
                |c| c.failure_rate = Some(FailureRate { threshold: 1.5, ..FailureRate::default() }),
                "breaker.failure_rate.threshold",
                "1.5",
            ),
        ];
        for (breaks, field, value) in cases {
            let mut config = BreakerConfig::default();
            breaks(&mut config);
            let (named, message) = error_of(&config);
            assert_eq!(named, field);
            assert!(message.ends_with(&format!("(got {value})")), "{message}");
        }
    }

    #[test]
    fn the_failure_rate_window_and_min_calls_are_checked() {
        let cases = [
            (RateWindow::Count(0), 1, "breaker.failure_rate.window"),
            (RateWindow::Count(10_001), 1, "breaker.failure_rate.window"),
            (RateWindow::Time(Duration::from_millis(999)), 1, "breaker.failure_rate.window"),
            (RateWindow::Time(Duration::from_secs(3601)), 1, "breaker.failure_rate.window"),
            (RateWindow::Count(10), 11, "breaker.failure_rate.min_calls"),
            (RateWindow::Time(Duration::from_secs(60)), 0, "breaker.failure_rate.min_calls"),
        ];
        for (window, min_calls, field) in cases {
            let rate = FailureRate { window, min_calls, ..FailureRate::default() };
            let config = BreakerConfig { failure_rate: Some(rate), ..BreakerConfig::default() };
            assert_eq!(error_of(&config).0, field, "{window:?} {min_calls}");
        }
        let edges = [(RateWindow::Count(10), 10), (RateWindow::Time(Duration::from_secs(3600)), 1_000_000)];
        for (window, min_calls) in edges {
            let rate = FailureRate { window, min_calls, threshold: 1.0 };
            let config = BreakerConfig { failure_rate: Some(rate), ..BreakerConfig::default() };
            assert_eq!(config.validate(), Ok(()));
        }
    }

    #[cfg(feature = "serde")]
    #[test]
    fn the_config_reads_from_json_with_durations_as_text() {
        let json = r#"{ "open_wait": "30s", "open_wait_multiplier": 2.0,
            "failure_rate": { "threshold": 0.25, "window": { "time": "1m" } },
            "slow_call": { "threshold": "5s" } }"#;
        let config: BreakerConfig = serde_json::from_str(json).unwrap();
        assert_eq!(config.open_wait, Duration::from_secs(30));
        let rate = config.failure_rate.clone().unwrap();
        assert_eq!((rate.threshold, rate.window), (0.25, RateWindow::Time(Duration::from_secs(60))));
        assert_eq!(rate.min_calls, 20);
        assert_eq!(config.slow_call, Some(SlowCall { threshold: Duration::from_secs(5) }));
        let text = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<BreakerConfig>(&text).unwrap(), config);
        assert!(serde_json::from_str::<BreakerConfig>(r#"{ "wait": "30s" }"#).is_err());
    }
}

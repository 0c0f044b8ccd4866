//! The trip rules: the optional ones of a breaker's configuration — a [`FailureRate`] over a
//! [`RateWindow`] of recent calls, and [`SlowCall`]s counted as failures — and
//! [`trip_reason`], which judges a closed breaker's counts against them. The judging is pure,
//! like the state machine; the engine calls it under the lock after recording a failure.

use std::time::Duration;

use super::failure_window::WindowReading;
use super::transition::TransitionReason;
use crate::BuildError;

/// The largest count-based window, in calls.
const MAX_WINDOW_CALLS: u32 = 10_000;
/// The shortest and longest time-based windows.
const WINDOW_TIME: std::ops::RangeInclusive<Duration> = Duration::from_secs(1)..=Duration::from_secs(60 * 60);

/// Opens the breaker when at least `threshold` of the calls in `window` failed, once the
/// window holds at least `min_calls` calls.
///
/// # Default
///
/// | field | default |
/// |---|---|
/// | `threshold` | 0.5 |
/// | `window` | [`RateWindow::Count`]`(100)`: the last 100 calls |
/// | `min_calls` | 20 |
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(remote = "Self", default, deny_unknown_fields))]
#[non_exhaustive]
pub struct FailureRate {
    /// The share of failed calls that opens the breaker (above 0, at most 1).
    pub threshold: f64,
    /// Which calls count.
    pub window: RateWindow,
    /// The rate is not judged on fewer calls than this (at least 1, and at most the window's
    /// count for a count-based window).
    pub min_calls: u32,
}

impl FailureRate {
    /// Opens the breaker at `threshold` failures per call over `window`, once it holds
    /// `min_calls` calls.
    pub fn new(threshold: f64, window: RateWindow, min_calls: u32) -> Self {
        FailureRate { threshold, window, min_calls }
    }
}

crate::config::setters!(FailureRate { threshold: f64, window: RateWindow, min_calls: u32 });

impl Default for FailureRate {
    fn default() -> Self {
        FailureRate { threshold: 0.5, window: RateWindow::Count(100), min_calls: 20 }
    }
}

/// The calls a failure rate is computed over; in JSON `{"count": 100}` or `{"time": "60s"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum RateWindow {
    /// The last this many calls (1 to 10 000; 100 is a good start).
    Count(u32),
    /// The calls that ended in the last this long (1 s to 1 h; 60 s is a good start), counted
    /// in 16 slots: a call counts for at least 15/16 of the window and at most all of it.
    Time(#[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::required"))] Duration),
}

impl Default for RateWindow {
    fn default() -> Self {
        RateWindow::Count(100)
    }
}

/// Counts a success that took longer than `threshold` as a failure: a dependency that answers
/// in 40 s is as good as down.
///
/// # Default
///
/// | field | default |
/// |---|---|
/// | `threshold` | 60 s |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(remote = "Self", default, deny_unknown_fields))]
#[non_exhaustive]
pub struct SlowCall {
    /// Calls taking longer than this are slow.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::required"))]
    pub threshold: Duration,
}

impl SlowCall {
    /// Counts successes slower than `threshold` as failures.
    pub fn new(threshold: Duration) -> Self {
        SlowCall { threshold }
    }
}

crate::config::setters!(SlowCall { threshold: Duration });

impl Default for SlowCall {
    fn default() -> Self {
        SlowCall { threshold: Duration::from_secs(60) }
    }
}

impl FailureRate {
    pub(super) fn validate(&self) -> Result<(), BuildError> {
        let threshold = self.threshold;
        if !(threshold > 0.0 && threshold <= 1.0) {
            let rule = "must be a number above 0 and at most 1";
            return Err(BuildError::invalid("breaker.failure_rate.threshold", rule, threshold));
        }
        let field = "breaker.failure_rate.window";
        match self.window {
            RateWindow::Count(calls) if !(1..=MAX_WINDOW_CALLS).contains(&calls) => {
                return Err(BuildError::invalid(field, "must count from 1 to 10000 calls", calls));
            }
            RateWindow::Time(span) if !WINDOW_TIME.contains(&span) => {
                return Err(BuildError::invalid(field, "must span from 1s to 1h", format_args!("{span:?}")));
            }
            _ => {}
        }
        let field = "breaker.failure_rate.min_calls";
        match self.window {
            _ if self.min_calls == 0 => Err(BuildError::invalid(field, "must be at least 1", 0)),
            RateWindow::Count(calls) if self.min_calls > calls => {
                Err(BuildError::invalid(field, "must be at most the window's count", self.min_calls))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(feature = "serde")]
crate::config::map_only!(FailureRate, SlowCall);

/// Whether a closed breaker's counts call for opening it: `failures_in_a_row` against the
/// threshold first, then the failure rate of the window, if a rule is configured.
pub(crate) fn trip_reason(
    failures_in_a_row: u32,
    failure_threshold: u32,
    rate: Option<(&FailureRate, WindowReading)>,
) -> Option<TransitionReason> {
    if failures_in_a_row >= failure_threshold {
        return Some(TransitionReason::ConsecutiveFailures { failures: failures_in_a_row });
    }
    let (rule, reading) = rate?;
    let WindowReading { calls, failures } = reading;
    // The division is correctly rounded, as is the threshold's decimal: a rate exactly at the
    // threshold compares equal.
    let reached = calls >= rule.min_calls && f64::from(failures) / f64::from(calls) >= rule.threshold;
    reached.then_some(TransitionReason::FailureRate { failures, calls })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trip_reason_checks_the_row_then_the_rate() {
        let rule = FailureRate { min_calls: 10, ..FailureRate::default() };
        let reading = |failures, calls| Some((&rule, WindowReading { failures, calls }));
        assert_eq!(trip_reason(4, 5, None), None);
        assert_eq!(trip_reason(5, 5, None), Some(TransitionReason::ConsecutiveFailures { failures: 5 }));
        assert_eq!(trip_reason(1, 5, reading(9, 9)), None, "below min_calls");
        assert_eq!(
            trip_reason(1, 5, reading(5, 10)),
            Some(TransitionReason::FailureRate { failures: 5, calls: 10 })
        );
        assert_eq!(trip_reason(1, 5, reading(4, 10)), None);
    }
}

//! The trip rules judged: whether a closed breaker's counts call for opening it. Pure, like
//! the state machine; the engine calls it under the lock after recording a failure.

use super::transition::TransitionReason;
use super::trip_rules::FailureRate;
use super::window::WindowReading;

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

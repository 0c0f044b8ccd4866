//! [`BreakerStatus`]: what a breaker reports to a status page.

use std::time::Duration;

use super::transition::BreakerState;

/// A breaker's state and counts at one moment; serialisable with serde.
///
/// Read under the breaker's lock, so the state and `retry_after` agree; the counts are exact
/// whenever no call ends while they are read.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct BreakerStatus {
    /// Where the breaker stands. An open breaker whose wait has passed still reads
    /// [`Open`](BreakerState::Open) (with `retry_after` zero) until a caller comes for the probe.
    pub state: BreakerState,
    /// Failures per call in the failure-rate window of the closed period in progress; 0
    /// without a [`failure_rate`](super::BreakerConfig::failure_rate) rule, without calls, and
    /// in every other state: the window starts anew with each change of state. The counts that
    /// opened the breaker are in the opening [`Transition`](super::Transition)'s reason.
    pub failure_rate: f64,
    /// Calls in that window; 0 without a failure-rate rule and in every state but closed.
    pub calls_in_window: u32,
    /// Failures in a row: of the closed state, then the probes' (a success sets it to 0). Kept
    /// while open, so it shows the run that opened the breaker.
    pub consecutive_failures: u32,
    /// How long until an open breaker admits a probe; `None` unless
    /// [`Open`](BreakerState::Open).
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::optional"))]
    pub retry_after: Option<Duration>,
}

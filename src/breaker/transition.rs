//! The vocabulary of a breaker's life: its [`BreakerState`]s and the [`Transition`]s between
//! them, each with its [`TransitionReason`].

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

/// Where a circuit breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum BreakerState {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls are rejected until the open wait has passed.
    Open,
    /// A limited number of probe calls go through; their outcome closes or reopens the breaker.
    HalfOpen,
    /// Opened by hand: every call is rejected until [`reset`](super::CircuitBreaker::reset).
    ForcedOpen,
    /// Switched off by hand: every call goes through and nothing is counted until
    /// [`reset`](super::CircuitBreaker::reset).
    Disabled,
}

impl BreakerState {
    /// The state's name as written in configuration and status: `"half_open"`, …
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
            BreakerState::ForcedOpen => "forced_open",
            BreakerState::Disabled => "disabled",
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a breaker changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransitionReason {
    /// Closed → open: this many failures in a row.
    ConsecutiveFailures {
        /// The failures in a row, the last one included.
        failures: u32,
    },
    /// Closed → open: the failure rate reached its threshold.
    FailureRate {
        /// Failed calls in the window.
        failures: u32,
        /// All calls in the window.
        calls: u32,
    },
    /// Open → half-open: the open wait has passed and a caller came for the first probe.
    WaitElapsed,
    /// Half-open → closed: enough probes succeeded.
    ProbesSucceeded,
    /// Half-open → open: a probe failed.
    ProbeFailed,
    /// [`force_open`](super::CircuitBreaker::force_open) was called.
    ForcedOpen,
    /// [`disable`](super::CircuitBreaker::disable) was called.
    Disabled,
    /// [`reset`](super::CircuitBreaker::reset) was called.
    Reset,
    /// → open: the fleet-wide breaker is open (a quorum of instances saw failures, or the
    /// fleet's probe failed); held open until the fleet closes or lets this instance probe.
    FleetOpened,
    /// Open → half-open: this instance holds the fleet's probe lease and runs its one probe.
    FleetProbe,
    /// → closed: the fleet-wide breaker closed (its probe succeeded).
    FleetClosed,
}

/// One change of a breaker's state, given to the callback set with
/// [`with_on_transition`](super::CircuitBreaker::with_on_transition) and logged as a `tracing`
/// event (target `bursar::breaker`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transition {
    /// The state before.
    pub from: BreakerState,
    /// The state after.
    pub to: BreakerState,
    /// When it happened: the `now` of the call that caused it.
    pub at: Instant,
    /// Why it happened.
    pub reason: TransitionReason,
    /// When `to` is [`BreakerState::Open`]: how long until the next probe.
    pub open_wait: Option<Duration>,
}

impl Transition {
    /// Logs the transition: a warning when the breaker opens, information otherwise.
    pub(crate) fn log(&self, breaker: Option<&str>) {
        let Transition { from, to, reason, open_wait, .. } = self;
        if matches!(to, BreakerState::Open | BreakerState::ForcedOpen) {
            tracing::warn!(target: "bursar::breaker", breaker, %from, %to, ?reason, ?open_wait, "circuit breaker opened");
        } else {
            tracing::info!(target: "bursar::breaker", breaker, %from, %to, ?reason, "circuit breaker changed state");
        }
    }
}

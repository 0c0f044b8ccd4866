//! What a fleet breaker asks its backend, and what the backend answers: one key's votes, its
//! fleet-wide state and epoch, and the probe lease.

use std::time::Duration;

/// Where a fleet-wide breaker stands, by the backend's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum FleetBreakerState {
    /// Every instance's breaker follows its own rules.
    Closed,
    /// Every instance rejects: `quorum` instances voted within the vote window, or the fleet's
    /// probe failed.
    Open,
    /// The open time is over: one instance holds the probe lease (or the next to sync takes
    /// it), and the others reject until its probe closes or reopens the breaker, or its lease
    /// expires.
    Probing,
}

/// A fleet-wide breaker as the backend last answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetBreakerView {
    /// Instances whose votes are live (cast within the vote window).
    pub votes: u32,
    /// Where the breaker stands.
    pub state: FleetBreakerState,
    /// Grows with every opening and every probe lease granted: a probe's outcome counts only
    /// with the epoch it was granted in.
    pub epoch: u64,
    /// While [`Open`](FleetBreakerState::Open): how long until an instance may take the probe
    /// lease; zero otherwise.
    pub open_for: Duration,
    /// Whether the asking instance holds the probe lease of `epoch`.
    pub probe_is_mine: bool,
}

impl FleetBreakerView {
    /// A view of a breaker with `votes` live votes, closed.
    pub fn closed(votes: u32, epoch: u64) -> Self {
        FleetBreakerView {
            votes,
            state: FleetBreakerState::Closed,
            epoch,
            open_for: Duration::ZERO,
            probe_is_mine: false,
        }
    }

    /// A view of a breaker open (`open_for` > 0) or probing, as one backend answer reads.
    pub fn open(votes: u32, epoch: u64, open_for: Duration, probe_is_mine: bool) -> Self {
        let state = if open_for.is_zero() { FleetBreakerState::Probing } else { FleetBreakerState::Open };
        FleetBreakerView { votes, state, epoch, open_for, probe_is_mine }
    }
}

/// One breaker key of one resource, as an instance asks about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerKey<'a> {
    /// The fleet resource's name (`fleet.resource`): the namespace of its breakers.
    pub resource: &'a str,
    /// The breaker's key (`"default"` for the governor's unkeyed breaker).
    pub key: &'a str,
    /// The asking instance.
    pub instance: &'a str,
}

impl<'a> BreakerKey<'a> {
    /// The breaker `key` of `resource`, asked about by `instance`.
    pub fn new(resource: &'a str, key: &'a str, instance: &'a str) -> Self {
        BreakerKey { resource, key, instance }
    }
}

/// An instance's vote that the dependency behind a breaker is failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerVote<'a> {
    /// Whose vote, on which breaker.
    pub breaker: BreakerKey<'a>,
    /// The vote counts this long, by the backend's clock.
    pub window: Duration,
    /// A closed breaker opens when this many instances' votes are live.
    pub quorum: u32,
    /// An opening keeps the breaker open this long before a probe.
    pub open_for: Duration,
}

impl<'a> BreakerVote<'a> {
    /// A vote on `breaker` that counts for `window`, opening at `quorum` for `open_for`.
    pub fn new(breaker: BreakerKey<'a>, window: Duration, quorum: u32, open_for: Duration) -> Self {
        BreakerVote { breaker, window, quorum, open_for }
    }
}

/// The outcome of the fleet's probe, as the instance that ran it tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProbeOutcome<'a> {
    /// Whose probe, on which breaker.
    pub breaker: BreakerKey<'a>,
    /// The epoch of the probe lease it ran under: an outcome of any other epoch changes nothing.
    pub epoch: u64,
    /// Whether the probe succeeded: the breaker closes (and its votes are cleared); otherwise it
    /// opens again for `open_for`.
    pub succeeded: bool,
    /// How long a failed probe reopens the breaker.
    pub open_for: Duration,
}

impl<'a> ProbeOutcome<'a> {
    /// The outcome of the probe of `epoch` on `breaker`; a failure reopens it for `open_for`.
    pub fn new(breaker: BreakerKey<'a>, epoch: u64, succeeded: bool, open_for: Duration) -> Self {
        ProbeOutcome { breaker, epoch, succeeded, open_for }
    }
}

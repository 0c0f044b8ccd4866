//! [`FleetStatus`]: the `fleet` section of the governor's status.

use super::FleetBreakerStatus;

/// Whether the fleet backend answers, as its last operation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum BackendState {
    /// Not asked yet.
    Unknown,
    /// The last operation was answered.
    Up,
    /// The last operation failed: unreachable, too slow, or a wrong answer.
    Down,
}

/// The fleet section of [`Status`](crate::Status): the resource capped across the fleet, and
/// this process's part in it.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), bursar::BuildError> {
/// let gov = bursar::Governor::builder().build()?;
/// assert_eq!(gov.status().fleet, None, "no fleet resource configured");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct FleetStatus {
    /// The resource's name (`fleet.resource`).
    pub resource: String,
    /// The fleet-wide cap (`fleet.cap`).
    pub cap: u32,
    /// Whether the backend answers.
    pub backend: BackendState,
    /// Leases this process holds now.
    pub leases_held: u64,
    /// Leases to give back that the backend has not been told of yet: releases it did not
    /// answer, and what acquires that failed while it was down may have been granted. Sent
    /// after each heartbeat that lands; dropped one lease TTL after they were kept, when the
    /// backend has let them expire.
    pub leases_to_release: u64,
    /// Calls running now without a lease because the backend was down (`local_share` or
    /// `fail_open`).
    pub running_unleased: u64,
    /// The fleet's live instances (governors whose last heartbeat is less than two thirds of
    /// the lease TTL old, this one included), as the backend last told; `None` before its
    /// first answer.
    pub live_instances: Option<u32>,
    /// Leases granted to this process.
    pub acquired: u64,
    /// Leases a renewal found gone, or (`fail_closed`) left unconfirmed for one TTL: each one
    /// cancelled its call.
    pub lost: u64,
    /// Calls admitted without a lease because the backend was down (`local_share` or
    /// `fail_open`).
    pub fallbacks: u64,
    /// Calls refused because the backend was down (`fail_closed`, or `local_share` over its
    /// share).
    pub refused: u64,
    /// Backend operations that failed (each one a `tracing` event).
    pub backend_errors: u64,
    /// The fleet-wide circuit breakers (`fleet.breaker`), in the order of their keys; empty
    /// without them.
    pub breakers: Vec<FleetBreakerStatus>,
    /// This governor's part in its host's port plan; `None` unless `fleet.share_ports`.
    pub ports: Option<PortPlanStatus>,
}

/// This governor's part in its host's port plan (`fleet.share_ports`): the ports it leased
/// with a claim that every instance of the resource on the host respects.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct PortPlanStatus {
    /// The host whose plan it is (`fleet.host`, or this machine's host name).
    pub host: String,
    /// Ports this governor holds now under a claim.
    pub held: u64,
    /// Ports claimed, in all.
    pub claimed: u64,
    /// Ports passed over because another live instance on the host held them.
    pub held_elsewhere: u64,
    /// Ports leased without a claim because the backend was down (`local_share` or
    /// `fail_open`): only the host check keeps another process off them.
    pub unshared: u64,
    /// Claims the backend confirmed released.
    pub released: u64,
    /// Ports whose release the backend has not answered yet: tried again at each heartbeat.
    pub unreleased: u64,
}

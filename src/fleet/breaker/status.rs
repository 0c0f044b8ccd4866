//! [`FleetBreakerStatus`]: one fleet-wide breaker in the `fleet` section of the status.

use super::{FleetBreakerState, FleetBreakerView};

/// A fleet-wide breaker as this instance last heard from the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct FleetBreakerStatus {
    /// The breaker's key (`"default"` for the unkeyed one).
    pub key: String,
    /// Instances whose votes were live; 0 before the backend first answered.
    pub votes: u32,
    /// The fleet's state; `None` before the backend first answered.
    pub state: Option<FleetBreakerState>,
    /// The breaker's epoch: it grows with every opening and every probe lease.
    pub epoch: u64,
    /// Whether this instance holds the probe lease.
    pub probe_held: bool,
    /// Whether the backend could not be asked at the last try: the local breaker follows its
    /// own rules alone until the backend answers again.
    pub local_only: bool,
}

impl FleetBreakerStatus {
    pub(super) fn of(key: &str, view: Option<FleetBreakerView>, local_only: bool) -> Self {
        FleetBreakerStatus {
            key: key.to_owned(),
            votes: view.map_or(0, |view| view.votes),
            state: view.map(|view| view.state),
            epoch: view.map_or(0, |view| view.epoch),
            probe_held: view
                .is_some_and(|view| view.state == FleetBreakerState::Probing && view.probe_is_mine),
            local_only,
        }
    }
}

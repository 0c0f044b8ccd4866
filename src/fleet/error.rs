//! [`FleetError`]: why a fleet backend could not answer.

use std::time::Duration;

/// Why a [`FleetBackend`](super::FleetBackend) operation failed. Every one is logged as a
/// `tracing` event by the part that saw it, and the governor's `on_backend_down` decides what a
/// call does about it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use bursar::fleet::FleetError;
///
/// let error = FleetError::TimedOut { after: Duration::from_millis(250) };
/// assert_eq!(error.to_string(), "the fleet backend did not answer within 250ms");
/// assert!(error.is_unreachable());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// The backend could not be reached: refused, reset, or not connected yet.
    #[error("the fleet backend is unreachable: {reason}")]
    Unreachable {
        /// The client's own words.
        reason: String,
    },
    /// The backend did not answer within the operation's time limit.
    #[error("the fleet backend did not answer within {after:?}")]
    TimedOut {
        /// The time limit.
        after: Duration,
    },
    /// The backend answered, but not as the protocol says: a script error, a wrong type.
    #[error("the fleet backend answered unexpectedly: {reason}")]
    Unexpected {
        /// What was wrong with the answer.
        reason: String,
    },
    /// The backend's code panicked (caught, logged and counted as the callback
    /// `fleet_backend`); it counts as the backend being down.
    #[error("the fleet backend panicked: {message}")]
    Panicked {
        /// The panic's message.
        message: String,
    },
    /// The backend does not implement this operation (a backend written before fleet-wide
    /// breakers): those breakers stay local.
    #[error("the fleet backend does not support `{operation}`")]
    Unsupported {
        /// The operation's name.
        operation: &'static str,
    },
}

impl FleetError {
    /// Whether the backend is down as far as a caller can tell (unreachable or too slow), as
    /// opposed to answering wrongly. Both count as "backend down" for `on_backend_down`.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, FleetError::Unreachable { .. } | FleetError::TimedOut { .. })
    }
}

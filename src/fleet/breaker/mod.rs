//! Fleet-wide circuit breakers: the backend's side (votes, the shared state and its epoch, the
//! probe lease) and the governor's (the task that keeps each local breaker in step).
//!
//! The local breaker stays authoritative for what its own process sees: it opens on its own
//! failures as always. The fleet can only hold it open, and only once `quorum` instances voted
//! within `vote_window` — one sick replica does not trip the fleet. Calls never wait on the
//! backend: a held breaker is an ordinary open breaker to them, rejected lock-free.

mod config;
mod shared;
mod status;
mod sync;
mod view;

pub use config::FleetBreakerConfig;
pub(crate) use shared::FleetBreakers;
pub use status::FleetBreakerStatus;
pub use view::{BreakerKey, BreakerVote, FleetBreakerState, FleetBreakerView, ProbeOutcome};

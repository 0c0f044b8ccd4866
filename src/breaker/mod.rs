//! Failing fast when a dependency is down, and finding out cheaply when it is back.
//!
//! A browser grid that stopped answering, a database in recovery, an API returning 503: calls
//! to a dead dependency do not just fail, they fail *slowly* — each holds a worker, a
//! connection and a port until its timeout — and every retry adds load to whatever is trying
//! to come back up. Retries with backoff spread that load out; a circuit breaker stops it.
//! After enough failures it *opens* and rejects calls at once, for a while, without touching
//! the dependency; then it lets a few *probe* calls through, and their outcome closes it again
//! or keeps it open for longer.
//!
//! ## States
//!
//! | state | calls | leaves when |
//! |---|---|---|
//! | [`Closed`](BreakerState::Closed) | all admitted, outcomes counted | a trip rule fires → open |
//! | [`Open`](BreakerState::Open) | rejected with [`NotPermitted`]`{ retry_after }` | the wait is over and a caller comes → half-open |
//! | [`HalfOpen`](BreakerState::HalfOpen) | up to `half_open_probes` at a time, as probes | `probes_to_close` probes succeeded → closed; one failed → open |
//! | [`ForcedOpen`](BreakerState::ForcedOpen) | all rejected | [`reset`](CircuitBreaker::reset) |
//! | [`Disabled`](BreakerState::Disabled) | all admitted, nothing counted | [`reset`](CircuitBreaker::reset) |
//!
//! Trip rules ([`BreakerConfig`]): `failure_threshold` failures in a row (5 by default), and
//! optionally a [`FailureRate`] over the last N calls or the last T of time, judged once the
//! window holds `min_calls` calls. A success slower than the [`SlowCall`] threshold counts as
//! a failure. The rules are checked when a failure is recorded: a breaker opens on a failure,
//! never on a success. The first open wait is `open_wait` (120 s); each failed probe
//! multiplies it by `open_wait_multiplier`, up to `max_open_wait`; closing restores it.
//!
//! A call's outcome counts only in the period it was admitted in: a call admitted while closed
//! that fails after the breaker opened, or a probe that ends after another probe reopened the
//! breaker, changes nothing. A call cancelled by its caller counts as nothing at all — drop
//! its [`Permit`] (or the future of [`CircuitBreaker::call`]) or call [`Permit::ignore`].
//!
//! ## Using it
//!
//! [`CircuitBreaker::call`] runs a future through the breaker and records its outcome (`Ok` a
//! success; `Err` and a panic, caught, a failure); [`call_when`](CircuitBreaker::call_when)
//! lets a predicate say which errors count. For code that cannot be one future, take a
//! [`Permit`] with [`try_acquire`](CircuitBreaker::try_acquire) and report
//! [`success`](Permit::success) or [`failure`](Permit::failure). The breaker reads tokio's
//! clock itself, only when it must (admitting to and succeeding in a closed breaker read no
//! clock), so on a paused clock time moves with `tokio::time::advance`. The `*_at` variants
//! (`try_acquire_at`, `record_at`, `reset_at`, …) take an explicit instant instead, for tests.

//! ## Exactly N probes
//!
//! Half-open, the breaker is the one place where admitting one call too many defeats it: the
//! dependency is fragile and the point is to send it a *known* number of calls. Probe slots are
//! reserved under the breaker's lock *before* the probe runs, so however many callers race,
//! at most `half_open_probes` probes are in flight. A slot is released when its probe reports
//! — or when its permit is dropped without a report (a cancelled call, a panic unwinding): a
//! breaker never stays half-open because a probe vanished. A successful probe frees its slot
//! for the next caller, so `probes_to_close` may exceed `half_open_probes` ("one probe at a
//! time, three successes to close").
//!
//! ## Why the closed path takes no lock
//!
//! A breaker sits in front of every call and is closed nearly all the time. Admission there is
//! one atomic load, and recording a success at most a few atomic read-modify-writes (the
//! failures-in-a-row reset and the failure-rate window), so the breaker adds no contention to
//! the hot path. Rejections while open or forced open are lock-free too: during an outage
//! every call is one, and they should fail fast. Failures, probes, transitions and the manual
//! controls take a lock: they are rare, and the lock makes their decisions exact.
//!
//! What that costs in exactness, under concurrency only — single-threaded, every count is exact:
//!
//! - Failures in a row are exact: the count shares an atomic word with the state and period,
//!   successes reset it with a compare-and-swap, failures add to it under the lock. A success
//!   that races the failure that opens the breaker counts as after it.
//! - The count window's totals always equal its ring's contents once the records in progress
//!   have finished; records N calls apart that race for one slot may leave the older outcome.
//! - The time window counts every record once, in its slot or a later one, except a record
//!   racing the window's first move after 65 000 slots of silence; a slot counts at most
//!   16 777 215 calls.
//! - A success recorded at the very moment its period ends (the breaker opens or closes) may
//!   land in the next period's window: at most one per call in progress.
//! - Probe slots and transitions are exact: they are decided under the lock.
//!
//! ## Observing
//!
//! Every transition is a `tracing` event (target `bursar::breaker`; warn when it opens, info
//! otherwise) and, if set, a callback ([`CircuitBreaker::with_on_transition`]) called once per
//! transition, in order. [`CircuitBreaker::status`] is a serialisable [`BreakerStatus`].
//!
//! ## Keyed breakers
//!
//! A [`BreakerRegistry`] holds one breaker per key (host, tenant, session), bounded by
//! `max_keys`: idle breakers are evicted least recently used first, so memory does not grow
//! with the number of keys ever seen.
//!
//! ```
//! use std::time::Duration;
//! use tokio::time::sleep;
//! use bursar::breaker::{BreakerConfig, BreakerState, CircuitBreaker};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), bursar::BuildError> {
//! let breaker = CircuitBreaker::new(&BreakerConfig::default())?;
//! for _ in 0..5 {
//!     let permit = breaker.try_acquire().expect("closed");
//!     sleep(Duration::from_secs(1)).await; // a call that fails
//!     permit.failure();
//! }
//! let rejected = breaker.try_acquire().unwrap_err();
//! assert_eq!((rejected.state, rejected.retry_after), (BreakerState::Open, Duration::from_secs(120)));
//!
//! sleep(rejected.retry_after).await;
//! let probe = breaker.try_acquire().expect("the probe");
//! assert!(breaker.try_acquire().is_err(), "one probe at a time");
//! probe.success();
//! assert_eq!(breaker.state(), BreakerState::Closed);
//! # Ok(()) }
//! ```

mod call;
mod circuit_breaker;
mod config;
mod engine;
mod eviction;
mod failure_window;
mod gate;
mod lru;
mod notify;
mod permit;
mod registry;
mod reopen;
mod state;
mod status;
mod transition;
mod trip_rules;

#[cfg(test)]
mod tests;

pub use call::CallError;
pub use circuit_breaker::CircuitBreaker;
pub use config::BreakerConfig;
pub(crate) use permit::Ticketed;
pub use permit::{NotPermitted, Outcome, OwnedPermit, Permit};
pub use registry::BreakerRegistry;
pub use status::BreakerStatus;
pub use transition::{BreakerState, Transition, TransitionReason};
pub use trip_rules::{FailureRate, RateWindow, SlowCall};

//! # bursar — resource governance for async Rust services
//!
//! Services that drive many browsers or database connections at once tend to die the same
//! few deaths: "can't start new thread", pool exhaustion, leaked sessions, tasks that fail
//! silently. bursar puts one [`Governor`] around every such call and keeps the service
//! inside its limits.
//!
//! The parts, composed by one [`Governor`]:
//!
//! - **Bounded worker pool.** At most `max_workers` operations run at once; the rest wait in
//!   a bounded queue ([`Rejection::QueueFull`], [`Rejection::QueueTimeout`]). Work past the
//!   max task duration is cancelled ([`Error::Timeout`]); a panic becomes
//!   [`Error::Panicked`] and releases its worker. [`Governor::spawn`] and
//!   [`Governor::spawn_blocking`] run fire-and-forget work under the same limits, with every
//!   failure logged and counted.
//! - **Retry with backoff** ([`retry`]). Every governed call retries transient failures on an
//!   exponential schedule with optional jitter, bounded by attempts, a deadline and a retry
//!   budget shared by the governor; no worker is held while a retry sleeps. [`Governor::call`]
//!   changes the policy per call; [`retry::RetryExt`] retries without a governor.
//! - **Health monitor** ([`health`]). CPU, memory, threads and the error rate become a level
//!   (healthy, degraded, unhealthy, critical) that shrinks the worker limit and sheds new work
//!   when critical ([`Rejection::Overloaded`]), with recovery callbacks and probes.
//! - **Circuit breaker** ([`breaker`]). Closed, open, half-open (with exact probe slots),
//!   forced open and disabled; trips on failures in a row or a failure rate, with keyed
//!   breakers per site or session ([`Call::key`]). An open circuit turns calls away at once
//!   ([`Rejection::CircuitOpen`]). [`breaker::CircuitBreaker`] also works on its own.
//! - **Port allocator** ([`ports`]). Named port ranges leased to sessions and freed on drop.
//! - **Connection pool** ([`pool`]). Sessions keyed by browser or tenant, created, checked
//!   before reuse and destroyed by your [`pool::Manager`], each holding its own ports; caps per
//!   key and in all, idle and lifetime limits, leak reports. [`Governor::pool`] starts one that
//!   the governor's status, health and shutdown cover.
//! - **One cap across the fleet** ([`fleet`], Redis with feature `redis`). A resource capped
//!   across every process and machine of a service: each call takes a lease renewed while it
//!   runs, freed at its TTL if the process dies, with a fencing token that only grows.
//! - **Child processes** (`bursar::process`, feature `process`). A browser or driver and every
//!   process it starts in a process group of their own, stopped and reaped as one: no zombie, no
//!   orphan; a crash is seen at once and logged.
//! - [`Governor::status`] is a serialisable snapshot; [`Governor::shutdown`] drains
//!   gracefully and reports exactly what it did.
//!
//! ```
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let gov = bursar::Governor::builder()
//!     .max_workers(10)
//!     .max_task_duration(Duration::from_secs(30))
//!     .build()?;
//!
//! let title = gov
//!     .run(|| async {
//!         tokio::time::sleep(Duration::from_millis(120)).await; // a browser call
//!         Ok::<_, std::io::Error>("Example Domain")
//!     })
//!     .await?;
//! assert_eq!(title, "Example Domain");
//!
//! let report = gov.shutdown(Duration::from_secs(5)).await;
//! assert_eq!(report.cancelled, 0);
//! # Ok(()) }
//! ```
//!
//! ## Cancel safety
//!
//! Every permit and queue place is a guard released on drop: dropping any future of this
//! crate at any `.await` leaves every count exact.
//!
//! ## Your code, contained
//!
//! Nothing you hand the governor can end, freeze or abort it. Every piece of your code it
//! calls runs contained: a panic is caught, becomes an `ERROR` event (target `bursar`, field
//! `callback`) and is counted in [`Status::callbacks`] — alert on `callbacks.panicked` — and
//! the part that called it goes on as the table says. A hang is bounded wherever the governor
//! waits for your code's future, as the table says (given up with a `WARN` event; counted in
//! `callbacks.hung` where the table says so). Synchronous code — a hook, a predicate, a
//! callback, your key type's `Hash`, `Eq`, `Clone` and `Debug` — cannot be cut off: one that
//! never returns blocks its thread, so keep it short, and a key type's impls must not panic
//! (the pool calls them under its lock). None of your code runs in a `Drop` while a panic
//! unwinds, where a second panic would abort the process.
//!
//! | your code (`callback` name) | if it panics | if it never returns |
//! |---|---|---|
//! | the operation | [`Error::Panicked`]; its worker is released, the breaker counts a failure | cut off at the max task duration: [`Error::Timeout`] |
//! | the operation's drop, when bursar cancels it (`operation_drop`) | caught and counted; the call ends as cut off | — |
//! | retry `when` | the error is not retried | synchronous: blocks the call's thread; keep it short |
//! | `failure_when` | the error counts as a breaker failure | as `when` |
//! | retry `notify` | the retry still happens | as `when` |
//! | retry `adjust` | the schedule's own delay is used | as `when` |
//! | the operation of a breaker's own [`call`](breaker::CircuitBreaker::call) | [`CallError::Panicked`](breaker::CallError::Panicked); the breaker counts a failure (its future's drop once it answered: caught and counted in `callback_panics`, the answer stands) | yours to bound: the breaker waits as long as you do |
//! | `when`, `notify`, `adjust` of a retry without a governor ([`retry::RetryExt`]) | as for `gov.call`; counted process-wide in [`retry::hook_status`] | runs on the caller's task |
//! | the predicate of [`call_when`](breaker::CircuitBreaker::call_when) (`failure_when`) | the error counts as a breaker failure; counted in `callback_panics` too | runs on the caller's task |
//! | a breaker's transition callback (`on_transition`) | the transition stands, probe slots stay exact; counted in [`CircuitBreaker::callback_panics`](breaker::CircuitBreaker::callback_panics) too | runs on the caller's thread: keep it short |
//! | the [`Sampler`](health::Sampler) | a missed sample: the last readings are kept | given up after one interval: a missed sample |
//! | a health check (`health_check`) | a failed check: unhealthy, with the panic as its message | given up after one interval: unhealthy |
//! | an `on_critical` action | counted; the other actions run | given up after one interval; the others run beside it, and sampling goes on |
//! | an `on_error` recovery | not a recovery; the next report runs it again | runs on the governor's recovery task until shutdown stops it |
//! | `Manager::create` / `check` / `destroy` (`manager_*`) | see [`pool::Manager`] | `create` and `check` are bounded by the checkout timeout (the `get` fails with `PoolError::Timeout`); `destroy` by `pool.destroy_timeout` (counted in `callbacks.hung`; the connection's ports and place are freed) |
//! | a `tower` inner service (`tower_service`) | its `poll_ready`: a [`Error::Panicked`] readiness error; its future: as the operation | as the operation |
//! | the `metrics` recorder (`metrics_recorder`) | the sample is lost; counted process-wide (the recorder is) | runs inline: keep it fast |
//! | a [`FleetBackend`](fleet::FleetBackend)'s operations (`fleet_backend`) | [`FleetError::Panicked`](fleet::FleetError::Panicked): the backend counts as down, and `on_backend_down` decides | given up after `fleet.backend_timeout`: the backend counts as down (counted in the fleet's `backend_errors`) |
//!
//! Two things no library can bound, because no code of theirs runs while they last: a call
//! future that its caller polls once and then neither polls nor drops keeps its worker (and, as
//! a half-open probe, its probe slot) until it is dropped — drive every call to its end or drop
//! it. And a call made from inside an operation of the same governor needs a worker of its own:
//! if it has to wait for one while its caller holds one, that is a `WARN` event, as with every
//! worker held that way it waits until the max task duration.
//!
//! ## Features
//!
//! - `serde` (default): `Serialize`/`Deserialize` for [`GovernorConfig`] and [`Status`].
//! - `sysinfo` (default): [`health::SystemSampler`], the default source of health readings.
//! - `metrics`: counters, gauges and a histogram through the `metrics` facade; the module
//!   `bursar::metrics` lists every name, and `Governor::record_metrics` publishes the gauges.
//! - `tower`: `bursar::tower::GovernorLayer`, a `tower::Layer` over the call path.
//! - `toml`: [`GovernorConfig`] from TOML files and environment variables.
//! - `process`: `bursar::process::Supervised`, a child process in a group of its own, stopped
//!   and reaped whole (Linux).
//! - `redis`: `bursar::fleet::RedisBackend`, caps, port plans and breakers shared by every
//!   process of a service.
//! - `chaos`: `bursar::chaos`, seeded fault injection for your tests.
//! - `full`: all of the above. Not in it: `backoff`, which accepts the unmaintained `backoff`
//!   crate's schedules (RUSTSEC-2025-0012).
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

pub mod breaker;
#[cfg(feature = "chaos")]
#[cfg_attr(docsrs, doc(cfg(feature = "chaos")))]
pub mod chaos;
mod config;
mod contain;
mod counter_set;
mod error;
pub mod fleet;
mod governor;
pub mod health;
mod memory;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
pub mod pool;
pub mod ports;
#[cfg(feature = "process")]
#[cfg_attr(docsrs, doc(cfg(feature = "process")))]
pub mod process;
/// Without the feature only the count of live supervised processes, always 0.
#[cfg(not(feature = "process"))]
#[path = "process/absent.rs"]
mod process;
pub mod retry;
mod sync;
mod system;
mod telemetry;
#[cfg(test)]
mod test_events;
#[cfg(all(test, target_os = "linux"))]
mod testing;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;
mod workers;

#[cfg(feature = "toml")]
#[cfg_attr(docsrs, doc(cfg(feature = "toml")))]
pub use config::ConfigError;
pub use config::{AdaptiveConfig, BudgetConfig, GovernorConfig, LimitKind, RetryConfig, WorkerConfig};
pub use contain::CallbackStatus;
pub use error::{BuildError, Error, InvalidValue, Rejection};
pub use governor::{
    AdaptiveStatus, BlockingStatus, Call, CallFuture, Governor, GovernorBuilder, HealthStatus, MemoryStatus,
    Probe, ShutdownReport, Status, TaskHandle, WorkerStatus,
};
pub use workers::limit::LimitReason;

/// Every code block of the README, compiled as a doctest (with every feature the README uses:
/// CI runs `cargo test --all-features`).
#[cfg(all(doctest, feature = "toml"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

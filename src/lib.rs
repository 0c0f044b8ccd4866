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
//! - **Port allocator** ([`ports`]). Named port ranges leased to sessions and freed on drop.
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
//! ## Features
//!
//! - `serde` (default): `Serialize`/`Deserialize` for [`GovernorConfig`] and [`Status`].
//! - `sysinfo` (default): [`health::SystemSampler`], the default source of health readings.
//! - `metrics`: counters, gauges and a histogram through the `metrics` facade; the module
//!   `bursar::metrics` lists every name, and `Governor::record_metrics` publishes the gauges.
//! - `tower`: `bursar::tower::GovernorLayer`, a `tower::Layer` over the call path.
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

pub mod breaker;
#[cfg(feature = "chaos")]
pub mod chaos;
mod config;
mod contain;
mod counter_set;
mod error;
mod governor;
pub mod health;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod pool;
pub mod ports;
pub mod retry;
mod sync;
#[cfg(feature = "tower")]
pub mod tower;
mod workers;

#[cfg(feature = "toml")]
pub use config::ConfigError;
pub use config::{BudgetConfig, GovernorConfig, RetryConfig, WorkerConfig};
pub use contain::CallbackStatus;
pub use error::{BuildError, Error, Rejection};
pub use governor::{
    BlockingStatus, Call, Governor, GovernorBuilder, HealthStatus, ShutdownReport, Status, TaskHandle,
    WorkerStatus,
};

/// Every code block of the README, compiled as a doctest (with every feature the README uses:
/// CI runs `cargo test --all-features`).
#[cfg(all(doctest, feature = "toml"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

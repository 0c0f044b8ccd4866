//! # bursar — resource governance for async Rust services
//!
//! Services that drive many browsers or database connections at once tend to die the same
//! few deaths: "can't start new thread", pool exhaustion, leaked sessions, tasks that fail
//! silently. bursar puts one [`Governor`] around every such call and keeps the service
//! inside its limits.
//!
//! This release provides the foundation: a bounded worker pool.
//!
//! - At most `max_workers` operations run at once; the rest wait in a bounded queue
//!   ([`Rejection::QueueFull`] when it is full, [`Rejection::QueueTimeout`] after an optional
//!   wait limit).
//! - Work running past the max task duration is cancelled ([`Error::Timeout`]); a panic
//!   becomes [`Error::Panicked`] and releases its worker.
//! - [`Governor::spawn`] and [`Governor::spawn_blocking`] run fire-and-forget work under the
//!   same limits, tracked, with every failure logged and counted.
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
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod config;
mod error;
mod governor;
pub mod health;
pub mod ports;
pub mod retry;
mod workers;

pub use config::{BudgetConfig, GovernorConfig, RetryConfig, WorkerConfig};
pub use error::{BuildError, Error, Rejection};
pub use governor::{
    BlockingStatus, Call, Governor, GovernorBuilder, HealthStatus, ShutdownReport, Status, TaskHandle,
    WorkerStatus,
};

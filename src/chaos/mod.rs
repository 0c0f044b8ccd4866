//! Fault injection for tests (feature `chaos`): wrap an operation so that, at configured
//! rates drawn from a seed, it fails, stalls, answers late or panics.
//!
//! Turn it on in your own tests to see what your service does when the browser or database
//! behind it misbehaves — governed by bursar or not. The same seed gives the same faults in the
//! same order, so a failing run can be replayed exactly.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use bursar::chaos::{Chaos, ChaosConfig};
//!
//! let chaos = Chaos::new(ChaosConfig { seed: 7, fail_rate: 0.5, ..ChaosConfig::default() })?;
//! let gov = bursar::Governor::builder().build()?;
//! let page = gov
//!     .call(|| chaos.wrap(async { Ok("<html>") }, || "connection closed"))
//!     .attempts(10)
//!     .await;
//! assert_eq!(page.unwrap(), "<html>"); // the retries got through the injected failures
//! let status = chaos.status();
//! assert_eq!(status.calls, status.passed + status.failed);
//! # Ok(()) }
//! ```

mod config;
mod monkey;

pub use config::ChaosConfig;
pub use monkey::{Chaos, ChaosStatus, Fault};

//! Port allocation: named ranges of ports, each leased to one holder at a time.
//!
//! A browser session needs ports of its own — one for its VNC server, one for the websocket
//! bridge in front of it. Handed out by hand, ports leak whenever a session ends badly, and
//! under load the host runs out of them. A [`PortAllocator`] leases ports from named ranges
//! (by default `"vnc"` 5900–5999 and `"ws"` 6900–6999) and, when one runs out, says exactly
//! which ([`PortError::Exhausted`]).
//!
//! ## Why leases
//!
//! [`allocate`](PortAllocator::allocate) returns a [`PortLease`], and dropping the lease is
//! the release — there is no `free(port)` to forget. A session that fails, panics or is
//! cancelled at any await point drops its lease with it, so no port leaks and the counts in
//! [`status`](PortAllocator::status) stay exact. A port is in the allocator or in exactly
//! one lease, never both, so it is never leased twice at once.
//!
//! ## Why a quarantine
//!
//! A released port rests for [`PortsConfig::quarantine`] (5 s by default) before it is
//! leased again. The process that held it may still be exiting with the socket open, and its
//! viewers may still be reconnecting: reused at once, the port would fail to bind, or show
//! one user's browser to another. Ports are leased in the order they were released, so the
//! port handed out is always the one that has rested longest.
//!
//! ## Why a host check
//!
//! The allocator knows only its own leases. Another process — a stray browser from a crashed
//! run, another service — may already listen on a port in the range. With
//! [`PortsConfig::host_check`] on (the default), each port is probed by listening on it at
//! 127.0.0.1 before it is handed out; a port in use is skipped and rests a quarantine before
//! it is probed again. A call makes at most as many probes as the range has ports, so a range
//! squatted from end to end gives [`PortError::InUseOnHost`] instead of a spin.
//!
//! ## Cost
//!
//! All ports that are not leased wait in one queue per range, sorted by when each may next be
//! leased. Leasing pops the front and releasing pushes to the back: O(1) whatever the size
//! of the range, under a lock held only for that. The host check adds one `bind` per probe.
//!
//! ```
//! use std::time::Duration;
//! use bursar::ports::{PortAllocator, PortError, PortRange, PortsConfig};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = PortsConfig::default();
//! config.ranges = vec![PortRange::new("vnc", 5900..=5901)];
//! config.host_check = false; // so the ports below do not depend on this machine
//! let allocator = PortAllocator::new(&config)?;
//!
//! let first = allocator.allocate("vnc")?;
//! let second = allocator.allocate("vnc")?;
//! drop(first);
//! let Err(PortError::Exhausted { size: 2, retry_after: Some(wait), .. }) = allocator.allocate("vnc") else {
//!     panic!("both ports should be taken")
//! };
//! assert_eq!(wait, Duration::from_secs(5)); // 5900 rests for the quarantine
//!
//! tokio::time::sleep(wait).await;
//! assert_eq!(allocator.allocate("vnc")?.port(), 5900);
//! # drop(second);
//! # Ok(()) }
//! ```

mod allocator;
mod config;
mod error;
mod host;
mod lease;
mod range;
mod status;
#[cfg(test)]
mod tests;

pub use allocator::PortAllocator;
pub use config::{PortRange, PortsConfig};
pub use error::PortError;
pub use lease::PortLease;
pub use status::RangeStatus;

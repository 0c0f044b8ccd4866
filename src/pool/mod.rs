//! A keyed connection pool: connections per session, each created with ports of its own,
//! capped in total and per key, checked before reuse, aged out, and never lost.
//!
//! A service that drives browsers for many users accumulates them: a WebDriver session per
//! job, a VNC port and a websocket port per browser, and every failure path that forgets to
//! quit one leaves a Chrome process and two ports behind until the machine runs out. The
//! [`Pool`] owns that lifecycle. A [`Manager`] says how to create, check and destroy one
//! connection; the pool decides when.
//!
//! ## Why keyed
//!
//! A browser session belongs to one user profile (cookies, logins); a database connection may
//! belong to one tenant. Connections are pooled by [`Manager::Key`] and only handed out for
//! their own key. `max_per_key` (default 5) stops one busy key from taking every connection;
//! `max_total` (default 20) bounds the machine. When the pool is full and a key below its cap
//! finds only other keys' connections idle, the least recently used of those is destroyed to
//! make room, so a `get` never waits for connections it can never use.
//!
//! ## Why the caps count connections until `destroy` returns
//!
//! A connection counts against the caps from the moment a `get` reserves its place — before
//! `create` — until its `destroy` has returned, not until it is merely given up. A browser
//! still quitting holds its memory and its ports; counting it keeps `max_total` a bound on
//! what really exists, which is what the machine cares about.
//!
//! ## Why ports are leased per connection
//!
//! Each connection is created with one [`PortLease`](crate::ports::PortLease) from each range
//! in [`PoolConfig::ports`] and keeps them until it is destroyed; [`Lease::ports`] reads them.
//! A port therefore can never outlive its browser, nor be handed to a second one while the
//! first still listens.
//!
//! Ports are a capacity like `max_total`: when a range is exhausted and idle connections hold
//! its ports, a `get` for a new connection evicts the least recently used of them, and leases
//! the port it frees once that port's quarantine is over — within the checkout timeout. Only
//! a range exhausted by leased connections (or by another holder of the allocator) fails the
//! `get` with [`PoolError::Ports`].
//!
//! ## Why leases, checks, reaping and a leak detector
//!
//! - [`get`](Pool::get) returns a [`Lease`]; dropping it is the return, and
//!   [`Lease::discard`] destroys a connection that broke in use.
//! - An idle connection is [checked](Manager::check) before reuse (like a database
//!   pre-ping); one that fails is destroyed and replaced within the same `get`.
//! - Idle connections are destroyed after `idle_timeout` (5 min) and every connection after
//!   `max_lifetime` (1 h, less up to 10 % jitter so a batch made together does not expire
//!   together), by a background reaper and by `get` itself between its runs.
//! - A lease held past `leak_threshold` (10 min) is reported once, with the file and line of
//!   the `get` that took it, in a warning and in [`PoolStatus::leaks`].
//! - An idle connection is lent from the moment a `get` takes it out of the idle list, so
//!   while it is checked it counts as [active](PoolStatus::active), in the leak ledger (a check
//!   that hangs past the threshold is reported), and in a `close`'s
//!   [`still_leased`](CloseReport::still_leased). A failed or cut-off check ends that lease.
//!
//! ## Why the manager runs contained
//!
//! The manager is user code, and the pool keeps its counts exact around it. `create`, `check`
//! and `destroy` (and the drop of their futures) run contained: a panic is caught, logged as an
//! `ERROR` event naming the callback (`manager_create`, …), and counted in
//! [`PoolStatus::callback_panics`] — and in the governor's `status().callbacks` for a pool it
//! started. The pool then goes on as if the step had failed: a `create` that panicked is a failed
//! create (its place and ports are given back, `get` returns
//! [`PoolError::ManagerPanicked`]); a `check` that panicked found the connection broken (it is
//! destroyed and replaced within the same `get`); a `destroy` that panicked still frees the
//! connection's ports and place. A `create` or `check` that hangs is cut off by the checkout
//! timeout, which bounds everything a `get` waits for.
//!
//! ## Cancel safety
//!
//! Every place, port and connection a `get` holds across an await point is a guard owned by
//! its future: dropping the `get` anywhere — waiting, creating, checking — gives everything
//! back and leaves every count exact. `destroy` runs on a task of its own, so no caller can
//! cancel it halfway, and [`close`](Pool::close) waits for it.
//!
//! ```
//! use bursar::pool::{Lease, Manager, Pool, PoolConfig};
//! use bursar::ports::PortLease;
//!
//! struct Drivers;
//!
//! impl Manager for Drivers {
//!     type Key = &'static str;
//!     type Connection = u32;
//!     type Error = std::io::Error;
//!
//!     async fn create(&self, _profile: &&'static str, _ports: &[PortLease]) -> Result<u32, Self::Error> {
//!         Ok(4444) // start a driver; this one is just its port
//!     }
//!     async fn check(&self, _driver: &mut u32) -> Result<(), Self::Error> {
//!         Ok(())
//!     }
//!     async fn destroy(&self, _driver: u32) {}
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = PoolConfig::default();
//! (config.max_total, config.max_per_key) = (2, 2);
//! let pool = Pool::builder(Drivers).config(config).build()?;
//!
//! let alice = pool.get("alice").await?;
//! let bob = pool.get("bob").await?;
//! drop(alice); // idle now
//!
//! // Full, and only alice's connection is idle: carol's get evicts it instead of waiting.
//! let carol = pool.get("carol").await?;
//! assert_eq!((*Lease::key(&carol), *carol), ("carol", 4444));
//! assert_eq!((pool.status().evicted, pool.status().sessions), (1, 2));
//! # drop((bob, carol));
//! # Ok(()) }
//! ```

mod backend;
mod builder;
mod cap_place;
mod checkout;
mod close;
mod config;
mod connection;
mod counters;
mod creates;
mod error;
mod governed;
mod leaks;
mod lease;
mod manager;
mod memory;
#[allow(clippy::module_inception, reason = "named for the type it holds, where a reader looks for it")]
mod pool;
mod reaper;
mod sessions;
mod shared;
mod state;
mod status;
#[cfg(test)]
mod tests;
mod waiters;
mod warm;

pub(crate) use builder::FromGovernor;
pub use builder::PoolBuilder;
pub use close::CloseReport;
pub use config::PoolConfig;
pub use error::PoolError;
pub(crate) use governed::{PoolView, RegisteredPool};
pub use leaks::LeakReport;
pub use lease::Lease;
pub use manager::Manager;
pub use pool::Pool;
pub use status::{AllPoolsStatus, PoolStatus};

//! [`Pool::close`] and the [`CloseReport`] it returns.

use std::time::Duration;

use tokio::time::Instant;

use super::{Manager, Pool};

/// What [`Pool::close`] did, counted exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct CloseReport {
    /// Idle connections destroyed.
    pub idle_destroyed: usize,
    /// Leases still out; each connection is destroyed when its lease is dropped.
    pub still_leased: usize,
    /// How long closing took, most of it waiting for `destroy` calls to return.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::required"))]
    pub elapsed: Duration,
}

impl<M: Manager> Pool<M> {
    /// Closes the pool: every later `get` (and every `get` still waiting) fails with
    /// [`PoolError::Closed`](super::PoolError::Closed), the reaper stops, every idle
    /// connection is destroyed and its ports freed, and the call returns once every
    /// `destroy` in flight has returned — including those of connections evicted, reaped or
    /// discarded before. Leases still out are destroyed when they are dropped; a connection
    /// still being created is destroyed as soon as `create` returns.
    ///
    /// Calling it again destroys nothing more and waits for destroys still running.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the pool is closed and its destroys started at the first poll; dropping
    /// the future only stops waiting for them, and they finish on their own tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// # use bursar::pool::{Manager, Pool, PoolError};
    /// # use bursar::ports::PortLease;
    /// # struct Sockets;
    /// # impl Manager for Sockets {
    /// #     type Key = &'static str;
    /// #     type Connection = ();
    /// #     type Error = std::io::Error;
    /// #     async fn create(&self, _: &&'static str, _: &[PortLease]) -> Result<(), Self::Error> { Ok(()) }
    /// #     async fn check(&self, _: &mut ()) -> Result<(), Self::Error> { Ok(()) }
    /// #     async fn destroy(&self, _: ()) {}
    /// # }
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = Pool::builder(Sockets).build()?;
    /// let kept = pool.get("db").await?;
    /// drop(pool.get("cache").await?);
    ///
    /// let report = pool.close().await;
    /// assert_eq!((report.idle_destroyed, report.still_leased), (1, 1));
    /// assert!(matches!(pool.get("db").await, Err(PoolError::Closed)));
    ///
    /// drop(kept); // destroyed, not returned
    /// pool.close().await;
    /// assert_eq!(pool.stats().destroyed, 2);
    /// # Ok(()) }
    /// ```
    pub async fn close(&self) -> CloseReport {
        let started = Instant::now();
        let (idle_destroyed, still_leased) = self.shared.close();
        tracing::info!(target: "bursar::pool", idle_destroyed, still_leased, "pool closing");
        self.shared.backend.settled().await;
        let report = CloseReport { idle_destroyed, still_leased, elapsed: started.elapsed() };
        tracing::info!(target: "bursar::pool", ?report, "pool closed");
        report
    }
}

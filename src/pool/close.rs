//! [`Pool::close`] and the [`CloseReport`] it returns.

use std::time::Duration;

use tokio::time::{Instant, timeout_at};

use super::{Manager, Pool};

/// What [`Pool::close`] did, counted exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct CloseReport {
    /// Idle connections destroyed.
    pub idle_destroyed: usize,
    /// Leases still out, counting connections being checked for a `get` (which then fails
    /// with `Closed`); each connection is destroyed when its lease is dropped.
    pub still_leased: usize,
    /// `destroy` calls still running when [`close_within`](Pool::close_within) stopped
    /// waiting; they go on, on their own tasks, and free their ports when they return.
    /// Always 0 after [`close`](Pool::close), which waits for all of them.
    pub destroys_unfinished: usize,
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
        self.close_until(None).await
    }

    /// [`close`](Pool::close), waiting at most `limit` for the `destroy` calls: a manager
    /// whose `destroy` hangs (a browser that never quits) cannot hold the caller forever.
    /// Destroys still running then are counted in
    /// [`destroys_unfinished`](CloseReport::destroys_unfinished) and reported as a warning;
    /// they go on on their own tasks.
    ///
    /// # Cancel safety
    ///
    /// As [`close`](Pool::close).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use bursar::pool::{Manager, Pool};
    /// # use bursar::ports::PortLease;
    /// struct Stuck;
    /// impl Manager for Stuck {
    ///     type Key = u32;
    ///     type Connection = ();
    ///     type Error = std::io::Error;
    ///     async fn create(&self, _: &u32, _: &[PortLease]) -> Result<(), Self::Error> { Ok(()) }
    ///     async fn check(&self, _: &mut ()) -> Result<(), Self::Error> { Ok(()) }
    ///     async fn destroy(&self, _: ()) { std::future::pending::<()>().await }
    /// }
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = Pool::builder(Stuck).build()?;
    /// drop(pool.get(1).await?);
    /// let report = pool.close_within(Duration::from_secs(5)).await;
    /// assert_eq!((report.idle_destroyed, report.destroys_unfinished), (1, 1));
    /// assert_eq!(report.elapsed, Duration::from_secs(5));
    /// # Ok(()) }
    /// ```
    pub async fn close_within(&self, limit: Duration) -> CloseReport {
        self.close_until(Instant::now().checked_add(limit)).await
    }

    /// Closes the pool and waits for its destroys until `deadline` (forever if `None`).
    pub(crate) async fn close_until(&self, deadline: Option<Instant>) -> CloseReport {
        let started = Instant::now();
        let (idle_destroyed, still_leased) = self.shared.close();
        tracing::info!(target: "bursar::pool", idle_destroyed, still_leased, "pool closing");
        let settled = self.shared.backend.settled();
        let destroys_unfinished = match deadline {
            None => {
                settled.await;
                0
            }
            Some(deadline) => match timeout_at(deadline, settled).await {
                Ok(()) => 0,
                Err(_elapsed) => self.shared.backend.pending(),
            },
        };
        if destroys_unfinished > 0 {
            tracing::warn!(target: "bursar::pool", destroys_unfinished, "pool closed with destroys still running");
        }
        let report =
            CloseReport { idle_destroyed, still_leased, destroys_unfinished, elapsed: started.elapsed() };
        tracing::info!(target: "bursar::pool", ?report, "pool closed");
        report
    }
}

//! Graceful shutdown: stop admitting, let work finish within a grace period, cancel the rest.

use std::time::Duration;

use tokio::time::{Instant, timeout};

use super::Governor;
use crate::workers::Exit;

/// How long cancelled work gets to notice its cancellation before shutdown reports it as
/// `unfinished` (a future that nobody polls any more never notices).
const CANCEL_SETTLE: Duration = Duration::from_secs(1);

/// What [`Governor::shutdown`] did, counted exactly.
///
/// Every call or task in flight when shutdown began is counted once in `finished`,
/// `cancelled`, `rejected_waiting` or `unfinished`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Work that ended on its own within the grace period: succeeded, failed, or was dropped
    /// by its caller.
    pub finished: usize,
    /// Work still running when the grace period ended, cancelled.
    pub cancelled: usize,
    /// Calls and tasks still waiting in a queue, rejected with `ShuttingDown`.
    pub rejected_waiting: usize,
    /// Work that had not ended when shutdown returned: a future its owner no longer polls.
    pub unfinished: usize,
    /// Blocking closures still running on their threads (they cannot be interrupted and
    /// release their place when they return).
    pub blocking_still_running: usize,
    /// Connection pools closed.
    pub pools_closed: usize,
    /// Idle pooled connections destroyed through their managers.
    pub pool_connections_destroyed: usize,
    /// Pooled connections still leased: each is destroyed when its lease is dropped.
    pub pool_connections_still_leased: usize,
    /// Pooled connections whose `destroy` had not returned when shutdown stopped waiting
    /// (at the end of the grace period, or a second after the work's cancellation if that was
    /// later). They go on on their own tasks and free their ports when they return.
    pub pool_destroys_unfinished: usize,
    /// The governor's own background tasks (the health monitor, the retry budget's settler)
    /// that were stopped.
    pub background_stopped: usize,
    /// How long shutdown took.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::required"))]
    pub elapsed: Duration,
}

impl Governor {
    /// Shuts the governor down: new calls are rejected with `ShuttingDown` at once, calls
    /// still queued are rejected, the health monitor stops, running work gets `grace` to
    /// finish, and what is still running then is cancelled (its future is dropped; it ends
    /// with `Error::Cancelled`). Then every pool started with [`pool`](Governor::pool) is
    /// closed: its connections destroyed through the manager, their ports freed, and a fleet
    /// resource's instance leaves the live ones (within `fleet.backend_timeout`) — or, while a
    /// port it claimed on the host is still leased (a connection still lent, a
    /// [`PortLease`](crate::ports::PortLease) not dropped), goes on beating and leaves from a
    /// task once the last is dropped, so no other process takes that port meanwhile (a leaked
    /// lease keeps the instance counted); ports leased after this are not claimed. From the
    /// moment it begins, [`pool`](Governor::pool)`(..).build()` fails with
    /// [`BuildError::ShutDown`](crate::BuildError::ShutDown).
    ///
    /// Calling it again returns a report of what was left, usually all zeros.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future leaves the governor closed; work in flight continues
    /// until it ends or a later `shutdown` cancels it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), bursar::BuildError> {
    /// let gov = bursar::Governor::builder().build()?;
    /// let slow = gov.spawn(async {
    ///     tokio::time::sleep(Duration::from_secs(60)).await;
    ///     Ok::<_, std::io::Error>(())
    /// }).unwrap();
    /// tokio::task::yield_now().await;
    ///
    /// let report = gov.shutdown(Duration::from_secs(5)).await;
    /// assert_eq!((report.finished, report.cancelled), (0, 1));
    /// assert!(matches!(slow.await, Err(bursar::Error::Cancelled)));
    /// assert!(gov.run(|| async { Ok::<_, std::io::Error>(()) }).await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let started = Instant::now();
        let workers = &*self.inner.workers;
        let tally = |exit| workers.drain.exits_after_close(exit);
        let before = [Exit::Finished, Exit::Cancelled, Exit::Rejected].map(tally);
        if workers.close() {
            tracing::info!(target: "bursar", in_flight = workers.drain.in_flight(), ?grace, "shutting down");
        }
        self.inner.pools.refuse_new();
        let background_stopped = self.inner.background.stop();
        if timeout(grace, workers.drain.wait_idle()).await.is_err() {
            tracing::warn!(target: "bursar", in_flight = workers.drain.in_flight(), "grace period over; cancelling work");
            workers.drain.cancel_all();
            let _ = timeout(CANCEL_SETTLE, workers.drain.wait_idle()).await;
        }
        // Destroys get what is left of the grace period, and at least the settle time (no
        // limit if the grace period is too long to be a time at all).
        let now = Instant::now();
        let deadline = started.checked_add(grace).map(|end| end.max(now + CANCEL_SETTLE));
        let pools = self.inner.pools.close_all(deadline).await;
        if let Some(membership) = &self.inner.membership {
            membership.leave().await;
        }
        let report = ShutdownReport {
            finished: tally(Exit::Finished) - before[0],
            cancelled: tally(Exit::Cancelled) - before[1],
            rejected_waiting: tally(Exit::Rejected) - before[2],
            unfinished: workers.drain.in_flight(),
            blocking_still_running: workers.blocking.in_use(),
            pools_closed: pools.pools,
            pool_connections_destroyed: pools.idle_destroyed,
            pool_connections_still_leased: pools.still_leased,
            pool_destroys_unfinished: pools.destroys_unfinished,
            background_stopped,
            elapsed: started.elapsed(),
        };
        tracing::info!(target: "bursar", ?report, "shut down");
        report
    }
}

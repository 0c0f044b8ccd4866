//! Closing a pool: the engine of [`Pool::close`](super::Pool::close) and the [`CloseReport`] it returns.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, timeout_at};

use super::Manager;
use super::shared::Shared;

/// What [`Pool::close`](super::Pool::close) did, counted exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct CloseReport {
    /// Idle connections destroyed.
    pub idle_destroyed: usize,
    /// Leases still out, counting connections being checked for a `get` (which then fails
    /// with `Closed`); each connection is destroyed when its lease is dropped.
    pub still_leased: usize,
    /// `destroy` calls still running when [`close_within`](super::Pool::close_within) stopped
    /// waiting; they go on, on their own tasks, and free their ports when they return.
    /// Always 0 after [`close`](super::Pool::close), which waits for all of them.
    pub destroys_unfinished: usize,
    /// How long closing took, most of it waiting for `destroy` calls to return.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::required"))]
    pub elapsed: Duration,
}

impl<M: Manager> Shared<M> {
    /// Closes the pool: no more `get`s, every waiter woken to see it, the reaper stopped,
    /// every idle connection destroyed. Returns how many were idle and how many leased.
    fn close(self: &Arc<Self>) -> (usize, usize) {
        let (idle, leased, waiters) = {
            let mut state = self.state.lock();
            self.mark_closed(&mut state);
            let idle = state.sessions.take_all_idle();
            (idle, state.sessions.counts().active, state.waiters.wake_all())
        };
        waiters.into_iter().for_each(|waiter| waiter.notify_one());
        self.stop_reaper();
        let idle_count = idle.len();
        self.destroy_all(idle, None);
        (idle_count, leased)
    }

    /// Closes the pool and waits for its destroys until `deadline` (forever if `None`).
    pub(super) async fn close_until(self: &Arc<Self>, deadline: Option<Instant>) -> CloseReport {
        let started = Instant::now();
        let (idle_destroyed, still_leased) = self.close();
        tracing::info!(target: "bursar::pool", idle_destroyed, still_leased, "pool closing");
        let settled = self.backend.settled();
        let destroys_unfinished = match deadline {
            None => {
                settled.await;
                0
            }
            Some(deadline) => match timeout_at(deadline, settled).await {
                Ok(()) => 0,
                Err(_elapsed) => self.backend.pending(),
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

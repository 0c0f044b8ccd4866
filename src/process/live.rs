//! How many supervised processes are alive: what the health monitor's `supervised_processes`
//! reading shows.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Supervised children spawned and not yet reaped, in this whole process.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Counts one supervised child while it lives: made at its spawn, moved into the task that waits
/// for it, and dropped once that task has reaped it (or with the task, if its runtime goes first).
#[derive(Debug)]
pub(super) struct Live(());

impl Live {
    pub(super) fn count() -> Self {
        // Relaxed: a gauge, read on the monitor's cadence; nothing is synchronised through it.
        LIVE.fetch_add(1, Ordering::Relaxed);
        Live(())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        // Relaxed: see `count`.
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The supervised children of this process that were spawned and not yet reaped: the leaders
/// of their groups, not the descendants in those groups.
pub(crate) fn live_supervised() -> usize {
    // Relaxed: see `Live::count`.
    LIVE.load(Ordering::Relaxed)
}

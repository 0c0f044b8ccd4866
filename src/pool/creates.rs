//! [`Creates`]: the launch control, at most `max_concurrent_creates` calls of
//! `Manager::create` at once.
//!
//! Thirty browsers launched together on a small machine fail to start ("DevToolsActivePort
//! file doesn't exist") where the same thirty launched four at a time all start. A `get` that
//! must create takes a turn here first, holding its place in the caps while it waits, so the
//! burst queues instead of stampeding. The wait is bounded by the `get`'s checkout timeout.

use std::sync::atomic::Ordering;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::sync::{AtomicUsize, CountedWhileAlive};

/// Turns to run `Manager::create`.
#[derive(Debug)]
pub(super) struct Creates {
    turns: Semaphore,
    limit: usize,
    /// Creates waiting for a turn, for the status.
    waiting: AtomicUsize,
}

/// The pool closed while a create waited for its turn.
#[derive(Debug)]
pub(super) struct CreatesClosed;

impl Creates {
    pub(super) fn new(limit: usize) -> Self {
        Creates { turns: Semaphore::new(limit), limit, waiting: AtomicUsize::new(0) }
    }

    /// Waits for a turn to create; the create runs while the permit lives.
    ///
    /// # Errors
    ///
    /// [`CreatesClosed`] once [`close`](Self::close) has been called.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped wait takes no turn and leaves the waiting count as it found it.
    pub(super) async fn turn(&self) -> Result<SemaphorePermit<'_>, CreatesClosed> {
        if let Ok(turn) = self.turns.try_acquire() {
            return Ok(turn);
        }
        // Relaxed: see `waiting`.
        let _waiting = CountedWhileAlive::enter(&self.waiting, Ordering::Relaxed);
        self.turns.acquire().await.map_err(|_| CreatesClosed)
    }

    /// Ends every wait for a turn (the pool closed); creates already running go on.
    pub(super) fn close(&self) {
        self.turns.close();
    }

    /// Creates running now.
    pub(super) fn running(&self) -> usize {
        self.limit.saturating_sub(self.turns.available_permits())
    }

    /// Creates waiting for a turn now.
    pub(super) fn waiting(&self) -> usize {
        // Relaxed: a gauge for the status; it orders nothing.
        self.waiting.load(Ordering::Relaxed)
    }
}

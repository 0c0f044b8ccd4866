//! Counts work in flight so a shutdown can wait for it, and carries the shutdown's
//! cancellation to every piece of supervised work.

use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::{Notify, futures::Notified};

/// How admitted work left after the governor closed; the shutdown report's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Finished on its own: success, failure, or dropped by its caller.
    Finished = 0,
    /// Stopped by the shutdown's cancellation.
    Cancelled = 1,
    /// Still waiting in a queue when the governor closed, and rejected.
    Evicted = 2,
}

#[derive(Debug, Default)]
pub(crate) struct Drain {
    in_flight: AtomicUsize,
    closed: AtomicBool,
    cancelling: AtomicBool,
    idle: Notify,
    cancel: Notify,
    exits_after_close: [AtomicUsize; 3],
}

impl Drain {
    /// Counts one more piece of work in; false if the governor has closed (leave at once).
    pub(crate) fn enter(&self) -> bool {
        // SeqCst on both sides: either this sees `closed`, or `close`'s caller sees this count.
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        !self.closed.load(Ordering::SeqCst)
    }

    /// Counts one piece of work out; `exit` is tallied if the governor has closed.
    pub(crate) fn leave(&self, exit: Option<Exit>) {
        let closed = self.closed.load(Ordering::SeqCst);
        if let (true, Some(exit)) = (closed, exit) {
            // Relaxed: a tally read after the drain completes, which the SeqCst count orders.
            self.exits_after_close[exit as usize].fetch_add(1, Ordering::Relaxed);
        }
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 && self.closed.load(Ordering::SeqCst) {
            self.idle.notify_waiters();
        }
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Admits nothing more. Returns false if it was already closed.
    pub(crate) fn close(&self) -> bool {
        !self.closed.swap(true, Ordering::SeqCst)
    }

    /// Waits until no work is in flight.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only listens.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let mut idle = pin!(self.idle.notified());
            idle.as_mut().enable();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Tells every piece of supervised work to stop.
    pub(crate) fn cancel_all(&self) {
        self.cancelling.store(true, Ordering::SeqCst);
        self.cancel.notify_waiters();
    }

    pub(crate) fn is_cancelling(&self) -> bool {
        self.cancelling.load(Ordering::SeqCst)
    }

    /// A listener for [`cancel_all`](Self::cancel_all); check `is_cancelling` after polling it.
    pub(crate) fn cancellation(&self) -> Notified<'_> {
        self.cancel.notified()
    }

    pub(crate) fn exits_after_close(&self, exit: Exit) -> usize {
        self.exits_after_close[exit as usize].load(Ordering::Relaxed)
    }
}

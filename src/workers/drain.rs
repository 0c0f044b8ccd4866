//! Counts work in flight so a shutdown can wait for it, and carries the shutdown's
//! cancellation to every piece of supervised work.

use std::pin::pin;
use std::sync::atomic::Ordering;

use tokio::sync::{Notify, futures::Notified};

use crate::sync::{AtomicBool, AtomicUsize};

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

/// The closed flag, in the top bit of the word that counts the work in flight: admission and
/// closing are each one read-modify-write of the same word, so either the admission sees the
/// flag, or `close` sees the admitted work in the count it returns — no store–load race to
/// reason about (and nothing that needs sequential consistency).
const CLOSED: usize = 1 << (usize::BITS - 1);

#[derive(Debug, Default)]
pub(crate) struct Drain {
    /// Work in flight, with [`CLOSED`] set once the governor has closed.
    state: AtomicUsize,
    cancelling: AtomicBool,
    idle: Notify,
    cancel: Notify,
    exits_after_close: [AtomicUsize; 3],
}

impl Drain {
    /// Counts one more piece of work in; false if the governor has closed (leave at once).
    #[inline]
    pub(crate) fn enter(&self) -> bool {
        // AcqRel: the one RMW orders this admission against `close`'s RMW of the same word.
        self.state.fetch_add(1, Ordering::AcqRel) & CLOSED == 0
    }

    /// Counts one piece of work out; `exit` is tallied if the governor has closed.
    #[inline]
    pub(crate) fn leave(&self, exit: Option<Exit>) {
        // The tally is made before the count drops, so that a shutdown that sees the drain
        // idle sees every exit of it.
        if let (true, Some(exit)) = (self.is_closed(), exit) {
            // Relaxed: a tally read after the drain completes, which the AcqRel count orders.
            self.exits_after_close[exit as usize].fetch_add(1, Ordering::Relaxed);
        }
        // AcqRel: publishes this work's effects to whoever sees the count reach zero.
        let before = self.state.fetch_sub(1, Ordering::AcqRel);
        if before & CLOSED != 0 && before & !CLOSED == 1 {
            self.idle.notify_waiters();
        }
    }

    pub(crate) fn in_flight(&self) -> usize {
        // Acquire: see `leave`.
        self.state.load(Ordering::Acquire) & !CLOSED
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        // Acquire: `close`'s flag.
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Closes the drain; true the first time.
    pub(crate) fn close(&self) -> bool {
        // AcqRel: see `enter`.
        self.state.fetch_or(CLOSED, Ordering::AcqRel) & CLOSED == 0
    }

    pub(crate) async fn wait_idle(&self) {
        loop {
            let mut idle = pin!(self.idle.notified());
            idle.as_mut().enable();
            if self.in_flight() == 0 {
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

/// The admission protocol against `close`, explored by loom.
#[cfg(all(test, bursar_loom))]
mod loom_models {
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicBool;
    use loom::thread;

    use super::*;

    /// A shutdown that closes the drain and then sees nothing in flight can rely on it: no
    /// call admitted at the same time is running unseen.
    #[test]
    fn loom_drain_close_never_misses_an_admitted_call() {
        loom::model(|| {
            let drain = Arc::new(Drain::default());
            let inside = Arc::new(AtomicBool::new(false));
            let (call_drain, call_inside) = (Arc::clone(&drain), Arc::clone(&inside));
            let call = thread::spawn(move || {
                if call_drain.enter() {
                    call_inside.store(true, Ordering::SeqCst);
                    call_inside.store(false, Ordering::SeqCst);
                    call_drain.leave(Some(Exit::Finished));
                    true
                } else {
                    call_drain.leave(None);
                    false
                }
            });
            assert!(drain.close());
            if drain.in_flight() == 0 {
                assert!(!inside.load(Ordering::SeqCst), "an admitted call ran unseen by shutdown");
            }
            let admitted = call.join().unwrap();
            assert_eq!(drain.in_flight(), 0);
            // An admitted call that left after the close is tallied; a refused one is not.
            let tallied = drain.exits_after_close(Exit::Finished);
            assert!(tallied <= usize::from(admitted), "{tallied} exits for {admitted}");
        });
    }
}

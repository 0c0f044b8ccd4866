//! Counts work in flight so a shutdown can wait for it, and carries the shutdown's
//! cancellation to every piece of supervised work.

use std::pin::pin;
use std::sync::atomic::Ordering;

use tokio::sync::{Notify, futures::Notified};

use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, OwnLine};

/// How admitted work left after the governor closed; the shutdown report's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Finished on its own: success, failure, or dropped by its caller.
    Finished = 0,
    /// Stopped by the shutdown's cancellation.
    Cancelled = 1,
    /// Still waiting in a queue when the governor closed, and rejected.
    Rejected = 2,
}

/// The closed flag, in the top bit of both counts. `close` sets it in `entered`, then in
/// `left`. Admission is one read-modify-write of `entered`, so either it sees the flag or
/// `close` sees it admitted. A leave is one read-modify-write of `left` (after a look at its
/// flag, for the exits' tally): one after `close` sees the flag and, acquiring `close`'s write,
/// every admission before it, so the last of them can tell that nothing is in flight. No
/// store–load race to reason about (and nothing that needs sequential consistency).
const CLOSED: u64 = 1 << 63;

/// Counts work in and out with two monotonic counts, so that the number of successes needs
/// no count of its own on the hot path: every leave is counted, and every leave that is not
/// a success is counted again, off the hot path, in `unsuccessful`.
#[derive(Debug, Default)]
pub(crate) struct Drain {
    /// Work admitted (and admissions refused once closed), with [`CLOSED`] set at close.
    /// Each count on its own lines: the thread that spawns work counts it in, workers count
    /// it out.
    entered: OwnLine<AtomicU64>,
    /// Work that left, with [`CLOSED`] set at close.
    left: OwnLine<AtomicU64>,
    /// Leaves that were not a success; counted before their leave.
    unsuccessful: AtomicU64,
    /// The highest success count reported, so that reports never go down (see `succeeded`).
    reported: AtomicU64,
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
        self.entered.fetch_add(1, Ordering::AcqRel) & CLOSED == 0
    }

    /// Counts one piece of work out; `exit` is tallied if the governor has closed, and work
    /// that did not succeed is counted as such.
    /// Returns whether this leave found the closed drain idle (and told the shutdown).
    #[inline]
    pub(crate) fn leave(&self, exit: Option<Exit>, succeeded: bool) -> bool {
        if !succeeded {
            // Relaxed: published by the release of the leave below (see `succeeded`).
            self.unsuccessful.fetch_add(1, Ordering::Relaxed);
        }
        // The tally is made before the count moves, so that a shutdown that sees the drain
        // idle sees every exit of it. The flag is read from `left`, the line a leave writes
        // anyway, not from `entered`, which a spawning loop writes at every spawn (`close` sets
        // both; a leave racing `close` may go untallied, with either).
        if let (true, Some(exit)) = (self.left.load(Ordering::Acquire) & CLOSED != 0, exit) {
            // Relaxed: a tally read after the drain completes, which the AcqRel count orders.
            self.exits_after_close[exit as usize].fetch_add(1, Ordering::Relaxed);
        }
        // AcqRel: publishes this work's effects to whoever sees the count, and acquires
        // `close`'s write of `entered` when it sees the flag.
        let before = self.left.fetch_add(1, Ordering::AcqRel);
        before & CLOSED != 0 && self.left_after_close(before)
    }

    /// A leave after `close`: if it was the last work in flight, the shutdown is told.
    #[cold]
    fn left_after_close(&self, before: u64) -> bool {
        // Acquire: every admission before `close`, and every refused one whose leave came first.
        let entered = self.entered.load(Ordering::Acquire) & !CLOSED;
        let idle = (before & !CLOSED) + 1 == entered;
        if idle {
            self.idle.notify_waiters();
        }
        idle
    }

    pub(crate) fn in_flight(&self) -> usize {
        // Acquire, `left` first: every leave seen follows its admission, so `entered` read
        // afterwards is at least as large.
        let left = self.left.load(Ordering::Acquire) & !CLOSED;
        let entered = self.entered.load(Ordering::Acquire) & !CLOSED;
        entered.saturating_sub(left) as usize
    }

    /// Work that left with a success so far: exact when nothing moves, never above the
    /// truth and never lower than an earlier answer while things move.
    pub(crate) fn succeeded(&self) -> u64 {
        // Acquire on `left`, then `unsuccessful`: an unsuccessful leave is counted as such
        // before it leaves, so each leave seen is seen with its kind; one counted as
        // unsuccessful but not yet left only makes the answer low, and `reported` hides that.
        let left = self.left.load(Ordering::Acquire) & !CLOSED;
        let unsuccessful = self.unsuccessful.load(Ordering::Relaxed);
        let succeeded = left.saturating_sub(unsuccessful);
        // Relaxed: a statistic; the maximum is all it keeps.
        self.reported.fetch_max(succeeded, Ordering::Relaxed).max(succeeded)
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        // Acquire: `close`'s flag.
        self.entered.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Closes the drain; true the first time.
    pub(crate) fn close(&self) -> bool {
        // AcqRel: see `enter`, then `leave`.
        let first = self.entered.fetch_or(CLOSED, Ordering::AcqRel) & CLOSED == 0;
        self.left.fetch_or(CLOSED, Ordering::AcqRel);
        first
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
                    call_drain.leave(Some(Exit::Finished), true);
                    true
                } else {
                    call_drain.leave(None, false);
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
            assert_eq!(drain.succeeded(), u64::from(admitted));
        });
    }

    /// Two calls racing a close: if the shutdown sees work in flight and waits, the leave
    /// that empties the drain knows it and tells the shutdown.
    #[test]
    fn loom_drain_the_last_leave_after_close_tells_the_shutdown() {
        loom::model(|| {
            let drain = Arc::new(Drain::default());
            let told = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
            let calls: Vec<_> = (0..2)
                .map(|_| {
                    let (drain, told) = (Arc::clone(&drain), Arc::clone(&told));
                    thread::spawn(move || {
                        let admitted = drain.enter();
                        let exit = admitted.then_some(Exit::Finished);
                        if drain.leave(exit, admitted) {
                            told.fetch_add(1, Ordering::SeqCst);
                        }
                        admitted
                    })
                })
                .collect();
            drain.close();
            let waiting = drain.in_flight() > 0;
            let admitted: u64 = calls.into_iter().map(|call| u64::from(call.join().unwrap())).sum();
            if waiting {
                assert!(told.load(Ordering::SeqCst) >= 1, "the shutdown waits for work that is gone");
            }
            assert_eq!((drain.in_flight(), drain.succeeded()), (0, admitted));
        });
    }
}

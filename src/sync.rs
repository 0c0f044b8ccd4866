//! The atomics of the lock-free code: std's, or loom's when its models run
//! (`RUSTFLAGS="--cfg bursar_loom" cargo test --lib loom`), so every interleaving of the breaker's
//! gate and failure-rate windows, the drain, the lane's permit debt and line of waiters, and the
//! counters can be explored.
//!
//! The cfg is bursar's own: `--cfg loom` would also switch tokio into its own loom mode, which
//! only builds inside tokio's repository.

#[cfg(all(test, bursar_loom))]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, AtomicU64, AtomicUsize};
#[cfg(not(all(test, bursar_loom)))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, AtomicU64, AtomicUsize};

/// The lock of code that loom explores beside those atomics (the lane's line of waiters):
/// parking_lot's, or loom's behind the same `lock()`.
#[cfg(not(all(test, bursar_loom)))]
pub(crate) use parking_lot::Mutex;

#[cfg(all(test, bursar_loom))]
#[derive(Debug)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(all(test, bursar_loom))]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(loom::sync::Mutex::new(value))
    }

    /// parking_lot's locks do not poison; neither does this one.
    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A value alone on its cache lines (128 bytes: two 64-byte lines, which adjacent-line
/// prefetchers pair), so that threads writing it do not slow those using its neighbours —
/// as when the thread that spawns work counts it in and the workers count it out.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct OwnLine<T>(pub(crate) T);

impl<T> std::ops::Deref for OwnLine<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Counts one in `count` while it lives, however its owner ends (a wait that is dropped too):
/// for gauges such as the spawners waiting for a queue place or the creates waiting for a turn.
pub(crate) struct CountedWhileAlive<'a>(&'a AtomicUsize);

impl<'a> CountedWhileAlive<'a> {
    /// Adds one with `ordering`; the drop takes it back (`Relaxed`: leaving publishes nothing).
    pub(crate) fn enter(count: &'a AtomicUsize, ordering: std::sync::atomic::Ordering) -> Self {
        count.fetch_add(1, ordering);
        CountedWhileAlive(count)
    }
}

impl Drop for CountedWhileAlive<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Runs `work` until it ends (`Some`) or its owner closes (`None`): `is_closed` is read before
/// each poll of `work`, and `closing`'s `notify_waiters` at the close wakes the wait. The close
/// wins a poll in which both are ready, so work that became ready as its owner closed starts
/// nothing after the close. The governor's waits that hold no queue place (a backoff, a wait
/// for memory) and a pool's create waits that hold a turn end this way.
///
/// # Cancel safety
///
/// As cancel safe as `work`, which is dropped as it would be if this were.
pub(crate) async fn unless_closed<F: std::future::Future>(
    closing: &tokio::sync::Notify,
    is_closed: impl Fn() -> bool,
    work: F,
) -> Option<F::Output> {
    // Made before the flag is first read: `notify_waiters` reaches a `Notified` from its
    // creation on, polled or not, so a close between the two still wakes it.
    let (mut work, mut closed) = (std::pin::pin!(work), std::pin::pin!(closing.notified()));
    std::future::poll_fn(|cx| {
        if is_closed() || closed.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(None);
        }
        work.as_mut().poll(cx).map(Some)
    })
    .await
}

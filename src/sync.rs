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

//! One read on a blocking thread at a time, even when the monitor gives samples up.

use tokio::task::{JoinError, JoinHandle, spawn_blocking};

/// A read of `/proc` or of `sysinfo` cannot be interrupted once it runs on its blocking thread.
/// If the monitor gives a sample up, the read goes on and the next sample waits for it rather
/// than starting another, so a hung `/proc` holds one blocking thread, not one per interval.
#[derive(Debug)]
pub(super) struct OneRead<T>(Option<JoinHandle<T>>);

impl<T> Default for OneRead<T> {
    fn default() -> Self {
        OneRead(None)
    }
}

impl<T: Send + 'static> OneRead<T> {
    /// Runs `read` on a blocking thread, or, if a read given up before still runs, waits for that
    /// one instead (and drops `read`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped wait leaves the read running, to be waited for next time.
    pub(super) async fn run(&mut self, read: impl FnOnce() -> T + Send + 'static) -> Result<T, JoinError> {
        let reading = self.0.get_or_insert_with(|| spawn_blocking(read));
        let read = reading.await;
        self.0 = None;
        read
    }
}

//! One read on a blocking thread at a time, even when the monitor gives samples up.

use std::panic::resume_unwind;

use tokio::task::{JoinHandle, spawn_blocking};

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
    /// # Panics
    ///
    /// With the read's own panic, or if the runtime cancelled the read (it is shutting down):
    /// the monitor runs every sampler contained, so either is a missed sample — the previous
    /// readings kept, an `ERROR` — never a reading of nothing, which would look healthier.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped wait leaves the read running, to be waited for next time.
    pub(super) async fn run(&mut self, read: impl FnOnce() -> T + Send + 'static) -> T {
        let reading = self.0.get_or_insert_with(|| spawn_blocking(read));
        let read = reading.await;
        self.0 = None;
        match read {
            Ok(readings) => readings,
            Err(error) if error.is_panic() => resume_unwind(error.into_panic()),
            Err(error) => panic!("the blocking read of the system did not run: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read that panics is the sampler's panic, with the read's message, for the monitor to
    /// contain.
    #[tokio::test]
    async fn a_read_that_panics_panics_the_sample_with_its_message() {
        let mut one = OneRead::default();
        let sampled = tokio::spawn(async move { one.run(|| -> u32 { panic!("/proc is gone") }).await });
        let failed = sampled.await.expect_err("the read panicked");
        assert_eq!(failed.into_panic().downcast_ref::<&str>(), Some(&"/proc is gone"));
    }
}

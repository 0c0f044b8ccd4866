//! Schedules from the `backoff` crate (feature `backoff`). That crate is unmaintained
//! (RUSTSEC-2025-0012), so this is an opt-in bridge for code that already builds its
//! schedules with it — never a requirement.

use std::time::Duration;

use backoff::backoff::Backoff;

/// A `backoff::backoff::Backoff` as a schedule: an iterator of delays. The schedule ends when
/// `next_backoff` returns `None` (the `backoff` crate's elapsed-time limit).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use bursar::retry::{FromBackoff, RetryExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let constant = backoff::backoff::Constant::new(Duration::from_millis(100));
/// let mut attempts = 0;
/// let result = (|| {
///     attempts += 1;
///     async move { if attempts < 3 { Err("busy") } else { Ok(attempts) } }
/// })
/// .retry(FromBackoff::new(constant))
/// .await;
/// assert_eq!(result, Ok(3));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct FromBackoff<B>(B);

impl<B: Backoff> FromBackoff<B> {
    /// Starts `schedule` from its beginning.
    pub fn new(mut schedule: B) -> Self {
        schedule.reset();
        FromBackoff(schedule)
    }
}

impl<B: Backoff> Iterator for FromBackoff<B> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.0.next_backoff()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delays_are_the_backoff_crates_own() {
        let exponential = backoff::ExponentialBackoffBuilder::new()
            .with_initial_interval(Duration::from_secs(2))
            .with_multiplier(2.0)
            .with_randomization_factor(0.0)
            .with_max_interval(Duration::from_secs(30))
            .with_max_elapsed_time(None)
            .build();
        let delays: Vec<u64> = FromBackoff::new(exponential).take(5).map(|d| d.as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 16, 30]);
    }
}

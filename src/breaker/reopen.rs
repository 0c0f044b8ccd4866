//! When an open breaker admits its next probe, readable without the lock: during an outage
//! every call is rejected, and those rejections should not queue on the breaker's lock.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// The end of the open wait, in nanoseconds since the first time the breaker opened.
#[derive(Debug, Default)]
pub(crate) struct ReopenTime {
    origin: OnceLock<Instant>,
    nanos: AtomicU64,
}

impl ReopenTime {
    /// Records a wait from `opened` to `until`. Call under the breaker's lock, before the
    /// gate publishes the open state.
    pub(crate) fn set(&self, opened: Instant, until: Instant) {
        let origin = *self.origin.get_or_init(|| opened);
        // Relaxed: published by the gate's Release store that follows.
        self.nanos.store(nanos(until.saturating_duration_since(origin)), Ordering::Relaxed);
    }

    /// The rest of the wait at `now`, for a caller that saw the gate open. `None` when the wait
    /// is over — or `now` is earlier than the first opening — so the lock must decide.
    pub(crate) fn remaining(&self, now: Instant) -> Option<Duration> {
        let elapsed = nanos(now.checked_duration_since(*self.origin.get()?)?);
        // Relaxed: the caller's Acquire load of the gate made the matching `set` visible.
        let until = self.nanos.load(Ordering::Relaxed);
        (elapsed < until).then(|| Duration::from_nanos(until - elapsed))
    }
}

/// Nanoseconds, saturating at 584 years.
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_of_the_wait_is_exact_to_the_nanosecond() {
        let reopen = ReopenTime::default();
        let start = Instant::now();
        assert_eq!(reopen.remaining(start), None, "never opened");
        reopen.set(start, start + Duration::from_secs(120));
        assert_eq!(
            reopen.remaining(start + Duration::from_nanos(1)),
            Some(Duration::from_nanos(119_999_999_999))
        );
        assert_eq!(reopen.remaining(start + Duration::from_secs(120)), None);
        let later = start + Duration::from_secs(500);
        reopen.set(later, later + Duration::from_secs(240));
        assert_eq!(reopen.remaining(later + Duration::from_secs(40)), Some(Duration::from_secs(200)));
        assert_eq!(reopen.remaining(start - Duration::from_secs(1)), None, "before the first opening");
    }
}

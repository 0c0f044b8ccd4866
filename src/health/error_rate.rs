//! The error rate over a sliding window, from the governor's own counters: each sample
//! notes the running totals, and the rate is the change across the window. Nothing is added
//! to the call path.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Running totals at one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CallTotals {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
}

#[derive(Debug)]
pub(crate) struct ErrorWindow {
    samples: VecDeque<(Instant, CallTotals)>,
    window: Duration,
    min_calls: u64,
}

impl ErrorWindow {
    pub(crate) fn new(window: Duration, min_calls: u64) -> Self {
        ErrorWindow { samples: VecDeque::new(), window, min_calls }
    }

    /// Notes the totals at `now`; the failure fraction of the calls within the window, or
    /// `None` while fewer than `min_calls` calls ended in it.
    pub(crate) fn observe(&mut self, now: Instant, totals: CallTotals) -> Option<f64> {
        self.samples.push_back((now, totals));
        // Keep the newest sample at or before the window's start as the baseline.
        while self.samples.len() > 2 && self.samples[1].0 + self.window <= now {
            self.samples.pop_front();
        }
        let (_, base) = self.samples.front()?;
        let calls = totals.calls.saturating_sub(base.calls);
        let failures = totals.failures.saturating_sub(base.failures);
        (calls >= self.min_calls && calls > 0).then(|| failures as f64 / calls as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_covers_the_window_and_needs_enough_calls() {
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        let totals = |calls, failures| CallTotals { calls, failures };
        let mut window = ErrorWindow::new(Duration::from_secs(60), 10);
        assert_eq!(window.observe(at(0), totals(0, 0)), None);
        assert_eq!(window.observe(at(30), totals(5, 5)), None, "5 calls are fewer than 10");
        assert_eq!(window.observe(at(60), totals(20, 5)), Some(0.25));
        assert_eq!(window.observe(at(90), totals(40, 5)), Some(0.0), "the 5 failures left the window");
        assert_eq!(window.observe(at(120), totals(50, 15)), Some(10.0 / 30.0));
        assert!(window.samples.len() <= 3, "memory stays bounded");
    }
}

//! The failure-rate window: the recent calls a breaker judges its failure rate on, counted by
//! number ([`CountWindow`]) or by time ([`TimeWindow`]). Both record with atomics only, so a
//! success in the closed state never takes a lock; each file states what is exact.

use tokio::time::Instant;

use super::count_window::CountWindow;
use super::time_window::TimeWindow;
use super::trip_rules::RateWindow;

/// The calls in a window and how many of them failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WindowReading {
    pub(crate) calls: u32,
    pub(crate) failures: u32,
}

impl WindowReading {
    /// Failures per call, 0 for an empty window.
    pub(crate) fn rate(self) -> f64 {
        if self.calls == 0 { 0.0 } else { f64::from(self.failures) / f64::from(self.calls) }
    }
}

#[derive(Debug)]
pub(crate) enum FailureWindow {
    Count(CountWindow),
    Time(TimeWindow),
}

impl FailureWindow {
    pub(crate) fn new(window: RateWindow) -> Self {
        match window {
            RateWindow::Count(calls) => FailureWindow::Count(CountWindow::new(calls)),
            RateWindow::Time(span) => FailureWindow::Time(TimeWindow::new(span)),
        }
    }

    pub(crate) fn record(&self, now: Instant, failed: bool) {
        match self {
            FailureWindow::Count(window) => window.record(failed),
            FailureWindow::Time(window) => window.record(now, failed),
        }
    }

    pub(crate) fn reading(&self, now: Instant) -> WindowReading {
        match self {
            FailureWindow::Count(window) => window.reading(),
            FailureWindow::Time(window) => window.reading(now),
        }
    }

    pub(crate) fn clear(&self) {
        match self {
            FailureWindow::Count(window) => window.clear(),
            FailureWindow::Time(window) => window.clear(),
        }
    }
}

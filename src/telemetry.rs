//! The one place the parts record metrics. Each function records through the `metrics` facade
//! (`crate::metrics`) with the `metrics` feature on and is empty without it, so the parts carry
//! no `cfg` of their own, and it takes plain values, so `metrics` never imports a part.

use crate::{Error, Rejection};

/// Which lane a wait was for: the `lane` label of `bursar_queue_wait_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LaneLabel {
    /// Async work: calls and [`spawn`](crate::Governor::spawn).
    Tasks,
    /// [`spawn_blocking`](crate::Governor::spawn_blocking).
    Blocking,
}

/// When a call took its queue place, for the queue-wait histogram: nothing without the
/// `metrics` feature (the clock is not read).
/// `Default` is a clock not started, which records nothing.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct QueueClock {
    #[cfg(feature = "metrics")]
    at: Option<tokio::time::Instant>,
}

impl QueueClock {
    #[inline]
    pub(crate) fn start() -> Self {
        QueueClock {
            #[cfg(feature = "metrics")]
            at: Some(tokio::time::Instant::now()),
        }
    }

    /// Records the wait, which ended with a worker of `lane`.
    #[inline]
    pub(crate) fn waited(self, lane: LaneLabel) {
        #[cfg(feature = "metrics")]
        if let Some(at) = self.at {
            crate::metrics::events::queue_waited(lane, at.elapsed().as_secs_f64());
        }
        #[cfg(not(feature = "metrics"))]
        let _ = lane;
    }
}

/// A worker of `lane` was free at once: a wait of zero, without reading the clock.
#[inline(always)]
pub(crate) fn no_wait(lane: LaneLabel) {
    #[cfg(feature = "metrics")]
    crate::metrics::events::queue_waited(lane, 0.0);
    #[cfg(not(feature = "metrics"))]
    let _ = lane;
}

/// A call or task ended with `result`.
#[inline(always)]
pub(crate) fn settled<T, E>(result: &Result<T, Error<E>>) {
    #[cfg(feature = "metrics")]
    crate::metrics::events::settled(result);
    #[cfg(not(feature = "metrics"))]
    let _ = result;
}

/// A call was dropped by its caller before it ended.
#[inline]
pub(crate) fn abandoned() {
    #[cfg(feature = "metrics")]
    crate::metrics::events::abandoned();
}

/// A call was turned away.
#[inline]
pub(crate) fn rejected(rejection: Rejection) {
    #[cfg(feature = "metrics")]
    crate::metrics::events::rejected(rejection);
    #[cfg(not(feature = "metrics"))]
    let _ = rejection;
}

/// An adaptive worker limit changed, for `reason`.
#[inline]
pub(crate) fn limit_changed(reason: crate::workers::limit::LimitReason) {
    #[cfg(feature = "metrics")]
    crate::metrics::events::limit_changed(reason);
    #[cfg(not(feature = "metrics"))]
    let _ = reason;
}

/// A retry ran.
#[inline]
pub(crate) fn retried() {
    #[cfg(feature = "metrics")]
    crate::metrics::events::retried();
}

/// A call stopped retrying because the retry budget was spent.
#[inline]
pub(crate) fn budget_exhausted() {
    #[cfg(feature = "metrics")]
    crate::metrics::events::budget_exhausted();
}

/// Gives every metric its unit and help text (once per process is enough; it is idempotent).
#[inline]
pub(crate) fn describe() {
    #[cfg(feature = "metrics")]
    crate::metrics::describe();
}

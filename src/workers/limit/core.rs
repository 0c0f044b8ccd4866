//! What every algorithm shares: the limit within its bounds, why it last changed, the window
//! and the baseline with its probes.

use std::time::Duration;

use super::baseline::{Baseline, ProbeStep};
use super::window::{Judged, Window};
use super::{Bounds, Estimate, LimitReason, Sample};
use crate::config::AdaptiveConfig;

#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) bounds: Bounds,
    pub(crate) limit: f64,
    reason: LimitReason,
    /// The last window's median served latency.
    sample: Option<Duration>,
    window: Window,
    pub(crate) baseline: Baseline,
    window_size: usize,
    pub(crate) backoff: f64,
}

impl Core {
    pub(crate) fn new(config: &AdaptiveConfig, bounds: Bounds) -> Self {
        Core {
            bounds,
            limit: bounds.min,
            reason: LimitReason::Started,
            sample: None,
            window: Window::default(),
            baseline: Baseline::new(config.probe_every),
            window_size: config.window,
            backoff: config.backoff,
        }
    }

    /// Feeds `sample` to the probe while one runs, else to the window: a full window to judge.
    pub(crate) fn observe(&mut self, sample: Sample) -> Option<Judged> {
        if self.baseline.probing().is_some() {
            match self.baseline.probe(sample, 2 * self.window_size, self.bounds) {
                ProbeStep::Going => {}
                ProbeStep::Ended { resume } => self.set(resume, LimitReason::Probed),
                ProbeStep::Overloaded { resume } => self.set(resume * self.backoff, LimitReason::Overloaded),
            }
            return None;
        }
        // About one round of the running attempts: at least `window` samples, and at least
        // as many as the limit, so that a window is never judged on part of a round.
        let size = self.window_size.max(self.bounds.workers(self.limit));
        let judged = self.window.push(sample, size)?;
        if judged.median.is_some() {
            self.sample = judged.median;
        }
        Some(judged)
    }

    pub(crate) fn set(&mut self, limit: f64, reason: LimitReason) {
        self.limit = self.bounds.clamp(limit);
        self.reason = reason;
    }

    /// Cut for an overload in `judged`, if there was one.
    pub(crate) fn overloaded(&mut self, judged: &Judged) -> bool {
        if judged.overloaded > 0 {
            self.set(self.limit * self.backoff, LimitReason::Overloaded);
        }
        judged.overloaded > 0
    }

    /// Whether the running attempts reached the limit in `judged`: the only evidence that more
    /// would be used, so the only time the limit may grow.
    pub(crate) fn reached(&self, judged: &Judged) -> bool {
        judged.max_in_flight >= self.bounds.workers(self.limit)
    }

    /// Holds the limit below the capacity the latency `ratio` over the baseline suggests
    /// (under a queue, latency grows with the attempts running: capacity ≈ limit ÷ ratio),
    /// until the probe has measured the baseline.
    pub(crate) fn probe(&mut self, ratio: f64) {
        let below_capacity = 0.9 * self.limit / ratio.max(1.0);
        let limit = self.bounds.clamp(below_capacity.min(0.8 * self.limit));
        let resume = self.limit;
        self.baseline.start(limit, resume);
        self.set(limit, LimitReason::Probing);
    }

    pub(crate) fn estimate(&self) -> Estimate {
        Estimate {
            limit: self.limit,
            baseline: self.baseline.latency(),
            sample: self.sample,
            reason: self.reason,
        }
    }
}

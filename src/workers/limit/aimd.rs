//! `aimd`: additive increase, multiplicative decrease, as TCP's congestion window.
//!
//! Each window in which the running attempts reached the limit and none was overloaded (or
//! slower than `latency_limit`, if set) adds `increase`; a window with an overload multiplies
//! the limit by `backoff`. Simple and predictable, but it learns of the capacity only from
//! overloads: with a dependency that queues instead of refusing, it grows until the queue
//! overflows. Prefer `gradient` where latency tells.

use std::time::Duration;

use super::core::Core;
use super::{Bounds, Estimate, LimitReason, Sample, Verdict};
use crate::config::AdaptiveConfig;

#[derive(Debug)]
pub(crate) struct Aimd {
    core: Core,
    increase: f64,
    latency_limit: Option<Duration>,
    pub(crate) bounds: Bounds,
}

impl Aimd {
    pub(crate) fn new(config: &AdaptiveConfig, bounds: Bounds) -> Self {
        let core = Core::new(config, bounds);
        Aimd { core, increase: config.increase, latency_limit: config.latency_limit, bounds }
    }

    pub(crate) fn observe(&mut self, mut sample: Sample) {
        if self.latency_limit.is_some_and(|limit| sample.latency > limit) {
            sample.verdict = Verdict::Overloaded;
        }
        let Some(judged) = self.core.observe(sample) else { return };
        if !self.core.overloaded(&judged) && self.core.reached(&judged) {
            self.core.set(self.core.limit + self.increase, LimitReason::Grew);
        }
    }

    pub(crate) fn estimate(&self) -> Estimate {
        self.core.estimate()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Limiter;
    use super::super::tests::{feed, sample};
    use super::*;
    use crate::config::LimitKind;

    #[test]
    fn adds_per_reached_window_and_multiplies_down_on_overload() {
        let config = AdaptiveConfig::default().latency_limit(Duration::from_millis(500));
        let mut limiter =
            Limiter::new(LimitKind::Aimd, &config, Bounds { min: 2.0, max: 20.0 }).expect("adaptive");
        let mut clock = 0;
        assert_eq!(feed(&mut limiter, 30, 100, 20, &mut clock), [3, 4, 5]);
        // Not reached: held.
        assert_eq!(feed(&mut limiter, 10, 100, 2, &mut clock), [0_usize; 0]);
        // One attempt slower than the latency limit: 5 × 0.9 = 4.5, rounded to 5... then 4.05.
        for verdict_latency in [100, 100, 100, 100, 100, 100, 100, 100, 100, 900] {
            clock += 10;
            limiter.observe(sample(verdict_latency, Verdict::Served, 5, clock));
        }
        assert_eq!((limiter.estimate().limit, limiter.estimate().reason), (4.5, LimitReason::Overloaded));
    }
}

//! `vegas`: the limit follows an estimate of the queue at the dependency, as TCP Vegas.
//!
//! Each window, the queue is estimated as `limit × (1 − baseline ÷ latency)`: below `alpha`
//! the limit grows by one (if the running attempts reached it), above `beta` it shrinks by one,
//! between the two it holds. An overload cuts by `backoff`. The baseline is measured by probes,
//! as for `gradient`, not taken as the fastest latency seen. It steps by one, so it follows a
//! large change of capacity more slowly than `gradient`, and it keeps `alpha` to `beta`
//! attempts queued, which at a small capacity is a large share of the latency.

use super::core::Core;
use super::{Bounds, Estimate, LimitReason, Sample};
use crate::config::AdaptiveConfig;

#[derive(Debug)]
pub(crate) struct Vegas {
    core: Core,
    alpha: f64,
    beta: f64,
    pub(crate) bounds: Bounds,
}

impl Vegas {
    pub(crate) fn new(config: &AdaptiveConfig, bounds: Bounds) -> Self {
        let core = Core::new(config, bounds);
        Vegas { core, alpha: config.alpha as f64, beta: config.beta as f64, bounds }
    }

    pub(crate) fn observe(&mut self, sample: Sample) {
        let Some(judged) = self.core.observe(sample) else { return };
        let probe_due = self.core.baseline.window_judged();
        if self.core.overloaded(&judged) {
            return;
        }
        let Some(median) = judged.median else { return };
        let Some(baseline) = self.core.baseline.latency() else {
            return self.core.baseline.first(median);
        };
        let ratio = median.as_secs_f64() / baseline.as_secs_f64();
        let queue = self.core.limit * (1.0 - 1.0 / ratio);
        if queue > self.beta {
            self.core.set(self.core.limit - 1.0, LimitReason::LatencyRose);
        } else if queue < self.alpha && self.core.reached(&judged) {
            self.core.set(self.core.limit + 1.0, LimitReason::Grew);
        }
        if probe_due {
            self.core.probe(ratio);
        }
    }

    pub(crate) fn estimate(&self) -> Estimate {
        self.core.estimate()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Limiter;
    use super::super::tests::feed;
    use super::*;
    use crate::config::LimitKind;

    #[test]
    fn steps_by_one_toward_a_queue_between_alpha_and_beta() {
        let config = AdaptiveConfig::default();
        let mut limiter =
            Limiter::new(LimitKind::Vegas, &config, Bounds { min: 10.0, max: 40.0 }).expect("adaptive");
        let mut clock = 0;
        feed(&mut limiter, 10, 100, 10, &mut clock);
        // Queue 10 × (1 − 1/1.1) = 0.9 < alpha 2: grows.
        assert_eq!(feed(&mut limiter, 10, 110, 10, &mut clock), [11]);
        // Queue 11 × (1 − 1/1.5) = 3.7: holds.
        assert_eq!(feed(&mut limiter, 11, 150, 11, &mut clock), [0_usize; 0]);
        // Queue 11 × (1 − 1/2) = 5.5 > beta 4: shrinks.
        assert_eq!(feed(&mut limiter, 11, 200, 11, &mut clock), [10]);
    }
}

//! `gradient`: the limit follows the ratio of the latency to the baseline.
//!
//! Each window, with `r` the window's median latency over the baseline and `t = 1 +
//! tolerance`, the limit is multiplied by `(t / r)^gain`, at most halved and at most grown by
//! half. Under a queue at the dependency `r` grows with the limit (`r ≈ limit ÷ capacity`), so
//! the limit settles where the queue adds `tolerance` to the latency: just above the capacity,
//! whatever it is, and a change of capacity is followed geometrically. An overload cuts by
//! `backoff`; growth needs the running attempts to have reached the limit.
//!
//! When the latency stays high although the limit was halved since it rose, the dependency got
//! slower rather than queueing: a probe measures the new baseline at once.

use super::core::Core;
use super::window::Judged;
use super::{Bounds, Estimate, LimitReason, Sample};
use crate::config::AdaptiveConfig;

#[derive(Debug)]
pub(crate) struct Gradient {
    core: Core,
    target: f64,
    gain: f64,
    /// Since the latency rose above the target: the limit and ratio then, and windows since.
    congested: Option<(f64, f64, u32)>,
    /// Until the latency first rises above the target (or an overload), the limit grows by
    /// 30 % per window, as TCP's slow start: from `min_workers` to the capacity in a few rounds.
    slow_start: bool,
    pub(crate) bounds: Bounds,
}

impl Gradient {
    pub(crate) fn new(config: &AdaptiveConfig, bounds: Bounds) -> Self {
        let core = Core::new(config, bounds);
        Gradient {
            core,
            target: 1.0 + config.tolerance,
            gain: config.gain,
            congested: None,
            slow_start: true,
            bounds,
        }
    }

    pub(crate) fn observe(&mut self, sample: Sample) {
        if let Some(judged) = self.core.observe(sample) {
            self.judge(judged);
        }
    }

    fn judge(&mut self, judged: Judged) {
        let probe_due = self.core.baseline.window_judged();
        if self.core.overloaded(&judged) {
            self.slow_start = false;
            return;
        }
        let Some(median) = judged.median else { return };
        let Some(baseline) = self.core.baseline.latency() else {
            return self.core.baseline.first(median);
        };
        let ratio = median.as_secs_f64() / baseline.as_secs_f64();
        let before = self.core.limit;
        self.slow_start &= ratio <= self.target;
        let factor = match self.slow_start {
            true => 1.3,
            false => (self.target / ratio).powf(self.gain).clamp(0.5, 1.5),
        };
        if factor < 1.0 {
            self.core.set(self.core.limit * factor, LimitReason::LatencyRose);
        } else if self.core.reached(&judged) && factor > 1.0 {
            self.core.set(self.core.limit * factor, LimitReason::Grew);
        }
        if self.slower_not_queueing(ratio, before) || probe_due {
            self.congested = None;
            self.core.probe(ratio);
        }
    }

    /// Whether the latency has stayed at least three quarters of its ratio since it rose above
    /// the target, for three windows in which the limit was halved (or reached its minimum):
    /// a queue would have shrunk with the limit.
    fn slower_not_queueing(&mut self, ratio: f64, before: f64) -> bool {
        if ratio <= self.target {
            self.congested = None;
            return false;
        }
        let limit = self.core.limit;
        let (since, first_ratio, windows) = self.congested.get_or_insert((before, ratio, 0));
        *windows += 1;
        let cut = limit <= *since / 2.0 || limit <= self.bounds.min;
        cut && *windows >= 3 && ratio >= 0.75 * *first_ratio
    }

    pub(crate) fn estimate(&self) -> Estimate {
        self.core.estimate()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::feed;
    use super::super::{Limiter, Verdict};
    use super::*;
    use crate::config::LimitKind;
    use std::time::Duration;

    /// The steady controller at a gain of 0.5, past its slow start.
    fn gradient(min: f64, max: f64) -> Limiter {
        let config = AdaptiveConfig::default().gain(0.5);
        let mut limiter = Limiter::new(LimitKind::Gradient, &config, Bounds { min, max }).expect("adaptive");
        let Limiter::Gradient(gradient) = &mut limiter else { unreachable!() };
        gradient.slow_start = false;
        limiter
    }

    #[test]
    fn slow_start_grows_by_thirty_percent_until_the_latency_rises() {
        let config = AdaptiveConfig::default();
        let mut limiter =
            Limiter::new(LimitKind::Gradient, &config, Bounds { min: 2.0, max: 100.0 }).expect("adaptive");
        let mut clock = 0;
        assert_eq!(feed(&mut limiter, 10, 100, 2, &mut clock), [0_usize; 0], "the baseline");
        assert_eq!(feed(&mut limiter, 30, 100, 20, &mut clock), [3, 4]);
        // 300 ms: above the target, so the steady controller takes over: × (1.2 / 3)^0.3.
        assert_eq!(feed(&mut limiter, 10, 300, 20, &mut clock), [3]);
        assert_eq!(limiter.estimate().reason, LimitReason::LatencyRose);
    }

    #[test]
    fn grows_while_the_limit_is_reached_and_latency_holds() {
        let mut limiter = gradient(4.0, 100.0);
        let mut clock = 0;
        // The first window sets the baseline; each later window of 10 grows by 1.2^0.5.
        assert_eq!(feed(&mut limiter, 10, 100, 4, &mut clock), [0_usize; 0]);
        assert_eq!(limiter.estimate().baseline, Some(std::time::Duration::from_millis(100)));
        assert_eq!(feed(&mut limiter, 30, 100, 4, &mut clock), [5]);
        // 4.8 rounds to 5, which 4 running no longer reach: held until 5 run.
        let step = 1.2_f64.powf(0.5);
        assert_eq!(limiter.estimate().limit, 4.0 * step * step);
        assert_eq!(feed(&mut limiter, 10, 100, 4, &mut clock), [0_usize; 0]);
        assert_eq!(feed(&mut limiter, 20, 100, 5, &mut clock), [6]);
        assert_eq!(limiter.estimate().reason, LimitReason::Grew);
        // Reached no longer (3 running of 6): held.
        let held = limiter.estimate().limit;
        assert_eq!(feed(&mut limiter, 30, 100, 3, &mut clock), [0_usize; 0]);
        assert_eq!(limiter.estimate().limit, held);
    }

    #[test]
    fn a_capacity_drop_is_followed_in_proportion_to_the_latency() {
        let mut limiter = gradient(1.0, 100.0);
        let Limiter::Gradient(gradient) = &mut limiter else { unreachable!() };
        gradient.core.limit = 12.0;
        gradient.core.baseline.first(std::time::Duration::from_millis(100));
        let mut clock = 0;
        // Capacity 4 with 12 running: latency 3x; the cut is (1.2 / 3)^0.5 = 0.632.
        assert_eq!(feed(&mut limiter, 12, 300, 12, &mut clock), [8]);
        assert_eq!(limiter.estimate().reason, LimitReason::LatencyRose);
        // 8 running: 2x; cut by 0.775 to 5.9.
        assert_eq!(feed(&mut limiter, 10, 200, 8, &mut clock), [6]);
        assert_eq!(feed(&mut limiter, 10, 150, 6, &mut clock), [5]);
    }

    #[test]
    fn a_slower_dependency_is_probed_and_becomes_the_baseline() {
        let mut limiter = gradient(1.0, 100.0);
        let Limiter::Gradient(gradient) = &mut limiter else { unreachable!() };
        gradient.core.limit = 12.0;
        gradient.core.baseline.first(Duration::from_millis(100));
        let mut clock = 0;
        // 180 ms however many run: cut by (1.2 / 1.8)^0.5 each window...
        assert_eq!(feed(&mut limiter, 12, 180, 12, &mut clock), [10]);
        assert_eq!(feed(&mut limiter, 10, 180, 10, &mut clock), [8]);
        assert_eq!(feed(&mut limiter, 10, 180, 8, &mut clock), [7]);
        // ...until halved with the latency still as high: a probe at 0.9 × 5.3 / 1.8.
        assert_eq!(feed(&mut limiter, 10, 180, 7, &mut clock), [3]);
        assert_eq!(limiter.estimate().reason, LimitReason::Probing);
        // Drained to 3 at once; 17 more end that started before the drain, then 20 after it.
        assert_eq!(feed(&mut limiter, 37, 180, 3, &mut clock), [0_usize; 0]);
        assert_eq!(feed(&mut limiter, 1, 180, 3, &mut clock), [5]);
        let estimate = limiter.estimate();
        assert_eq!(
            (estimate.baseline, estimate.reason),
            (Some(Duration::from_millis(180)), LimitReason::Probed)
        );
        // From the new baseline, the limit grows again.
        assert_eq!(feed(&mut limiter, 10, 180, 5, &mut clock), [6]);
    }

    #[test]
    fn fast_errors_and_overloads_do_not_touch_the_baseline() {
        let mut limiter = gradient(2.0, 100.0);
        let mut clock = 0;
        feed(&mut limiter, 10, 100, 2, &mut clock);
        // Nine 5 ms errors and one 100 ms success: the window's latency is the success's alone.
        for _ in 0..9 {
            clock += 1;
            limiter.observe(super::super::tests::sample(5, Verdict::Failed, 2, clock));
        }
        feed(&mut limiter, 1, 100, 2, &mut clock);
        let estimate = limiter.estimate();
        assert_eq!(
            (estimate.baseline, estimate.sample),
            (Some(Duration::from_millis(100)), Some(Duration::from_millis(100)))
        );
        assert_eq!((estimate.limit, estimate.reason), (2.0 * 1.2_f64.powf(0.5), LimitReason::Grew));
        // An overload in a window cuts by the backoff, whatever the latency.
        feed(&mut limiter, 9, 100, 2, &mut clock);
        clock += 1;
        limiter.observe(super::super::tests::sample(5, Verdict::Overloaded, 2, clock));
        let estimate = limiter.estimate();
        assert_eq!(
            (estimate.limit, estimate.reason),
            (2.0, LimitReason::Overloaded),
            "clamped to the minimum"
        );
        assert_eq!(estimate.baseline, Some(Duration::from_millis(100)));
    }
}

//! The baseline: the dependency's latency with no queue in front of it, measured by probes.
//!
//! A baseline taken from whatever the attempts see drifts upward under sustained queueing (an
//! average of queued latencies is a queued latency), and one taken as the lowest latency ever
//! seen is poisoned by fast errors and by the luck of one fast answer. Here the baseline is the
//! median latency of attempts that *started* after the running attempts had drained to a limit
//! below the estimated capacity — a **probe**, held for as long as `2 × window` such attempts
//! take, every `probe_every` windows, and at once when the latency stays high however far the
//! limit is cut (the dependency got slower, it is not queueing). A probe that meets an overload
//! ends without a measurement.

use std::time::Duration;

use super::window::median;
use super::{Bounds, Sample, Verdict};

/// The baseline and the probe that measures it.
#[derive(Debug)]
pub(crate) struct Baseline {
    latency: Option<Duration>,
    windows_since_probe: u32,
    probe_every: u32,
    probe: Option<Probe>,
}

/// A probe in progress: the limit it holds, the limit to go back to, when the running attempts
/// had drained to it, and the latencies of attempts started since.
#[derive(Debug)]
struct Probe {
    limit: f64,
    resume: f64,
    drained: Option<Duration>,
    served: Vec<Duration>,
    samples: usize,
}

/// How a probe went, after one more sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ProbeStep {
    Going,
    /// Measured (or given up on): the limit goes back to `resume`.
    Ended {
        resume: f64,
    },
    /// An attempt was overloaded during the probe: the limit goes back to `resume`, cut.
    Overloaded {
        resume: f64,
    },
}

impl Baseline {
    pub(crate) fn new(probe_every: u32) -> Self {
        Baseline { latency: None, windows_since_probe: 0, probe_every, probe: None }
    }

    pub(crate) fn latency(&self) -> Option<Duration> {
        self.latency
    }

    /// The limit a probe holds, while one runs.
    pub(crate) fn probing(&self) -> Option<f64> {
        self.probe.as_ref().map(|probe| probe.limit)
    }

    /// The first window's median, before any probe: the best guess there is (the limit starts
    /// at `min_workers`, where a queue is least likely).
    pub(crate) fn first(&mut self, median: Duration) {
        self.latency.get_or_insert(median);
    }

    /// One more window judged: whether a probe is due.
    pub(crate) fn window_judged(&mut self) -> bool {
        self.windows_since_probe += 1;
        self.windows_since_probe >= self.probe_every
    }

    /// Starts a probe at `limit`, to go back to `resume` after it.
    pub(crate) fn start(&mut self, limit: f64, resume: f64) {
        self.windows_since_probe = 0;
        self.probe = Some(Probe { limit, resume, drained: None, served: Vec::new(), samples: 0 });
    }

    /// Feeds a sample to the running probe, which needs `wanted` attempts started after the
    /// drain; a probe that has not got them within `8 × wanted` samples gives up.
    pub(crate) fn probe(&mut self, sample: Sample, wanted: usize, bounds: Bounds) -> ProbeStep {
        let Some(probe) = self.probe.as_mut() else { return ProbeStep::Going };
        probe.samples += 1;
        if sample.verdict == Verdict::Overloaded {
            let resume = probe.resume;
            self.probe = None;
            return ProbeStep::Overloaded { resume };
        }
        match probe.drained {
            None if sample.in_flight <= bounds.workers(probe.limit) => probe.drained = Some(sample.ended),
            Some(drained)
                if sample.verdict == Verdict::Served
                    && sample.ended.saturating_sub(sample.latency) >= drained =>
            {
                probe.served.push(sample.latency)
            }
            _ => {}
        }
        if probe.served.len() < wanted && probe.samples < 8 * wanted {
            return ProbeStep::Going;
        }
        let resume = probe.resume;
        if let Some(measured) = median(&mut probe.served) {
            self.measured(measured);
        }
        self.probe = None;
        ProbeStep::Ended { resume }
    }

    /// A probe's measurement: taken as it is if it differs from the baseline by more than a
    /// quarter (the dependency changed), else averaged with it (noise).
    fn measured(&mut self, measured: Duration) {
        self.latency = Some(match self.latency {
            Some(old) if within_a_quarter(old, measured) => (old + measured) / 2,
            _ => measured,
        });
    }
}

fn within_a_quarter(old: Duration, new: Duration) -> bool {
    let ratio = new.as_secs_f64() / old.as_secs_f64();
    (0.75..=1.25).contains(&ratio)
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;

    const BOUNDS: Bounds = Bounds { min: 1.0, max: 100.0 };

    #[test]
    fn a_probe_measures_only_attempts_started_after_the_drain() {
        let mut baseline = Baseline::new(3);
        baseline.first(Duration::from_millis(150));
        assert_eq!(
            [baseline.window_judged(), baseline.window_judged(), baseline.window_judged()],
            [false, false, true]
        );
        baseline.start(8.0, 12.0);
        assert_eq!(baseline.probing(), Some(8.0));
        // Still 12 running: not drained; then 8 running: drained at 1000 ms.
        assert_eq!(baseline.probe(sample(300, Verdict::Served, 12, 900), 2, BOUNDS), ProbeStep::Going);
        assert_eq!(baseline.probe(sample(300, Verdict::Served, 8, 1000), 2, BOUNDS), ProbeStep::Going);
        // Started at 950 ms, before the drain: queued, not counted. A fast error: not counted.
        assert_eq!(baseline.probe(sample(250, Verdict::Served, 7, 1200), 2, BOUNDS), ProbeStep::Going);
        assert_eq!(baseline.probe(sample(5, Verdict::Failed, 7, 1205), 2, BOUNDS), ProbeStep::Going);
        assert_eq!(baseline.probe(sample(110, Verdict::Served, 7, 1110), 2, BOUNDS), ProbeStep::Going);
        assert_eq!(
            baseline.probe(sample(90, Verdict::Served, 7, 1300), 2, BOUNDS),
            ProbeStep::Ended { resume: 12.0 }
        );
        // Median of 90 and 110 is 90 (the lower middle); 150 → 90 is more than a quarter: taken as is.
        assert_eq!((baseline.latency(), baseline.probing()), (Some(Duration::from_millis(90)), None));
    }

    #[test]
    fn a_measurement_near_the_baseline_is_averaged_and_an_overload_ends_the_probe() {
        let mut baseline = Baseline::new(1);
        baseline.first(Duration::from_millis(100));
        baseline.start(4.0, 6.0);
        assert_eq!(baseline.probe(sample(100, Verdict::Served, 4, 0), 1, BOUNDS), ProbeStep::Going);
        assert_eq!(
            baseline.probe(sample(120, Verdict::Served, 4, 200), 1, BOUNDS),
            ProbeStep::Ended { resume: 6.0 }
        );
        assert_eq!(baseline.latency(), Some(Duration::from_millis(110)));
        baseline.start(4.0, 6.0);
        assert_eq!(
            baseline.probe(sample(5, Verdict::Overloaded, 6, 300), 1, BOUNDS),
            ProbeStep::Overloaded { resume: 6.0 }
        );
        assert_eq!((baseline.latency(), baseline.probing()), (Some(Duration::from_millis(110)), None));
    }

    #[test]
    fn a_probe_that_never_drains_gives_up_unmeasured() {
        let mut baseline = Baseline::new(1);
        baseline.first(Duration::from_millis(100));
        baseline.start(2.0, 5.0);
        for ended in 0..15 {
            assert_eq!(baseline.probe(sample(400, Verdict::Served, 5, ended), 2, BOUNDS), ProbeStep::Going);
        }
        assert_eq!(
            baseline.probe(sample(400, Verdict::Served, 5, 16), 2, BOUNDS),
            ProbeStep::Ended { resume: 5.0 }
        );
        assert_eq!(baseline.latency(), Some(Duration::from_millis(100)));
    }
}

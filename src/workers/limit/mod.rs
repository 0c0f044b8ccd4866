//! Limit algorithms: how the task lane's limit follows what the dependency serves.
//!
//! `max_workers` is a number a user guesses. A dependency whose capacity halves then gets the
//! old limit's worth of calls queued behind it, and latency explodes; when it recovers, the
//! limit does not rise to use it. An algorithm chosen with `workers.limit` moves the limit
//! between `min_workers` and `max_workers` from what the governor already sees of each
//! attempt: its latency, whether it timed out or the dependency said it was overloaded
//! (`overload_when`), and how many attempts were running when it ended.
//!
//! Not every attempt is fed: above about a thousand a second, one in a few is timed
//! ([`timing`]), which fills the windows as well and keeps the clock reads and the lock off
//! most calls.
//!
//! Every algorithm here is pure: fed the same [`Sample`]s it gives the same limits, with no
//! clock and no randomness of its own, so its tests are exact sequences.
//!
//! # What the algorithms guard against
//!
//! The adaptive limiters in use elsewhere fail in four ways their users report; each has a
//! rule here:
//!
//! - **Fast errors poison the baseline.** Only successful attempts carry latency into the
//!   estimate: an error answered in 5 ms says nothing about how fast the dependency serves.
//! - **The baseline drifts upward under sustained queueing.** A latency seen while the
//!   algorithm's own limit keeps a queue at the dependency is never taken as the baseline: the
//!   baseline is measured only by a *probe* ([`baseline`]), a short spell at a limit below the
//!   estimated capacity, from attempts that started after the running ones drained to it.
//! - **The limit creeps past what the dependency serves.** The limit grows only in a window in
//!   which the running attempts reached it: idle headroom is not evidence of capacity.
//! - **A drop in capacity is followed slowly.** The gradient algorithm cuts in proportion to
//!   the latency ratio, by up to half per window, and a window is about one round of the
//!   running attempts (at least `window` samples), so a halving is followed in a few hundred
//!   milliseconds, not after a long average catches up.

mod aimd;
mod baseline;
mod core;
mod gradient;
mod timing;
mod vegas;
mod window;

use std::fmt;
use std::time::Duration;

pub(crate) use aimd::Aimd;
pub(crate) use gradient::Gradient;
pub(crate) use timing::Timing;
pub(crate) use vegas::Vegas;

use crate::config::{AdaptiveConfig, LimitKind};

/// How an attempt ended, as a limit algorithm sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It succeeded: its latency is evidence of how fast the dependency serves.
    Served,
    /// It timed out, or the dependency said it was overloaded (`overload_when`).
    Overloaded,
    /// Any other error: no evidence about load either way, so it is only counted.
    Failed,
}

/// One attempt's end, as fed to an algorithm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    /// From the attempt's start to its end.
    pub(crate) latency: Duration,
    pub(crate) verdict: Verdict,
    /// Attempts running just after it ended and gave its worker back: to a waiting call, if
    /// one waited, so that under a queue this is the limit, and below it one less.
    pub(crate) in_flight: usize,
    /// When it ended, on any clock that only moves forward (the governor's: since it started).
    pub(crate) ended: Duration,
}

/// Why the limit last changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum LimitReason {
    /// The limit the algorithm started with (`min_workers`).
    Started,
    /// The running attempts reached the limit and latency stayed within the tolerance.
    Grew,
    /// Latency rose above the tolerance over the baseline: a queue at the dependency.
    LatencyRose,
    /// An attempt timed out or the dependency said it was overloaded.
    Overloaded,
    /// A probe of the baseline holds the limit below the estimated capacity for a moment.
    Probing,
    /// A probe measured the baseline; the limit is back where the probe found it.
    Probed,
}

impl fmt::Display for LimitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitReason::Started => "started",
            LimitReason::Grew => "grew",
            LimitReason::LatencyRose => "latency rose",
            LimitReason::Overloaded => "overloaded",
            LimitReason::Probing => "probing",
            LimitReason::Probed => "probed",
        })
    }
}

/// What an algorithm believes now, for `status()` and the metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Estimate {
    /// The limit, unrounded.
    pub(crate) limit: f64,
    /// The latency of the dependency with no queue, if measured.
    pub(crate) baseline: Option<Duration>,
    /// The median latency of the last window's successful attempts.
    pub(crate) sample: Option<Duration>,
    pub(crate) reason: LimitReason,
}

/// The bounds every algorithm keeps its limit within.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bounds {
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Bounds {
    pub(crate) fn clamp(self, limit: f64) -> f64 {
        limit.clamp(self.min, self.max)
    }

    /// The lane's limit for `limit`: rounded to the nearest count, within the bounds.
    pub(crate) fn workers(self, limit: f64) -> usize {
        self.clamp(limit).round() as usize
    }
}

/// An adaptive algorithm, chosen by `workers.limit`.
#[derive(Debug)]
pub(crate) enum Limiter {
    Aimd(Aimd),
    Gradient(Gradient),
    Vegas(Vegas),
}

impl Limiter {
    /// The algorithm `kind` names, or `None` for `fixed`.
    pub(crate) fn new(kind: LimitKind, config: &AdaptiveConfig, bounds: Bounds) -> Option<Self> {
        match kind {
            LimitKind::Fixed => None,
            LimitKind::Aimd => Some(Limiter::Aimd(Aimd::new(config, bounds))),
            LimitKind::Gradient => Some(Limiter::Gradient(Gradient::new(config, bounds))),
            LimitKind::Vegas => Some(Limiter::Vegas(Vegas::new(config, bounds))),
        }
    }

    /// Feeds one attempt's end; returns the lane's new limit if it changed.
    pub(crate) fn observe(&mut self, sample: Sample) -> Option<usize> {
        let before = self.estimate().limit;
        match self {
            Limiter::Aimd(aimd) => aimd.observe(sample),
            Limiter::Gradient(gradient) => gradient.observe(sample),
            Limiter::Vegas(vegas) => vegas.observe(sample),
        }
        let after = self.estimate().limit;
        // Most samples leave the limit as it was (it moves once a window): rounded only when it
        // moved, most samples pay no `round`, a libm call.
        if after == before {
            return None;
        }
        let bounds = self.bounds();
        let after = bounds.workers(after);
        (after != bounds.workers(before)).then_some(after)
    }

    pub(crate) fn estimate(&self) -> Estimate {
        match self {
            Limiter::Aimd(aimd) => aimd.estimate(),
            Limiter::Gradient(gradient) => gradient.estimate(),
            Limiter::Vegas(vegas) => vegas.estimate(),
        }
    }

    pub(crate) fn bounds(&self) -> Bounds {
        match self {
            Limiter::Aimd(aimd) => aimd.bounds,
            Limiter::Gradient(gradient) => gradient.bounds,
            Limiter::Vegas(vegas) => vegas.bounds,
        }
    }

    /// The lane's limit now.
    pub(crate) fn workers(&self) -> usize {
        self.bounds().workers(self.estimate().limit)
    }

    pub(crate) fn kind(&self) -> LimitKind {
        match self {
            Limiter::Aimd(_) => LimitKind::Aimd,
            Limiter::Gradient(_) => LimitKind::Gradient,
            Limiter::Vegas(_) => LimitKind::Vegas,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A sample ending at `ended_ms` after `latency_ms`, with `in_flight` running.
    pub(crate) fn sample(latency_ms: u64, verdict: Verdict, in_flight: usize, ended_ms: u64) -> Sample {
        Sample {
            latency: Duration::from_millis(latency_ms),
            verdict,
            in_flight,
            ended: Duration::from_millis(ended_ms),
        }
    }

    /// Feeds `count` served samples of `latency_ms` with `in_flight` running, 10 ms apart
    /// from `*clock`; returns the lane's limit after each window-closing change.
    pub(crate) fn feed(
        limiter: &mut Limiter,
        count: usize,
        latency_ms: u64,
        in_flight: usize,
        clock: &mut u64,
    ) -> Vec<usize> {
        let mut changes = Vec::new();
        for _ in 0..count {
            *clock += 10;
            changes.extend(limiter.observe(sample(latency_ms, Verdict::Served, in_flight, *clock)));
        }
        changes
    }

    #[test]
    fn fixed_is_no_algorithm() {
        let bounds = Bounds { min: 1.0, max: 10.0 };
        assert!(Limiter::new(LimitKind::Fixed, &AdaptiveConfig::default(), bounds).is_none());
    }

    #[test]
    fn the_lane_limit_is_the_rounded_limit_within_the_bounds() {
        let bounds = Bounds { min: 2.0, max: 10.0 };
        assert_eq!([0.4, 2.49, 2.5, 9.7, 30.0].map(|limit| bounds.workers(limit)), [2, 2, 3, 10, 10]);
    }
}

//! The bounded worker pool.
//!
//! Two lanes — async work and blocking closures — each a resizable limit with a bounded wait
//! queue in front. Every call holds an [`Admitted`] record from admission to its end, which also
//! holds the call's worker while an attempt runs, and a [`QueueSlot`] (in its wait) while it
//! waits for one. The call's future counts the record out when it ends or is dropped, with the
//! handle to its governor it holds (borrowed by `run` and `call`, owned by the tower layer's), so a call dropped at any await point leaves every count
//! exact. A spawned task keeps its place — queued, then working — in its [`InFlight`] guard,
//! which owns the task's one handle to the workers and counts it out on drop.

mod counters;
mod drain;
mod in_flight;
mod lane;
pub(crate) mod limit;
mod line;
mod permit;
mod supervise;
mod wait;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

pub(crate) use counters::Count;
pub(crate) use drain::Exit;
pub(crate) use in_flight::{Admitted, InFlight, Work};
pub(crate) use lane::Lane;
pub(crate) use permit::QueueSlot;
pub(crate) use wait::QueueWait;

/// Which of the two lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LaneKind {
    /// Async work: calls and `spawn`.
    Tasks,
    /// Blocking closures: `spawn_blocking`.
    Blocking,
}
pub(crate) use supervise::{Supervised, Watch, governor_id, is_nested, marked, supervise};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::WorkerConfig;
use crate::health::HealthLevel;
use counters::Counters;
use drain::Drain;
use limit::{Bounds, Estimate, Limiter, Sample, Timing, Verdict};

/// Everything the worker pool shares between governor handles and spawned tasks.
#[derive(Debug)]
pub(crate) struct Workers {
    /// Runs the user's code that the workers call outside an operation (hooks, drops).
    pub(crate) containment: Arc<crate::contain::Containment>,
    pub(crate) tasks: Arc<Lane>,
    pub(crate) blocking: Arc<Lane>,
    pub(crate) drain: Drain,
    pub(crate) counters: Counters,
    pub(crate) max_task_duration: Duration,
    max_workers: AtomicUsize,
    /// Calls sleeping between attempts: neither active nor queued.
    backing_off: AtomicUsize,
    /// Wakes the calls sleeping between attempts when the governor closes.
    closed: Notify,
    gate: HealthGate,
    /// `max_workers`, the health level and the adaptive algorithm's limit (`usize::MAX` when
    /// fixed), changed together so the limit is never stale: the smallest is in force.
    sizing: Mutex<(usize, HealthLevel, usize)>,
    shedding: AtomicBool,
    /// The adaptive limit's algorithm, unless `workers.limit` is `fixed`.
    pub(crate) adaptive: Option<Adaptive>,
    /// Memory-aware admission: what calls with a cost (and the governor's pools' creates)
    /// reserve, and the health monitor's last reading of memory.
    pub(crate) memory: Arc<crate::memory::MemoryGate>,
}

/// An adaptive limit: its algorithm, which attempts it times, and the instant its samples'
/// clock starts from.
#[derive(Debug)]
pub(crate) struct Adaptive {
    limiter: Mutex<Limiter>,
    timing: Timing,
    epoch: tokio::time::Instant,
}

/// How health shrinks the worker limit and sheds work.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HealthGate {
    pub(crate) degraded_ratio: f64,
    pub(crate) unhealthy_ratio: f64,
    pub(crate) shed_when_critical: bool,
}

impl HealthGate {
    /// The worker limit for `max_workers` at `level`: rounded up, at least 1.
    fn limit(&self, max_workers: usize, level: HealthLevel) -> usize {
        let ratio = match level {
            HealthLevel::Degraded => self.degraded_ratio,
            HealthLevel::Unhealthy | HealthLevel::Critical => self.unhealthy_ratio,
            _ => return max_workers,
        };
        ((max_workers as f64 * ratio).ceil() as usize).clamp(1, max_workers)
    }

    /// The limit in force: health's, or the adaptive algorithm's if smaller.
    fn effective(&self, (max_workers, level, adaptive): (usize, HealthLevel, usize)) -> usize {
        self.limit(max_workers, level).min(adaptive)
    }
}

impl Workers {
    pub(crate) fn new(
        config: &WorkerConfig,
        gate: HealthGate,
        containment: Arc<crate::contain::Containment>,
        memory_floor: Option<f64>,
    ) -> Self {
        let blocking = Lane::new(config.blocking_threads, config.blocking_queue_limit, config.queue_timeout);
        let blocking = blocking.labelled(crate::telemetry::LaneLabel::Blocking);
        let bounds = Bounds { min: config.min_workers as f64, max: config.max_workers as f64 };
        let limiter = Limiter::new(config.limit, &config.adaptive, bounds);
        let adaptive_limit = limiter.as_ref().map_or(usize::MAX, Limiter::workers);
        let adaptive = limiter.map(|limiter| Adaptive {
            limiter: Mutex::new(limiter),
            timing: Timing::default(),
            epoch: tokio::time::Instant::now(),
        });
        let limit = config.max_workers.min(adaptive_limit);
        Workers {
            containment,
            tasks: Arc::new(Lane::new(limit, config.queue_limit, config.queue_timeout)),
            blocking: Arc::new(blocking),
            drain: Drain::default(),
            counters: Counters::default(),
            max_task_duration: config.max_task_duration,
            max_workers: AtomicUsize::new(config.max_workers),
            backing_off: AtomicUsize::new(0),
            closed: Notify::new(),
            gate,
            sizing: Mutex::new((config.max_workers, HealthLevel::Unknown, adaptive_limit)),
            shedding: AtomicBool::new(false),
            adaptive,
            memory: Arc::new(crate::memory::MemoryGate::new(memory_floor)),
        }
    }

    pub(crate) fn lane(&self, kind: LaneKind) -> &Arc<Lane> {
        match kind {
            LaneKind::Tasks => &self.tasks,
            LaneKind::Blocking => &self.blocking,
        }
    }

    pub(crate) fn max_workers(&self) -> usize {
        // Relaxed: a configuration value read for status; resizes are ordered by the lane.
        self.max_workers.load(Ordering::Relaxed)
    }

    pub(crate) fn set_max_workers(&self, max_workers: usize) {
        let mut sizing = self.sizing.lock();
        sizing.0 = max_workers;
        // Relaxed: see `max_workers`.
        self.max_workers.store(max_workers, Ordering::Relaxed);
        self.tasks.resize(self.gate.effective(*sizing));
    }

    /// Follows a new health level: shrinks or restores the limit, sheds when critical.
    pub(crate) fn apply_health(&self, level: HealthLevel) {
        let mut sizing = self.sizing.lock();
        sizing.1 = level;
        let shed = level == HealthLevel::Critical && self.gate.shed_when_critical;
        // Relaxed: admission reads it as a hint; a call admitted just before the flip is
        // in-flight work, which shedding lets finish anyway.
        self.shedding.store(shed, Ordering::Relaxed);
        self.tasks.resize(self.gate.effective(*sizing));
    }

    /// The health level that holds the worker limit below `max_workers`, if one does.
    pub(crate) fn limited_by(&self) -> Option<HealthLevel> {
        let (max_workers, level, _) = *self.sizing.lock();
        (self.gate.limit(max_workers, level) < max_workers).then_some(level)
    }

    /// Whether the attempt starting now is timed for the adaptive limit: never with a fixed
    /// limit, one in a few when attempts end faster than about one a millisecond (see
    /// `limit/timing.rs`).
    #[inline]
    pub(crate) fn times_attempt(&self) -> bool {
        self.adaptive.as_ref().is_some_and(|adaptive| adaptive.timing.due())
    }

    /// Feeds an attempt that ended at `now` as `verdict`, timed from `started` if it was
    /// timed, to the adaptive limit, if there is one, and follows the limit it gives.
    pub(crate) fn observe(
        &self,
        started: Option<tokio::time::Instant>,
        now: tokio::time::Instant,
        verdict: Verdict,
    ) {
        let Some(adaptive) = &self.adaptive else { return };
        let ended = now.saturating_duration_since(adaptive.epoch);
        let sample = Sample {
            // An untimed attempt is fed only for its verdict (an overload), whose latency the
            // algorithms do not read.
            latency: started.map_or(Duration::ZERO, |started| now.saturating_duration_since(started)),
            verdict,
            // The attempt's worker went back just before, to a waiting call if there was one.
            in_flight: self.tasks.in_use_hint(),
            ended,
        };
        // The algorithm's lock is held while the lane follows, so changes apply in order.
        let mut limiter = adaptive.limiter.lock();
        if started.is_some() {
            adaptive.timing.paced(ended);
        }
        if let Some(limit) = limiter.observe(sample) {
            let mut sizing = self.sizing.lock();
            sizing.2 = limit;
            self.tasks.resize(self.gate.effective(*sizing));
            let estimate = limiter.estimate();
            crate::telemetry::limit_changed(estimate.reason);
            tracing::debug!(
                target: "bursar::workers",
                limit,
                effective_limit = self.tasks.limit(),
                reason = %estimate.reason,
                baseline = ?estimate.baseline,
                sample = ?estimate.sample,
                "adaptive worker limit changed"
            );
        }
    }

    /// The adaptive algorithm, its lane limit and its estimate, if the limit is adaptive.
    pub(crate) fn adaptive_estimate(&self) -> Option<(crate::LimitKind, usize, Estimate)> {
        let limiter = self.adaptive.as_ref()?.limiter.lock();
        Some((limiter.kind(), limiter.workers(), limiter.estimate()))
    }

    pub(crate) fn is_shedding(&self) -> bool {
        // Relaxed: see `apply_health`.
        self.shedding.load(Ordering::Relaxed)
    }

    /// Admits nothing more: new calls and calls still queued are rejected.
    /// Returns false if it was already closed.
    pub(crate) fn close(&self) -> bool {
        let first = self.drain.close();
        self.tasks.close();
        self.blocking.close();
        self.closed.notify_waiters();
        first
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Calls and spawned work that succeeded (see `Drain::succeeded`).
    pub(crate) fn completed(&self) -> u64 {
        self.drain.succeeded()
    }

    /// Calls that succeeded, spawned work not counted: the retry budget's count.
    pub(crate) fn calls_completed(&self) -> u64 {
        // The task count is read after the drain's: a task seen succeeded there is seen
        // here too (it counts itself before it leaves), so the answer is never too high.
        let completed = self.completed();
        completed.saturating_sub(self.counters.get(Count::TaskCompleted))
    }

    /// Sleeps a backoff delay, counted as backing off while it lasts (also if dropped).
    /// Returns false, at once, if the governor closes meanwhile (or had closed): a retry
    /// after the delay could only be rejected.
    pub(crate) async fn backing_off(&self, delay: impl Future<Output = ()>) -> bool {
        struct Counted<'a>(&'a AtomicUsize);
        impl Drop for Counted<'_> {
            fn drop(&mut self) {
                // Relaxed: a gauge for status only.
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        // Relaxed: a gauge for status only.
        self.backing_off.fetch_add(1, Ordering::Relaxed);
        let _counted = Counted(&self.backing_off);
        self.until_closed(delay).await.is_some()
    }

    /// Runs `work` until it ends (`Some`) or the governor closes (`None`, at once if it had
    /// closed): the waits that hold no queue place, which closing the lanes does not reach.
    pub(crate) async fn until_closed<F: Future>(&self, work: F) -> Option<F::Output> {
        crate::sync::unless_closed(&self.closed, || self.drain.is_closed(), work).await
    }

    pub(crate) fn backing_off_now(&self) -> usize {
        // Relaxed: a gauge for status only.
        self.backing_off.load(Ordering::Relaxed)
    }
}

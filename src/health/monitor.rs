//! The monitor task: every interval it samples, judges the level, and acts on a change —
//! resizing the worker limit, shedding when critical, starting the emergency recovery once
//! per entry into CRITICAL.

use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::task::Poll;

use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior, interval};

use super::error_rate::{CallTotals, ErrorWindow};
use super::hooks::CheckFn;
use super::hysteresis::Hysteresis;
use super::judged::judged;
use super::level::{Severity, level_of};
use super::sampler::DynSampler;
use super::state::{HealthState, Latest, Totals};
use super::{CheckResult, CheckStatus, HealthLevel, Readings};
use crate::contain::{Containment, UserCode};
use crate::workers::{Count, Workers};

pub(crate) struct Monitor {
    pub(crate) state: Arc<HealthState>,
    /// Runs the sampler, the checks and the emergency actions contained.
    containment: Arc<Containment>,
    pub(crate) workers: Arc<Workers>,
    pub(crate) sampler: Box<dyn DynSampler>,
    pub(crate) checks: Vec<(String, CheckFn)>,
    hysteresis: Hysteresis,
    errors: ErrorWindow,
    /// Publishes the governor's gauges after each sample (with the `metrics` feature).
    publish: Option<Box<dyn Fn() + Send + Sync>>,
    /// The emergency recoveries still running, each on a task of its own: owned here, so
    /// stopping the monitor (shutdown, or the last governor handle dropped) stops them too.
    emergencies: JoinSet<()>,
}

impl Monitor {
    pub(crate) fn new(
        state: Arc<HealthState>,
        workers: Arc<Workers>,
        sampler: Box<dyn DynSampler>,
        checks: Vec<(String, CheckFn)>,
        containment: Arc<Containment>,
    ) -> Self {
        let config = &state.config;
        let hysteresis = Hysteresis::new(config.dwell_in_force());
        let errors = ErrorWindow::new(config.error_window, config.error_min_calls);
        Monitor {
            state,
            containment,
            workers,
            sampler,
            checks,
            hysteresis,
            errors,
            publish: None,
            emergencies: JoinSet::new(),
        }
    }

    /// Calls `publish` after each sample, once the level it judged is in force.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code, reason = "only the metrics feature publishes"))]
    pub(crate) fn publishing(mut self, publish: impl Fn() + Send + Sync + 'static) -> Self {
        self.publish = Some(Box::new(publish));
        self
    }

    /// Samples forever, once per interval, starting at once. Every piece of user code it calls
    /// is contained, so no panic of theirs ends it, and no hang holds a sample past one
    /// interval (the sampler and the checks) or at all (the emergency actions).
    pub(crate) async fn run(mut self) {
        let mut ticks = interval(self.state.config.interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.sample_once().await;
        }
    }

    async fn sample_once(&mut self) {
        let fresh = self.read_sampler().await;
        let checks = self.run_checks().await;
        let now = Instant::now();
        let error_rate = self.errors.observe(now, self.totals());
        let (readings, sampled_at) = match fresh {
            Some(readings) => {
                self.workers.memory.observe(readings.memory_available, readings.memory_total);
                (readings, Some(now))
            }
            None => self.previous_readings(),
        };
        if sampled_at.is_none() {
            // The sampler has never answered: no readings is not "healthy", so the level stays
            // unknown (and readiness false) until it does.
            *self.state.latest.lock() = Latest { readings, error_rate, checks, sampled_at };
            self.published();
            return;
        }
        let raw = self.judge(&readings, error_rate, &checks);
        let previous = self.hysteresis.current();
        let level = self.hysteresis.observe(raw, now);
        *self.state.latest.lock() = Latest { readings, error_rate, checks, sampled_at };
        tracing::trace!(target: "bursar::health", ?readings, ?error_rate, %raw, %level, "sampled");
        if level != previous {
            self.enter(previous, level);
        }
        self.published();
    }

    /// Publishes the gauges, with the `metrics` feature, once a sample is in force. Each call
    /// into the recorder is contained where it is made (`telemetry`), so this is not wrapped
    /// again.
    fn published(&self) {
        if let Some(publish) = &self.publish {
            publish();
        }
    }

    /// The sampler's readings, or `None` if it did not answer within one interval, panicked
    /// or gave a reading that is not a number in range.
    ///
    /// Each is a missed sample: an event (`ERROR` for a panic or a hang, counted in the
    /// status's `callbacks`; `WARN` for an invalid reading), the previous readings are kept (a
    /// hung sampler often means a loaded machine, which must not look healthier for lack of
    /// readings), and `sampled_at` keeps the time of the last reading that answered — so
    /// liveness fails after three intervals without one. The error rate and the custom checks
    /// are still judged every interval, so the level keeps moving.
    async fn read_sampler(&mut self) -> Option<Readings> {
        let limit = self.state.config.interval;
        let sampler = &mut self.sampler;
        let readings =
            self.containment.within(UserCode::Sampler, limit, || sampler.sample_boxed()).await.ok()?;
        match readings.invalid() {
            None => Some(readings),
            Some(field) => {
                tracing::warn!(target: "bursar::health", field, ?readings, "the sampler gave an invalid reading (not a number in range); a missed sample");
                None
            }
        }
    }

    /// The readings in force and when the sampler gave them.
    fn previous_readings(&self) -> (Readings, Option<Instant>) {
        let latest = self.state.latest.lock();
        (latest.readings, latest.sampled_at)
    }

    /// Calls ended and failed so far, reported errors counted as failed calls.
    fn totals(&self) -> CallTotals {
        let counters = self.workers.counters();
        let reported = Totals::get(&self.state.totals.errors);
        let failures = counters.get(Count::Failed) + reported;
        CallTotals { calls: self.workers.completed() + failures, failures }
    }

    /// The rule over every reading and check: a degraded check is one more warning, an
    /// unhealthy one two, a critical one critical.
    fn judge(&self, readings: &Readings, error_rate: Option<f64>, checks: &[CheckStatus]) -> HealthLevel {
        let readings = judged(&self.state.config, readings, error_rate);
        let readings = readings.map(|(_, value, thresholds)| thresholds.severity(value));
        let checks = checks.iter().flat_map(|check| match check.check.level {
            HealthLevel::Degraded => [Severity::Warn, Severity::Fine],
            HealthLevel::Unhealthy => [Severity::Warn, Severity::Warn],
            HealthLevel::Critical => [Severity::Critical, Severity::Fine],
            _ => [Severity::Fine, Severity::Fine],
        });
        level_of(readings.chain(checks))
    }

    /// Runs every custom check at once, each contained; one that panics or does not answer
    /// within an interval is a failed check: unhealthy, with the reason as its message. Run
    /// together, checks that hang (a network partition often hangs several) hold the sample for
    /// one interval in all rather than one each, so the sampler's answers stay current.
    async fn run_checks(&self) -> Vec<CheckStatus> {
        let limit = self.state.config.interval;
        let answers = self
            .checks
            .iter()
            .map(|(_, check)| self.containment.within(UserCode::CheckResult, limit, || check()));
        let answers = join_all(answers).await;
        self.checks
            .iter()
            .zip(answers)
            .map(|((name, _), answer)| {
                let check = answer
                    .unwrap_or_else(|fault| CheckResult::unhealthy(format!("the check failed: it {fault}")));
                CheckStatus { name: name.clone(), check }
            })
            .collect()
    }

    fn enter(&mut self, previous: HealthLevel, level: HealthLevel) {
        if previous == HealthLevel::Unknown {
            tracing::info!(target: "bursar::health", %level, "first health reading");
        } else if level > previous {
            tracing::warn!(target: "bursar::health", %previous, %level, "health worsened");
        } else {
            tracing::info!(target: "bursar::health", %previous, %level, "health improved");
        }
        self.workers.apply_health(level);
        self.state.level.send_replace(level);
        if level == HealthLevel::Critical {
            self.emergency_recovery();
        }
    }

    /// Starts the emergency recovery, once per entry into CRITICAL: every action at once, on
    /// a task of its own, each contained and given up after one interval. Off the sampling, so
    /// actions that hang hold neither the next sample (liveness, and the level moving on, just
    /// when the service struggles) nor each other; together, so a run is over within one
    /// interval, before the level can leave CRITICAL and enter it again, and no action runs
    /// beside itself.
    fn emergency_recovery(&mut self) {
        Totals::add(&self.state.totals.emergencies);
        tracing::error!(target: "bursar::health", actions = self.state.emergency.len(), "critical: running emergency recovery");
        // Reaps the runs that have ended, so none piles up over a long life; each contained its
        // actions' panics, so none failed.
        while self.emergencies.try_join_next().is_some() {}
        let (state, containment) = (Arc::clone(&self.state), Arc::clone(&self.containment));
        self.emergencies.spawn(async move {
            let limit = state.config.interval;
            // A panic or a hang is logged and counted by the containment; the others run on.
            let actions = state
                .emergency
                .iter()
                .map(|action| containment.within(UserCode::EmergencyAction, limit, || action()));
            join_all(actions).await;
        });
    }
}

/// Runs `futures` together and gives their outputs in their order, once the last has ended.
async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut running: Vec<_> = futures.into_iter().map(|future| Some(Box::pin(future))).collect();
    let mut outputs: Vec<Option<F::Output>> = running.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut all_ended = true;
        for (slot, output) in running.iter_mut().zip(&mut outputs) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    Poll::Ready(ended) => {
                        *output = Some(ended);
                        *slot = None;
                    }
                    Poll::Pending => all_ended = false,
                }
            }
        }
        if all_ended { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

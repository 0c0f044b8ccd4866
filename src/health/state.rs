//! What the monitor knows, shared with every governor handle: the level (a `watch`
//! channel), the latest readings, the totals, and the recovery callbacks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;

use super::hooks::{ActionFn, RecoveryFn};
use super::recovery::RecoveryRunner;
use super::{CheckStatus, ErrorReport, HealthConfig, HealthLevel, Readings};

#[derive(Debug, Default)]
pub(crate) struct Latest {
    pub(crate) readings: Readings,
    pub(crate) error_rate: Option<f64>,
    pub(crate) checks: Vec<CheckStatus>,
    /// When the sampler last answered (a sample that timed out leaves it).
    pub(crate) sampled_at: Option<Instant>,
}

#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) errors: AtomicU64,
    pub(crate) recoveries: AtomicU64,
    pub(crate) recoveries_skipped: AtomicU64,
    pub(crate) emergencies: AtomicU64,
}

impl Totals {
    pub(crate) fn add(counter: &AtomicU64) {
        // Relaxed: independent statistics.
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        // Relaxed: see `add`.
        counter.load(Ordering::Relaxed)
    }
}

pub(crate) struct HealthState {
    pub(crate) config: HealthConfig,
    pub(crate) level: watch::Sender<HealthLevel>,
    pub(crate) latest: Mutex<Latest>,
    pub(crate) totals: Totals,
    recoveries: HashMap<String, RecoveryFn>,
    last_recovery: Mutex<HashMap<String, Instant>>,
    pub(crate) emergency: Vec<ActionFn>,
    /// Where the recovery callbacks run: one tracked task, stopped with the governor.
    pub(crate) runner: RecoveryRunner,
    /// When the monitor began: liveness counts from here until the sampler first answers.
    started: Instant,
}

impl HealthState {
    pub(crate) fn new(
        config: HealthConfig,
        recoveries: HashMap<String, RecoveryFn>,
        emergency: Vec<ActionFn>,
    ) -> Self {
        HealthState {
            config,
            level: watch::Sender::new(HealthLevel::Unknown),
            latest: Mutex::default(),
            totals: Totals::default(),
            recoveries,
            last_recovery: Mutex::default(),
            emergency,
            runner: RecoveryRunner::default(),
            started: Instant::now(),
        }
    }

    pub(crate) fn level(&self) -> HealthLevel {
        *self.level.borrow()
    }

    /// Alive unless the monitor has stopped getting readings: none for three intervals (the
    /// monitor or its sampler is stuck), counted from the start until the first reading.
    pub(crate) fn is_live(&self) -> bool {
        if !self.config.enabled {
            return true;
        }
        let limit = self.config.interval.saturating_mul(3).max(Duration::from_secs(1));
        self.latest.lock().sampled_at.unwrap_or(self.started).elapsed() <= limit
    }

    /// Counts a reported error and, if it is recoverable and its kind's callback is not
    /// cooling down, returns the callback to run.
    pub(crate) fn take_recovery(&self, report: &ErrorReport) -> Option<RecoveryFn> {
        Totals::add(&self.totals.errors);
        let callback = self.recoveries.get(&report.kind).filter(|_| report.recoverable)?;
        let now = Instant::now();
        let mut last = self.last_recovery.lock();
        let cooling =
            last.get(&report.kind).is_some_and(|at| now.duration_since(*at) < self.config.recovery_cooldown);
        if cooling {
            Totals::add(&self.totals.recoveries_skipped);
            return None;
        }
        last.insert(report.kind.clone(), now);
        Some(callback.clone())
    }
}

impl std::fmt::Debug for HealthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthState")
            .field("level", &self.level())
            .field("totals", &self.totals)
            .field("recovery_kinds", &self.recoveries.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

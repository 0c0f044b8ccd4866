//! The health monitor as the governor exposes it: reports, the level, the two probes.

use std::sync::Arc;

use tokio::sync::watch;

use super::Governor;
use crate::contain::UserCode;
use crate::health::hooks::RecoveryFn;
use crate::health::recovery::RunnerStopped;
use crate::health::state::Totals;
use crate::health::{ErrorReport, HealthLevel};

impl Governor {
    /// Reports an error seen outside a governed call (a WebDriver session lost, a database
    /// restart). It is a `tracing` warning, counts in `total_errors` and in the error rate,
    /// and — if recoverable and a recovery is registered for its kind with
    /// [`on_error`](crate::GovernorBuilder::on_error) — runs that recovery on the runtime,
    /// at most once per recovery cooldown. Recoveries run on the governor's own tracked task:
    /// [`shutdown`](Governor::shutdown) (or dropping the last handle) stops any still running,
    /// and none starts once shutdown has begun. The first recovery starts that task, so from
    /// then on `ShutdownReport::background_stopped` counts it.
    ///
    /// # Examples
    ///
    /// ```
    /// use bursar::health::{ErrorReport, HealthConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), bursar::BuildError> {
    /// let gov = bursar::Governor::builder()
    ///     .health(HealthConfig::disabled())
    ///     .on_error("webdriver", |report| async move {
    ///         println!("restarting the browser for {:?}", report.session);
    ///         true
    ///     })
    ///     .build()?;
    /// gov.report_error(ErrorReport::new("webdriver", "connection closed").session("job-7"));
    /// assert_eq!(gov.status().health.total_errors, 1);
    /// # Ok(()) }
    /// ```
    pub fn report_error(&self, report: ErrorReport) {
        let ErrorReport { kind, message, session, recoverable } = &report;
        tracing::warn!(target: "bursar::health", kind, message, ?session, recoverable, "error reported");
        let Some(recovery) = self.inner.health.take_recovery(&report) else {
            return;
        };
        let kind = report.kind.clone();
        if self.inner.workers.drain.is_closed() {
            tracing::warn!(target: "bursar::health", %kind, "recovery not run: the governor is shutting down");
            return;
        }
        if self.start_recovery(recovery, report).is_err() {
            tracing::warn!(target: "bursar::health", %kind, "recovery not run: the governor has shut down");
        }
    }

    /// Runs `recovery` on the governor's recovery task, started (and tracked) on first use.
    fn start_recovery(&self, recovery: RecoveryFn, report: ErrorReport) -> Result<(), RunnerStopped> {
        let (health, containment) =
            (Arc::clone(&self.inner.health), Arc::clone(&self.inner.workers.containment));
        let job = Box::pin(async move {
            let kind = report.kind.clone();
            // A panic is logged and counted by the containment, and is not a recovery.
            let recovered = match containment.call(UserCode::Recovery, || recovery(report)) {
                Ok(future) => containment.in_place(UserCode::Recovery, future).await.unwrap_or(false),
                Err(_) => false,
            };
            if recovered {
                Totals::add(&health.totals.recoveries);
            }
            tracing::info!(target: "bursar::health", kind, recovered, "recovery ran");
        });
        let inner = &*self.inner;
        let start = |runner| inner.background.track(inner.runtime.spawn(runner).abort_handle());
        inner.health.runner.submit(job, start)
    }

    /// The health level now.
    pub fn health_level(&self) -> HealthLevel {
        self.inner.health.level()
    }

    /// A subscription to the health level: `changed().await` wakes on every change.
    pub fn watch_health(&self) -> watch::Receiver<HealthLevel> {
        self.inner.health.level.subscribe()
    }

    /// The liveness probe: it fails only if the governor itself is stuck (its monitor has not
    /// had a reading for three intervals: the monitor, or a sampler that times out every
    /// interval).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), bursar::BuildError> {
    /// let gov = bursar::Governor::builder().build()?;
    /// assert_eq!(gov.liveness(), bursar::Probe::Pass);
    /// # Ok(()) }
    /// ```
    pub fn liveness(&self) -> Probe {
        match self.inner.health.is_live() {
            true => Probe::Pass,
            false => Probe::Fail("the health monitor has had no reading for three intervals"),
        }
    }

    /// The readiness probe: it passes while the level is `Healthy` or `Degraded` (or the
    /// monitor is off) and the governor is not shutting down, and says which when it fails.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), bursar::BuildError> {
    /// let gov = bursar::Governor::builder().build()?;
    /// let _ = gov.shutdown(std::time::Duration::from_secs(1)).await;
    /// assert_eq!(gov.readiness(), bursar::Probe::Fail("the governor is shutting down"));
    /// assert!(!gov.readiness().passed());
    /// # Ok(()) }
    /// ```
    pub fn readiness(&self) -> Probe {
        if self.inner.workers.drain.is_closed() {
            return Probe::Fail("the governor is shutting down");
        }
        let health = &self.inner.health;
        if !health.config.enabled {
            return Probe::Pass;
        }
        match health.level() {
            level if level.is_ready() => Probe::Pass,
            HealthLevel::Critical => Probe::Fail("health is critical"),
            HealthLevel::Unhealthy => Probe::Fail("health is unhealthy"),
            _ => Probe::Fail("health is not known yet"),
        }
    }
}

/// The answer of a liveness or readiness probe: it passes, or it fails and says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Probe {
    /// The probe passes.
    Pass,
    /// The probe fails, for this reason.
    Fail(&'static str),
}

impl Probe {
    /// Whether the probe passes.
    pub fn passed(self) -> bool {
        self == Probe::Pass
    }
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::Pass => f.write_str("pass"),
            Probe::Fail(reason) => write!(f, "fail: {reason}"),
        }
    }
}

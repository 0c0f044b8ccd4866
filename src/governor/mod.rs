//! The [`Governor`] handle and everything it does.

mod background;
mod breakers;
mod builder;
mod call;
mod fleet_breakers;
mod health;
mod hooks;
#[cfg(feature = "metrics")]
mod metrics;
mod pools;
#[cfg(feature = "tower")]
mod reserve;
mod run;
mod shutdown;
mod spawn;
mod status;
mod task_handle;

use std::sync::Arc;

use crate::breaker::CircuitBreaker;
use crate::health::state::HealthState;
use crate::ports::PortAllocator;
use crate::retry::RetryPolicy;
use crate::workers::Workers;
use background::Background;

pub use builder::GovernorBuilder;
pub use call::{Call, CallFuture};
pub use health::Probe;
#[cfg(feature = "tower")]
pub(crate) use hooks::{DEFAULT_HOOKS, Hooks};
#[cfg(feature = "tower")]
pub(crate) use reserve::Planned;
#[cfg(feature = "tower")]
pub(crate) use run::{CallPlan, Calling, Operation};
pub use shutdown::ShutdownReport;
pub use status::{AdaptiveStatus, BlockingStatus, HealthStatus, MemoryStatus, Status, WorkerStatus};
pub use task_handle::TaskHandle;

/// The one handle a service wraps around every browser or database call.
///
/// Cheap to clone (an `Arc`); every clone governs the same limits. Build one with
/// [`Governor::builder`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let gov = bursar::Governor::builder().max_workers(4).build()?;
///
/// let answer = gov.run(|| async { Ok::<_, std::io::Error>(42) }).await?;
/// assert_eq!(answer, 42);
/// assert_eq!(gov.status().workers.completed, 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Governor {
    inner: Arc<Inner>,
}

/// What every clone of a governor shares.
#[derive(Debug)]
struct Inner {
    workers: Arc<Workers>,
    retry: Arc<RetryPolicy>,
    health: Arc<HealthState>,
    ports: Arc<PortAllocator>,
    breakers: Arc<breakers::Breakers>,
    pools: Arc<pools::Pools>,
    pool_config: crate::pool::PoolConfig,
    /// The call plan of `run`: the retry policy's settings, built once.
    default_plan: run::CallPlan,
    /// The fleet resource, if one is configured: every call's attempts take a lease on it.
    fleet: Option<Arc<crate::fleet::Fleet>>,
    /// The fleet resource's heartbeat: this governor among the live instances until it stops.
    membership: Option<crate::fleet::Membership>,
    runtime: tokio::runtime::Handle,
    /// The monitor task: stopped by shutdown, or when the last handle drops this.
    background: Background,
}

impl Governor {
    /// Starts a [`GovernorBuilder`] with the default configuration.
    pub fn builder() -> GovernorBuilder {
        GovernorBuilder::default()
    }

    /// Changes `max_workers` while the governor runs. Calls already running keep their
    /// worker; if the limit shrinks below them, the extra workers retire as they finish, so
    /// no permit is ever lost or duplicated.
    ///
    /// # Errors
    ///
    /// [`InvalidValue`](crate::InvalidValue) naming `workers.max_workers` if `max_workers` is
    /// 0 or larger than 2,147,483,647 (2³¹ − 1).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let gov = bursar::Governor::builder().max_workers(10).build()?;
    /// gov.set_max_workers(4)?;
    /// assert_eq!(gov.status().workers.effective_limit, 4);
    /// let refused = gov.set_max_workers(0).unwrap_err();
    /// assert_eq!((refused.field, refused.rule), ("workers.max_workers", "must be at least 1"));
    /// assert_eq!(gov.status().workers.effective_limit, 4, "unchanged");
    /// # Ok(()) }
    /// ```
    pub fn set_max_workers(&self, max_workers: usize) -> Result<(), crate::InvalidValue> {
        crate::config::check_count("workers.max_workers", max_workers)?;
        self.inner.workers.set_max_workers(max_workers);
        tracing::info!(target: "bursar::workers", max_workers, "worker limit changed");
        Ok(())
    }

    /// The governor's port allocator, shared by its pools: lease ports from its named ranges.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let gov = bursar::Governor::builder().build()?;
    /// let vnc = gov.ports().allocate("vnc")?;
    /// assert!((5900..=5999).contains(&vnc.port()));
    /// assert_eq!(gov.status().ports["vnc"].leased, 1);
    /// # Ok(()) }
    /// ```
    pub fn ports(&self) -> &PortAllocator {
        &self.inner.ports
    }

    /// Where the user's code runs contained.
    #[cfg(feature = "tower")]
    pub(crate) fn containment(&self) -> &crate::contain::Containment {
        &self.inner.workers.containment
    }

    /// The breaker for calls without a key, for manual control (`force_open`, `disable`,
    /// `reset`) and inspection.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), bursar::BuildError> {
    /// let gov = bursar::Governor::builder().build()?;
    /// gov.breaker().force_open();
    /// let rejected = gov.run(|| async { Ok::<_, std::io::Error>(()) }).await.unwrap_err();
    /// assert!(rejected.retry_after().is_some());
    /// # Ok(()) }
    /// ```
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.inner.breakers.default
    }

    /// The breaker of calls made with [`key`](crate::Call::key)`(key)`, created if needed.
    /// The key `"default"` names the breaker of calls without a key, the one
    /// [`breaker`](Self::breaker) returns and `status().breakers["default"]` shows.
    pub fn breaker_for(&self, key: &str) -> Arc<CircuitBreaker> {
        self.inner.breakers.shared(key)
    }
}

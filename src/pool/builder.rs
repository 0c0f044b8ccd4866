//! [`PoolBuilder`]: the manager, a configuration and a port allocator, checked once by
//! `build()`.

use std::fmt;
use std::sync::Arc;

use tokio::runtime::Handle;

use super::backend::Backend;
use super::memory::ReadMemory;
use super::shared::Shared;
use super::{Manager, Pool, PoolConfig, reaper};
use crate::BuildError;
use crate::contain::Containment;
use crate::ports::PortAllocator;
use crate::retry::rng::SplitMix64;

/// Builds a [`Pool`]; every value is checked once, in [`build`](Self::build).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use bursar::pool::{Manager, Pool, PoolConfig};
/// use bursar::ports::{PortAllocator, PortLease, PortsConfig};
/// # struct Browsers;
/// # impl Manager for Browsers {
/// #     type Key = String;
/// #     type Connection = ();
/// #     type Error = std::io::Error;
/// #     async fn create(&self, _: &String, _: &[PortLease]) -> Result<(), Self::Error> { Ok(()) }
/// #     async fn check(&self, _: &mut ()) -> Result<(), Self::Error> { Ok(()) }
/// #     async fn destroy(&self, _: ()) {}
/// # }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), bursar::BuildError> {
/// let mut config = PoolConfig::default();
/// config.ports = vec!["vnc".into(), "ws".into()];
///
/// let error = Pool::builder(Browsers).config(config.clone()).build().unwrap_err();
/// assert_eq!(error.field(), Some("pool.ports"));
///
/// let allocator = Arc::new(PortAllocator::new(&PortsConfig::default())?);
/// let pool = Pool::builder(Browsers).config(config).ports(allocator).build()?;
/// assert_eq!(pool.config().max_total, 20);
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until `build()` is called"]
pub struct PoolBuilder<M: Manager> {
    manager: M,
    config: PoolConfig,
    allocator: Option<Arc<PortAllocator>>,
    lifetime_seed: Option<u64>,
    /// Where the manager's panics are counted: the governor's, for a pool it starts.
    containment: Option<Arc<Containment>>,
    /// Run once the pool is built: how a governor registers the pools it starts.
    on_build: Option<Box<OnBuild<M>>>,
    /// How `max_rss` reads memory: from `/proc` unless a test sets readings.
    read_memory: Option<ReadMemory>,
    /// What a pool started by a governor takes from it.
    governor: Option<FromGovernor>,
}

/// What a pool started by a governor takes from it: the memory-aware admission its creates
/// reserve `create_cost` from, and whether the governor sheds work now (health critical),
/// which warm-ups wait out.
pub(crate) struct FromGovernor {
    pub(crate) memory: Arc<crate::memory::MemoryGate>,
    pub(crate) shedding: Box<dyn Fn() -> bool + Send + Sync>,
}

impl std::fmt::Debug for FromGovernor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FromGovernor")
            .field("memory", &self.memory)
            .field("shedding", &(self.shedding)())
            .finish()
    }
}

/// A hook run with the pool once it is built; an error refuses the pool.
type OnBuild<M> = dyn FnOnce(&Pool<M>) -> Result<(), BuildError> + Send + Sync;

impl<M: Manager> PoolBuilder<M> {
    pub(super) fn new(manager: M) -> Self {
        PoolBuilder {
            manager,
            config: PoolConfig::default(),
            allocator: None,
            lifetime_seed: None,
            containment: None,
            on_build: None,
            read_memory: None,
            governor: None,
        }
    }

    /// The whole configuration, e.g. one read from a file.
    pub fn config(mut self, config: PoolConfig) -> Self {
        self.config = config;
        self
    }

    /// The allocator new connections lease their ports from: an `Arc<PortAllocator>`, or an
    /// `Option` of one (`None` removes it). Needed if [`PoolConfig::ports`] names any range.
    pub fn ports(mut self, allocator: impl Into<Option<Arc<PortAllocator>>>) -> Self {
        self.allocator = allocator.into();
        self
    }

    /// Contains the manager's panics in `containment` (shared with the governor) instead of
    /// a containment of the pool's own.
    pub(crate) fn containment(mut self, containment: Arc<Containment>) -> Self {
        self.containment = Some(containment);
        self
    }

    /// Reserves each create's `create_cost` from the governor's memory-aware admission, and
    /// holds warm-ups while it sheds work.
    pub(crate) fn governed_by(mut self, governor: FromGovernor) -> Self {
        self.governor = Some(governor);
        self
    }

    /// Runs `hook` with the pool once it is built; if it fails, `build` drops the pool (which
    /// stops its reaper) and fails with its error.
    pub(crate) fn on_build(
        mut self,
        hook: impl FnOnce(&Pool<M>) -> Result<(), BuildError> + Send + Sync + 'static,
    ) -> Self {
        self.on_build = Some(Box::new(hook));
        self
    }

    /// Reads connections' memory for `max_rss` with `read` instead of from `/proc`, for tests
    /// that set exact readings.
    #[cfg(test)]
    pub(super) fn read_memory(mut self, read: ReadMemory) -> Self {
        self.read_memory = Some(read);
        self
    }

    /// Fixes the random source of the lifetime jitter, for reproducible tests.
    #[cfg(test)]
    pub(super) fn lifetime_seed(mut self, seed: u64) -> Self {
        self.lifetime_seed = Some(seed);
        self
    }

    /// Checks the configuration and starts the pool and its reaper.
    ///
    /// # Errors
    ///
    /// - [`BuildError::Invalid`] naming the field, as [`PoolConfig::validate`] finds it, or
    ///   `pool.ports` if it names ranges without an allocator or ranges the allocator lacks.
    /// - [`BuildError::NoRuntime`] if called outside a Tokio runtime.
    /// - For a pool started with [`Governor::pool`](crate::Governor::pool):
    ///   [`BuildError::Invalid`] naming `name` if another live pool of the governor has that
    ///   name, and [`BuildError::ShutDown`] once the governor's shutdown has begun.
    pub fn build(self) -> Result<Pool<M>, BuildError> {
        self.config.validate()?;
        check_ranges(&self.config.ports, self.allocator.as_deref())?;
        let runtime = Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        let seed = self.lifetime_seed.unwrap_or_else(|| SplitMix64::from_entropy().next_u64());
        let reap_interval = self.config.reap_interval;
        let containment = self.containment.unwrap_or_default();
        let backend = Backend::new(self.manager, runtime.clone(), containment, self.config.destroy_timeout);
        let read_memory = self.read_memory.unwrap_or_else(|| Arc::new(crate::system::group_resident_bytes));
        let shared =
            Arc::new(Shared::new(backend, self.config, self.allocator, seed, read_memory, self.governor));
        let poke = Arc::clone(&shared.warm_poke);
        let reaper = runtime.spawn(reaper::run(Arc::downgrade(&shared), reap_interval, poke));
        shared.track_reaper(reaper.abort_handle());
        let pool = Pool { shared };
        if let Some(hook) = self.on_build {
            hook(&pool)?;
        }
        let config = &pool.shared.config;
        tracing::debug!(target: "bursar::pool", max_total = config.max_total, max_per_key = config.max_per_key, ports = ?config.ports, "pool built");
        Ok(pool)
    }
}

/// Every range named must exist in the allocator, which must be there if any is named.
fn check_ranges(ranges: &[String], allocator: Option<&PortAllocator>) -> Result<(), BuildError> {
    let field = "pool.ports";
    if ranges.is_empty() {
        return Ok(());
    }
    let Some(allocator) = allocator else {
        let rule = "needs a port allocator (`PoolBuilder::ports`)";
        return Err(BuildError::invalid_debug(field, rule, ranges));
    };
    let known = allocator.status();
    match ranges.iter().find(|range| !known.contains_key(*range)) {
        Some(unknown) => {
            let rule = "must each name a range of the port allocator";
            Err(BuildError::invalid_debug(field, rule, unknown))
        }
        None => Ok(()),
    }
}

impl<M: Manager> fmt::Debug for PoolBuilder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("config", &self.config)
            .field("allocator", &self.allocator)
            .finish_non_exhaustive()
    }
}

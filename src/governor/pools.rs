//! The pools a governor started: listed in its status, watched by its health monitor,
//! reaped by its emergency recovery and closed by its shutdown. Held weakly: a dropped pool
//! simply leaves the list.
//!
//! Each is known by its name — the key of `status().pools`, the name in the health monitor's
//! message — so a name is held by one live pool at a time: a second `build` under it fails. A
//! pool that was dropped or closed gives its name up (a closed one then leaves the status).
//! Once shutdown begins no pool starts: it would lease the governor's ports and never be
//! closed.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::Governor;
use crate::BuildError;
use crate::health::CheckResult;
use crate::pool::{AllPoolsStatus, FromGovernor, Manager, PoolBuilder, PoolStatus, PoolView, RegisteredPool};

/// A pool at or above this utilisation counts as a warning for the health monitor.
const BUSY: f64 = 0.8;

#[derive(Default)]
pub(crate) struct Pools {
    registry: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    pools: Vec<(String, Box<dyn RegisteredPool>)>,
    /// Shutdown has begun: no pool may join.
    closed: bool,
}

impl std::fmt::Debug for Pools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.registry.lock().pools.iter().map(|(name, _)| name.clone()).collect();
        f.debug_struct("Pools").field("pools", &names).finish()
    }
}

impl Pools {
    /// Lists a pool under `name`, unless a live, open pool holds it or shutdown has begun.
    fn register(&self, name: String, pool: Box<dyn RegisteredPool>) -> Result<(), BuildError> {
        let mut registry = self.registry.lock();
        if registry.closed {
            return Err(BuildError::ShutDown);
        }
        let holds_name = |(held, pool): &(String, Box<dyn RegisteredPool>)| {
            *held == name && pool.upgrade().is_some_and(|view| !view.is_closed())
        };
        if registry.pools.iter().any(holds_name) {
            let rule = "must differ from the name of every live pool of the governor";
            return Err(BuildError::invalid_debug("name", rule, name));
        }
        registry.pools.retain(|(held, _)| *held != name);
        registry.pools.push((name, pool));
        Ok(())
    }

    /// Refuses every pool from now on: shutdown has begun.
    pub(crate) fn refuse_new(&self) {
        self.registry.lock().closed = true;
    }

    /// The pools still alive, by name; forgets the dropped ones.
    fn live(&self) -> Vec<(String, Box<dyn PoolView>)> {
        let pools = &mut self.registry.lock().pools;
        let mut live = Vec::with_capacity(pools.len());
        pools.retain(|(name, pool)| match pool.upgrade() {
            Some(view) => {
                live.push((name.clone(), view));
                true
            }
            None => false,
        });
        live
    }

    pub(crate) fn status(&self) -> BTreeMap<String, PoolStatus> {
        self.live().into_iter().map(|(name, pool)| (name, pool.status())).collect()
    }

    /// The health monitor's view: a pool with 80 % or more of its connections in use is a
    /// warning (idle connections are capacity, not pressure).
    pub(crate) fn check(&self) -> CheckResult {
        let busy: Vec<String> = self
            .status()
            .into_iter()
            .filter(|(_, stats)| stats.active as f64 >= BUSY * stats.max_total as f64)
            .map(|(name, stats)| {
                format!("pool `{name}`: {} of {} connections in use", stats.active, stats.max_total)
            })
            .collect();
        match busy.is_empty() {
            true => CheckResult::healthy(),
            false => CheckResult::degraded(busy.join("; ")),
        }
    }

    /// The emergency recovery's first step: every idle connection of every pool, destroyed.
    pub(crate) fn reap_all_idle(&self) -> usize {
        self.live().iter().map(|(_, pool)| pool.reap_all_idle()).sum()
    }

    /// Closes every pool, waiting for their destroys until `deadline` (`None`: until they
    /// have all returned), and refuses new ones. Every pool is closed even after the deadline
    /// (closing itself does not wait); only the wait is cut short.
    pub(crate) async fn close_all(&self, deadline: Option<Instant>) -> ClosedPools {
        self.refuse_new();
        let live = self.live();
        let mut closed = ClosedPools { pools: live.len(), ..ClosedPools::default() };
        for (_, pool) in &live {
            let report = pool.close_until(deadline).await;
            closed.idle_destroyed += report.idle_destroyed;
            closed.still_leased += report.still_leased;
            closed.destroys_unfinished += report.destroys_unfinished;
        }
        closed
    }
}

/// What closing every pool of a governor did, added up.
#[derive(Debug, Default)]
pub(crate) struct ClosedPools {
    pub(crate) pools: usize,
    pub(crate) idle_destroyed: usize,
    pub(crate) still_leased: usize,
    pub(crate) destroys_unfinished: usize,
}

/// The pools' section of the status: every pool added up.
pub(crate) fn total(pools: &BTreeMap<String, PoolStatus>) -> AllPoolsStatus {
    let mut total = AllPoolsStatus::default();
    for pool in pools.values() {
        let status = pool.summary();
        total.total_sessions += status.total_sessions;
        total.total_active_connections += status.total_active_connections;
        total.idle += status.idle;
        total.available_capacity += status.available_capacity;
        total.waiting += status.waiting;
        total.reaped += status.reaped;
        total.evicted += status.evicted;
        total.check_failed += status.check_failed;
        total.timeouts += status.timeouts;
        total.leaks += status.leaks;
        total.leaks_reported += status.leaks_reported;
    }
    total
}

impl Governor {
    /// Starts a connection pool governed by this governor: it leases ports from the
    /// governor's allocator, starts from the governor's [`PoolConfig`](crate::pool::PoolConfig),
    /// shows in `status()` under `name`, counts for health (80 % or more of its connections in
    /// use is a warning), has its idle connections reaped by the emergency recovery, and is closed by
    /// [`shutdown`](Governor::shutdown).
    ///
    /// # Ports
    ///
    /// The pool leases no ports unless its configuration names ranges
    /// ([`PoolConfig::ports`](crate::pool::PoolConfig::ports)), although the governor's
    /// allocator has `"vnc"` and `"ws"` by default: a pool leases only what it names, so a
    /// database pool takes no browser ports and no range caps a pool by surprise. Name them
    /// with `gov.pool_config().ports(["vnc", "ws"])`, or once for every pool with
    /// [`GovernorBuilder::pool_config`](crate::GovernorBuilder::pool_config) (or `pool.ports`
    /// in a configuration file).
    ///
    /// `name` is held by one live pool at a time: `build` fails with
    /// [`BuildError::Invalid`] naming `name` while another pool of this governor that is neither
    /// dropped nor closed has it (a closed one gives it up and leaves the status), and with
    /// [`BuildError::ShutDown`] once [`shutdown`](Governor::shutdown) has begun.
    ///
    /// # Examples
    ///
    /// ```
    /// use bursar::pool::{Lease, Manager};
    /// use bursar::ports::PortLease;
    ///
    /// /// Browser sessions, each with a VNC and a websocket port.
    /// struct Browsers;
    ///
    /// impl Manager for Browsers {
    ///     type Key = String;
    ///     type Connection = (u16, u16);
    ///     type Error = std::io::Error;
    ///     async fn create(&self, _user: &String, ports: &[PortLease]) -> Result<(u16, u16), Self::Error> {
    ///         Ok((ports[0].port(), ports[1].port())) // start the browser on these ports
    ///     }
    ///     async fn check(&self, _browser: &mut (u16, u16)) -> Result<(), Self::Error> {
    ///         Ok(()) // a cheap WebDriver call
    ///     }
    ///     async fn destroy(&self, _browser: (u16, u16)) {} // quit the session
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let gov = bursar::Governor::builder().build()?;
    /// let config = gov.pool_config().ports(["vnc", "ws"]); // no ports unless named
    /// let browsers = gov.pool("browsers", Browsers).config(config).build()?;
    ///
    /// let session = browsers.get("alice".to_owned()).await?;
    /// let (vnc, ws) = *session;
    /// assert_eq!(Lease::ports(&session).len(), 2);
    /// assert!((5900..=5999).contains(&vnc) && (6900..=6999).contains(&ws));
    /// assert_eq!(gov.status().pool.total_active_connections, 1);
    /// drop(session);
    ///
    /// let report = gov.shutdown(std::time::Duration::from_secs(1)).await;
    /// assert_eq!((report.pools_closed, report.pool_connections_destroyed), (1, 1));
    /// # Ok(()) }
    /// ```
    pub fn pool<M: Manager>(&self, name: impl Into<String>, manager: M) -> PoolBuilder<M> {
        let (name, pools) = (name.into(), Arc::clone(&self.inner.pools));
        crate::pool::Pool::builder(manager)
            .config(self.inner.pool_config.clone())
            .ports(Arc::clone(&self.inner.ports))
            .containment(Arc::clone(&self.inner.workers.containment))
            .governed_by(FromGovernor {
                memory: Arc::clone(&self.inner.workers.memory),
                shedding: {
                    let workers = Arc::downgrade(&self.inner.workers);
                    Box::new(move || workers.upgrade().is_some_and(|workers| workers.is_shedding()))
                },
            })
            .on_build(move |pool| pools.register(name, pool.registration()))
    }

    /// The pool configuration [`pool`](Governor::pool) starts from (the governor's `pool`
    /// section), to change before `.config(..)`.
    pub fn pool_config(&self) -> crate::pool::PoolConfig {
        self.inner.pool_config.clone()
    }
}

//! [`Pool`]: the handle every caller holds, and everything it offers. Each method is its
//! docs over an engine of `Shared`, the state every handle of one pool shares.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::governed::{RegisteredPool, WeakPool};
use super::shared::Shared;
use super::{CloseReport, Lease, Manager, PoolBuilder, PoolConfig, PoolError, PoolStatus};

/// A keyed pool of connections, each created with its own ports, capped in total and per key.
///
/// Cheap to clone (an `Arc`); every clone is the same pool. Build one with
/// [`Pool::builder`] inside a Tokio runtime; take connections with [`get`](Self::get); end
/// it with [`close`](Self::close). When the last handle is dropped, the reaper stops and
/// idle connections are destroyed, as with `close` (but nothing waits for it).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use bursar::pool::{Lease, Manager, Pool, PoolConfig};
/// use bursar::ports::{PortAllocator, PortLease, PortsConfig};
///
/// struct Browsers;
/// struct Browser {
///     vnc_port: u16,
/// }
///
/// impl Manager for Browsers {
///     type Key = String;
///     type Connection = Browser;
///     type Error = std::io::Error;
///
///     async fn create(&self, _profile: &String, ports: &[PortLease]) -> Result<Browser, Self::Error> {
///         Ok(Browser { vnc_port: ports[0].port() })
///     }
///     async fn check(&self, _browser: &mut Browser) -> Result<(), Self::Error> {
///         Ok(())
///     }
///     async fn destroy(&self, _browser: Browser) {}
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut ports = PortsConfig::default();
/// ports.host_check = false; // so the port below does not depend on this machine
/// let mut config = PoolConfig::default();
/// config.ports = vec!["vnc".into()];
/// let pool = Pool::builder(Browsers).config(config).ports(Arc::new(PortAllocator::new(&ports)?)).build()?;
///
/// let browser = pool.get("alice".to_owned()).await?;
/// assert_eq!(browser.vnc_port, 5900); // the lease derefs to the connection
/// assert_eq!(Lease::key(&browser), "alice");
/// drop(browser); // back to the pool
///
/// let again = pool.get("alice".to_owned()).await?; // the same browser, checked first
/// assert_eq!(Lease::ports(&again)[0].port(), 5900);
/// drop(again);
/// assert_eq!((pool.status().created, pool.status().idle), (1, 1));
///
/// let report = pool.close().await;
/// assert_eq!(report.idle_destroyed, 1);
/// # Ok(()) }
/// ```
pub struct Pool<M: Manager> {
    pub(super) shared: Arc<Shared<M>>,
}

impl<M: Manager> Pool<M> {
    /// Starts a [`PoolBuilder`] for `manager` with the default [`PoolConfig`].
    pub fn builder(manager: M) -> PoolBuilder<M> {
        PoolBuilder::new(manager)
    }

    /// The configuration the pool was built with.
    pub fn config(&self) -> &PoolConfig {
        &self.shared.config
    }

    /// The manager the pool was built with.
    pub fn manager(&self) -> &M {
        &self.shared.backend.manager
    }

    /// Takes a connection for `key`: an idle one that passes its check, or a new one made with
    /// its ports. Waits at most the checkout timeout, waiting and creating included.
    ///
    /// The call's location is recorded for the leak detector, so a lease held past the leak
    /// threshold is reported with the file and line of this call.
    ///
    /// # Wrapping `get`
    ///
    /// The location is that of the code calling `get`, through `#[track_caller]`. A helper
    /// that wraps `get` in an `async fn` therefore has every leak reported at the helper's own
    /// line (an `async fn` cannot be `#[track_caller]` on stable Rust). To report the line
    /// that called the helper, write it as a `#[track_caller]` plain `fn` that returns `get`'s
    /// future:
    ///
    /// ```
    /// # use bursar::pool::{Lease, Manager, Pool, PoolError};
    /// # use bursar::ports::PortLease;
    /// # struct Browsers;
    /// # impl Manager for Browsers {
    /// #     type Key = String;
    /// #     type Connection = ();
    /// #     type Error = std::io::Error;
    /// #     async fn create(&self, _: &String, _: &[PortLease]) -> Result<(), Self::Error> { Ok(()) }
    /// #     async fn check(&self, _: &mut ()) -> Result<(), Self::Error> { Ok(()) }
    /// #     async fn destroy(&self, _: ()) {}
    /// # }
    /// /// Leaks are reported at the line that called `session`, not here.
    /// #[track_caller]
    /// fn session<'a>(
    ///     pool: &'a Pool<Browsers>,
    ///     user: &str,
    /// ) -> impl Future<Output = Result<Lease<Browsers>, PoolError<std::io::Error>>> + 'a {
    ///     pool.get(user.to_lowercase())
    /// }
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let pool = Pool::builder(Browsers).build()?;
    /// let lease = session(&pool, "Alice").await?; // a leak of `lease` names this line
    /// # drop(lease);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// - [`PoolError::Timeout`] if no connection was ready within the checkout timeout.
    /// - [`PoolError::Manager`] with the manager's error if `create` failed. (A failed `check`
    ///   is no error: that connection is destroyed and a new one created.)
    /// - [`PoolError::ManagerPanicked`] if `create` panicked: a failed create whose place and
    ///   ports are given back. (A `check` that panics fails the check.)
    /// - [`PoolError::Ports`] if a port the new connection needs could not be leased, and no
    ///   idle connection was left to evict for it. (An exhausted range whose ports idle
    ///   connections hold is no error: the least recently used is evicted, and the `get` waits
    ///   for its port's quarantine.)
    /// - [`PoolError::Closed`] if the pool is closed, or closed while this call ran.
    /// - [`PoolError::CreateCostTooHigh`] if a new connection was needed and the pool's
    ///   `create_cost` is more than the machine's memory less the memory floor.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future at any await point — waiting, creating or checking —
    /// leaves no place counted, no port leased and no connection undestroyed. A connection
    /// being checked is destroyed rather than returned, as it may be mid-request.
    ///
    /// # Panics
    ///
    /// Never. A panic in the manager's `create` or `check` (in the call itself, in its future or
    /// in the future's drop) is contained: an `ERROR` event naming the callback, counted in
    /// [`PoolStatus::callback_panics`], and handled as a
    /// failed create or a failed check. A `create` or `check` that hangs is cut off by the
    /// checkout timeout like any other wait of the `get` (counted in `timeouts`, not as a
    /// hang: the limit includes the time the `get` spent waiting before it).
    #[track_caller]
    pub fn get(
        &self,
        key: M::Key,
    ) -> impl Future<Output = Result<Lease<M>, PoolError<M::Error>>> + Send + '_ {
        self.shared.check_out(key)
    }

    /// Keeps `key` warm: idle connections of it are created in the background, before any
    /// `get` asks, up to [`PoolConfig::min_idle_per_key`] for each warm key and
    /// [`PoolConfig::min_idle`] over all of them, and made again as they are lent out, reaped
    /// or retired. Warm-ups take the same turns to create as `get`s
    /// ([`PoolConfig::max_concurrent_creates`]) and never evict: a key at `max_per_key` or a
    /// full pool stays as it is, and a port range with no free port fails the warm-up (it
    /// evicts no idle connection for one). A failed warm-up is a `WARN` event, and the next waits for the
    /// reaper's next tick. With both minimums 0 (the default), it only remembers the key.
    ///
    /// Naming a key twice is naming it once.
    ///
    /// # Examples
    ///
    /// ```
    /// # use bursar::pool::{Manager, Pool, PoolConfig};
    /// # use bursar::ports::PortLease;
    /// # struct Browsers;
    /// # impl Manager for Browsers {
    /// #     type Key = &'static str;
    /// #     type Connection = ();
    /// #     type Error = std::io::Error;
    /// #     async fn create(&self, _: &&'static str, _: &[PortLease]) -> Result<(), Self::Error> { Ok(()) }
    /// #     async fn check(&self, _: &mut ()) -> Result<(), Self::Error> { Ok(()) }
    /// #     async fn destroy(&self, _: ()) {}
    /// # }
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = PoolConfig::default().min_idle_per_key(2);
    /// let pool = Pool::builder(Browsers).config(config).build()?;
    /// pool.warm("alice");
    /// tokio::time::sleep(std::time::Duration::from_millis(1)).await; // the background works
    /// assert_eq!((pool.status().idle, pool.status().created), (2, 2));
    ///
    /// let browser = pool.get("alice").await?; // a warm one, no launch
    /// tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    /// assert_eq!((pool.status().idle, pool.status().created), (2, 3)); // replaced
    /// # drop(browser);
    /// # Ok(()) }
    /// ```
    pub fn warm(&self, key: M::Key) {
        self.shared.warm(key);
    }

    /// Closes the pool: every later `get` (and every `get` still waiting) fails with
    /// [`PoolError::Closed`](PoolError::Closed), the reaper stops, every idle
    /// connection is destroyed and its ports freed, and the call returns once every
    /// `destroy` in flight has returned — including those of connections evicted, reaped or
    /// discarded before. Leases still out are destroyed when they are dropped; a connection
    /// still being created is destroyed as soon as `create` returns.
    ///
    /// Calling it again destroys nothing more and waits for destroys still running.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the pool is closed and its destroys started at the first poll; dropping
    /// the future only stops waiting for them, and they finish on their own tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// # use bursar::pool::{Manager, Pool, PoolError};
    /// # use bursar::ports::PortLease;
    /// # struct Sockets;
    /// # impl Manager for Sockets {
    /// #     type Key = &'static str;
    /// #     type Connection = ();
    /// #     type Error = std::io::Error;
    /// #     async fn create(&self, _: &&'static str, _: &[PortLease]) -> Result<(), Self::Error> { Ok(()) }
    /// #     async fn check(&self, _: &mut ()) -> Result<(), Self::Error> { Ok(()) }
    /// #     async fn destroy(&self, _: ()) {}
    /// # }
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = Pool::builder(Sockets).build()?;
    /// let kept = pool.get("db").await?;
    /// drop(pool.get("cache").await?);
    ///
    /// let report = pool.close().await;
    /// assert_eq!((report.idle_destroyed, report.still_leased), (1, 1));
    /// assert!(matches!(pool.get("db").await, Err(PoolError::Closed)));
    ///
    /// drop(kept); // destroyed, not returned
    /// pool.close().await;
    /// assert_eq!(pool.status().destroyed, 2);
    /// # Ok(()) }
    /// ```
    pub async fn close(&self) -> CloseReport {
        self.shared.close_until(None).await
    }

    /// [`close`](Pool::close), waiting at most `limit` for the `destroy` calls: a manager
    /// whose `destroy` hangs (a browser that never quits) cannot hold the caller forever.
    /// Destroys still running then are counted in
    /// [`destroys_unfinished`](CloseReport::destroys_unfinished) and reported as a warning;
    /// they go on on their own tasks.
    ///
    /// # Cancel safety
    ///
    /// As [`close`](Pool::close).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use bursar::pool::{Manager, Pool};
    /// # use bursar::ports::PortLease;
    /// struct Stuck;
    /// impl Manager for Stuck {
    ///     type Key = u32;
    ///     type Connection = ();
    ///     type Error = std::io::Error;
    ///     async fn create(&self, _: &u32, _: &[PortLease]) -> Result<(), Self::Error> { Ok(()) }
    ///     async fn check(&self, _: &mut ()) -> Result<(), Self::Error> { Ok(()) }
    ///     async fn destroy(&self, _: ()) { std::future::pending::<()>().await }
    /// }
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = Pool::builder(Stuck).build()?;
    /// drop(pool.get(1).await?);
    /// let report = pool.close_within(Duration::from_secs(5)).await;
    /// assert_eq!((report.idle_destroyed, report.destroys_unfinished), (1, 1));
    /// assert_eq!(report.elapsed, Duration::from_secs(5));
    /// # Ok(()) }
    /// ```
    pub async fn close_within(&self, limit: Duration) -> CloseReport {
        self.shared.close_until(Instant::now().checked_add(limit)).await
    }

    /// A snapshot of the pool's gauges, counters and leaks. O(keys + leases out).
    ///
    /// # Examples
    ///
    /// ```
    /// # use bursar::pool::{Manager, Pool, PoolConfig};
    /// # use bursar::ports::PortLease;
    /// # struct Sockets;
    /// # impl Manager for Sockets {
    /// #     type Key = &'static str;
    /// #     type Connection = ();
    /// #     type Error = std::io::Error;
    /// #     async fn create(&self, _: &&'static str, _: &[PortLease]) -> Result<(), Self::Error> { Ok(()) }
    /// #     async fn check(&self, _: &mut ()) -> Result<(), Self::Error> { Ok(()) }
    /// #     async fn destroy(&self, _: ()) {}
    /// # }
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut config = PoolConfig::default();
    /// config.max_total = 4;
    /// let pool = Pool::builder(Sockets).config(config).build()?;
    /// let (first, _second) = (pool.get("db-1").await?, pool.get("db-2").await?);
    /// drop(first);
    ///
    /// let status = pool.status();
    /// assert_eq!((status.sessions, status.active, status.idle, status.created), (2, 1, 1, 2));
    /// assert_eq!(status.utilisation, 0.5);
    /// let summary = status.summary();
    /// assert_eq!((summary.total_active_connections, summary.available_capacity), (1, 3));
    /// # Ok(()) }
    /// ```
    pub fn status(&self) -> PoolStatus {
        self.shared.status()
    }

    /// [`close`](Self::close), waiting for the destroys until `deadline` (forever if `None`).
    pub(crate) async fn close_until(&self, deadline: Option<Instant>) -> CloseReport {
        self.shared.close_until(deadline).await
    }

    /// A weak, type-erased handle for the governor's registry.
    pub(crate) fn registration(&self) -> Box<dyn RegisteredPool> {
        Box::new(WeakPool(Arc::downgrade(&self.shared)))
    }
}

impl<M: Manager> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Pool { shared: Arc::clone(&self.shared) }
    }
}

impl<M: Manager> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool").field("config", &self.shared.config).finish_non_exhaustive()
    }
}

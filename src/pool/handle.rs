//! [`Pool`]: the handle every caller holds.

use std::fmt;
use std::sync::Arc;

use super::shared::Shared;
use super::{Manager, PoolBuilder, PoolConfig};

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
/// assert_eq!((pool.stats().created, pool.stats().idle), (1, 1));
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

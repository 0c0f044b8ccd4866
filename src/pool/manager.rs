//! [`Manager`]: what the pool asks of the code that owns the real connections.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::hash::Hash;

use crate::ports::PortLease;

/// Makes, checks and ends the connections of a [`Pool`](super::Pool): WebDriver sessions,
/// database connections, sockets.
///
/// Each method returns a `Send` future, so implementors write `async fn`. The pool calls
/// [`destroy`](Self::destroy) exactly once for every connection [`create`](Self::create)
/// returned — when its check fails, it expires, it is evicted to make room for a new one, it
/// is discarded, or the pool closes — so that is where a browser is quit or a socket closed.
/// The pool never drops a connection without handing it to `destroy` (unless the Tokio
/// runtime itself is shutting down and can no longer run it).
///
/// A panic in any of the three is contained (see the
/// [module docs](super#why-the-manager-runs-contained)): it fails that one step, and the pool
/// stays consistent.
///
/// # Examples
///
/// ```
/// use bursar::pool::Manager;
/// use bursar::ports::PortLease;
///
/// /// One browser per user profile, its VNC server on the leased port.
/// struct Browsers;
///
/// struct Browser {
///     profile: String,
///     vnc_port: u16,
///     alive: bool,
/// }
///
/// impl Manager for Browsers {
///     type Key = String;
///     type Connection = Browser;
///     type Error = std::io::Error;
///
///     async fn create(&self, profile: &String, ports: &[PortLease]) -> Result<Browser, Self::Error> {
///         // Start the browser and its VNC server on `ports[0]` here.
///         Ok(Browser { profile: profile.clone(), vnc_port: ports[0].port(), alive: true })
///     }
///
///     async fn check(&self, browser: &mut Browser) -> Result<(), Self::Error> {
///         // A cheap round trip to the driver, like a database's pre-ping.
///         match browser.alive {
///             true => Ok(()),
///             false => Err(std::io::Error::other("connection closed while reading from the driver")),
///         }
///     }
///
///     async fn destroy(&self, browser: Browser) {
///         // Quit the WebDriver session; the pool frees its ports afterwards.
///         drop(browser);
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut ports = bursar::ports::PortsConfig::default();
/// ports.host_check = false; // so the ports below do not depend on this machine
/// let allocator = std::sync::Arc::new(bursar::ports::PortAllocator::new(&ports)?);
/// let mut config = bursar::pool::PoolConfig::default();
/// config.ports = vec!["vnc".into()];
/// let pool = bursar::pool::Pool::builder(Browsers).config(config).ports(allocator).build()?;
///
/// let mut browser = pool.get("alice".to_owned()).await?;
/// assert_eq!((browser.profile.as_str(), browser.vnc_port), ("alice", 5900));
/// browser.alive = false; // the driver dies while the browser is out
/// drop(browser);
///
/// let browser = pool.get("alice".to_owned()).await?; // fails its check: replaced
/// assert_eq!((browser.alive, browser.vnc_port), (true, 5901)); // 5900 rests in quarantine
/// # Ok(()) }
/// ```
pub trait Manager: Send + Sync + 'static {
    /// What connections are pooled by, e.g. a session or a user profile. Connections are
    /// only handed out for the key they were created for. Its `Hash`, `Eq`, `Clone` and
    /// `Debug` run under the pool's lock and in its drops: they must not panic (a `String`,
    /// an id or a derived struct of them never does).
    type Key: Hash + Eq + Clone + Debug + Send + Sync + 'static;
    /// The pooled connection.
    type Connection: Send + 'static;
    /// Why `create` or `check` failed; returned to the caller of `get` as it is, in
    /// [`PoolError::Manager`](super::PoolError::Manager), whose message shows it with
    /// `Display` (a `std::io::Error` reads "connection refused", not `Os { code: 111, .. }`).
    type Error: Debug + Display + Send + 'static;

    /// Makes a new connection for `key`, holding `ports` — one lease from each range named
    /// in [`PoolConfig::ports`](super::PoolConfig::ports), in that order. The pool keeps the
    /// leases with the connection and frees them after `destroy`.
    ///
    /// The future may be dropped at any await point (the caller gave up or timed out); it
    /// should then leave nothing behind.
    fn create(
        &self,
        key: &Self::Key,
        ports: &[PortLease],
    ) -> impl Future<Output = Result<Self::Connection, Self::Error>> + Send;

    /// Checks an idle connection before it is handed out again. On an error the connection is
    /// destroyed and a new one created in the same `get`. If the future is dropped midway, the
    /// connection is destroyed: it may be in the middle of a request.
    fn check(
        &self,
        connection: &mut Self::Connection,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Ends a connection for good. It runs on its own task, so it is never cancelled by a
    /// caller giving up; a pool's `close` waits for it, for at most
    /// [`destroy_timeout`](super::PoolConfig::destroy_timeout): a `destroy` not done by then
    /// is dropped, counted as hung, and the connection's ports and place are freed.
    fn destroy(&self, connection: Self::Connection) -> impl Future<Output = ()> + Send;

    /// Whether the connection is broken beyond any check: e.g. the browser process behind it
    /// has exited (`bursar::process::Supervised::try_status`, with the `process` feature).
    /// The pool asks when a connection comes back and before it checks an idle one; `true`
    /// destroys it without calling `check` (counted as `broken`). It must be cheap and must
    /// not block: it runs under no lock but on the caller's task. A panic counts as `true`.
    ///
    /// By default, `false`: only `check` finds a connection broken.
    fn is_broken(&self, connection: &Self::Connection) -> bool {
        let _ = connection;
        false
    }

    /// The process group that runs the connection (a browser and its driver started in one
    /// group, as `bursar::process::Supervised` does), asked once after `create`. With
    /// [`PoolConfig::max_rss`](super::PoolConfig::max_rss) set, the reaper sums the resident
    /// memory of that group's processes every `reap_interval` and retires a connection over
    /// the cap. A panic counts as `None`.
    ///
    /// By default, `None`: the connection's memory is not watched.
    fn process_group(&self, connection: &Self::Connection) -> Option<u32> {
        let _ = connection;
        None
    }
}

/// A shared manager is a manager: keep an `Arc` of it to read its own counters or settings
/// while the pool uses it.
impl<M: Manager> Manager for std::sync::Arc<M> {
    type Key = M::Key;
    type Connection = M::Connection;
    type Error = M::Error;

    fn create(
        &self,
        key: &Self::Key,
        ports: &[PortLease],
    ) -> impl Future<Output = Result<Self::Connection, Self::Error>> + Send {
        M::create(self, key, ports)
    }

    fn check(
        &self,
        connection: &mut Self::Connection,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        M::check(self, connection)
    }

    fn destroy(&self, connection: Self::Connection) -> impl Future<Output = ()> + Send {
        M::destroy(self, connection)
    }

    fn is_broken(&self, connection: &Self::Connection) -> bool {
        M::is_broken(self, connection)
    }

    fn process_group(&self, connection: &Self::Connection) -> Option<u32> {
        M::process_group(self, connection)
    }
}

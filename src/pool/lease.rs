//! [`Lease`]: a connection lent out of the pool; dropping it is the return.

use std::fmt;
use std::ops::{Deref, DerefMut};

use super::Manager;
use super::connection::ConnectionGuard;
use super::leaks::CheckoutId;
use crate::ports::PortLease;

/// A connection taken from a [`Pool`](super::Pool) with [`get`](super::Pool::get).
///
/// Derefs to the connection. Dropping the lease returns the connection to the pool, idle for
/// the next `get` of its key — or destroys it if the pool is closed or gone, or the connection
/// has outlived its lifetime. Its extra operations are associated functions
/// (`Lease::discard(lease)`), so they never shadow the connection's own methods.
///
/// # Examples
///
/// ```
/// # use bursar::pool::{Lease, Manager, Pool};
/// # use bursar::ports::PortLease;
/// # struct Drivers;
/// # impl Manager for Drivers {
/// #     type Key = u32;
/// #     type Connection = Vec<String>;
/// #     type Error = std::io::Error;
/// #     async fn create(&self, _: &u32, _: &[PortLease]) -> Result<Vec<String>, Self::Error> { Ok(Vec::new()) }
/// #     async fn check(&self, _: &mut Vec<String>) -> Result<(), Self::Error> { Ok(()) }
/// #     async fn destroy(&self, _: Vec<String>) {}
/// # }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = Pool::builder(Drivers).build()?;
/// let mut session = pool.get(7).await?;
/// session.push("GET /status".to_owned()); // the connection's own method, through DerefMut
/// assert_eq!(*Lease::key(&session), 7);
///
/// // "connection closed while reading from the driver": do not hand it out again.
/// Lease::discard(session);
/// pool.close().await;
/// assert_eq!((pool.status().discarded, pool.status().destroyed), (1, 1));
/// # Ok(()) }
/// ```
#[must_use = "dropping the lease returns the connection at once"]
pub struct Lease<M: Manager> {
    held: ConnectionGuard<M>,
    /// Its entry in the leak detector's ledger.
    checkout: CheckoutId,
}

impl<M: Manager> Lease<M> {
    /// A lease of a connection that can be handed out as it is.
    pub(super) fn new(held: ConnectionGuard<M>, checkout: CheckoutId) -> Self {
        Lease { held, checkout }
    }

    /// Destroys the connection instead of returning it — after an error that leaves it
    /// unusable, such as "connection closed while reading from the driver". Its place and
    /// ports are freed once the manager's `destroy` has returned.
    pub fn discard(this: Self) {
        let mut this = this;
        this.give_back(true);
    }

    /// The ports the connection was created with, one per configured range, in the order
    /// of [`PoolConfig::ports`](super::PoolConfig::ports).
    pub fn ports(this: &Self) -> &[PortLease] {
        &this.held.conn().ports
    }

    /// The key the connection belongs to.
    pub fn key(this: &Self) -> &M::Key {
        &this.held.conn().key
    }

    fn give_back(&mut self, discard: bool) {
        let Some(kept) = self.held.take_kept() else { return };
        match kept.handles.pool.upgrade() {
            Some(shared) => shared.give_back(self.checkout, kept, discard),
            // The pool is gone: no one can reuse the connection.
            None => {
                let (conn, place, backend) = kept.into_guards();
                backend.destroy(conn, place, None);
            }
        }
    }
}

impl<M: Manager> Drop for Lease<M> {
    fn drop(&mut self) {
        self.give_back(false);
    }
}

impl<M: Manager> Deref for Lease<M> {
    type Target = M::Connection;

    fn deref(&self) -> &M::Connection {
        &self.held.conn().connection
    }
}

impl<M: Manager> DerefMut for Lease<M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        &mut self.held.conn_mut().connection
    }
}

impl<M: Manager> fmt::Debug for Lease<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let conn = self.held.conn();
        f.debug_struct("Lease").field("key", &conn.key).field("ports", &conn.ports).finish_non_exhaustive()
    }
}

//! Ports for a new connection, a capacity like `max_total`: when a range is exhausted (its
//! free ports in use on the host count as resting, so the allocator says so too) or its free
//! ports are held by other processes of the fleet on this host, while idle connections of
//! the pool hold its ports, the least recently used of them is evicted —
//! as one is for room in `max_total` — and the `get` leases the port it frees.
//!
//! Every connection of a pool holds one port of each range the pool names, so the least
//! recently used idle connection of any key holds one of the exhausted range. The port it frees
//! rests its quarantine before it is leased again (the browser that held it may still have
//! viewers reconnecting), so the `get` waits for that, within its checkout timeout, rather
//! than evicting a second connection whose port would rest as long — even when ports found
//! held on the host meanwhile, resting too, come due before it and are found held again.
//!
//! A warm-up never evicts: a connection made only to be kept ready must not destroy another
//! kept ready, or two warm keys short of ports would take each other's every reaper tick.

use std::pin::pin;
use std::sync::Arc;

use tokio::time::sleep;

use super::deadline::{Deadline, Elapsed};
use crate::pool::shared::Shared;
use crate::pool::{Manager, PoolError};
use crate::ports::{PortError, PortLease};

/// Whether a create may evict idle connections for the ports of an exhausted range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::pool) enum Eviction {
    /// A `get`'s create: ports are a capacity like `max_total`.
    Allowed,
    /// A warm-up's create: it only uses room that is free.
    Never,
}

impl<M: Manager> Shared<M> {
    /// One lease from each configured range, evicting idle connections for exhausted ones if
    /// `eviction` allows.
    ///
    /// # Errors
    ///
    /// - [`PoolError::Ports`] if a range is exhausted and no idle connection is left to evict
    ///   (or `eviction` is [`Eviction::Never`]), or a port is unavailable for another reason.
    /// - [`PoolError::Timeout`] if the deadline passes while an evicted connection is destroyed
    ///   or its port rests.
    pub(super) async fn lease_ports(
        self: &Arc<Self>,
        key: &M::Key,
        eviction: Eviction,
        deadline: &mut Deadline<'_>,
    ) -> Result<Vec<PortLease>, PoolError<M::Error>> {
        let mut evicted = false;
        loop {
            let leased = deadline.within(pin!(self.try_lease_ports())).await;
            let Ok(leased) = leased else { return Err(self.cut_off()) };
            let error = match leased {
                Ok(ports) => return Ok(ports),
                Err(error) => error,
            };
            let waited = match &error {
                // The port the eviction freed rests first; another eviction would only free one
                // that rests as long. Ports found held on the host may come due before it.
                PortError::Exhausted { retry_after: Some(rest), .. } if evicted => {
                    deadline.within(pin!(sleep(*rest))).await
                }
                PortError::HeldOnHost { retry_after: Some(rest), .. } if evicted && !rest.is_zero() => {
                    deadline.within(pin!(sleep(*rest))).await
                }
                PortError::Exhausted { range, .. } | PortError::HeldOnHost { range, .. }
                    if eviction == Eviction::Allowed =>
                {
                    match self.evict_for_ports(range) {
                        Some(victim) => {
                            evicted = true;
                            // Its place comes back too; this `get` has one already, so it is given back.
                            deadline.within(pin!(victim)).await.map(drop)
                        }
                        None => return Err(self.no_ports(key, error)),
                    }
                }
                _ => return Err(self.no_ports(key, error)),
            };
            if let Err(Elapsed) = waited {
                return Err(self.cut_off());
            }
        }
    }

    #[cold]
    fn no_ports(&self, key: &M::Key, error: PortError) -> PoolError<M::Error> {
        tracing::debug!(target: "bursar::pool", ?key, %error, "no port for a new connection");
        PoolError::Ports(error)
    }
}

//! [`PortLease`]: the guard that owns a leased port until it is dropped.

use std::fmt;
use std::sync::Arc;

use tokio::time::Instant;

use super::range::Range;
use crate::fleet::PortClaimGuard;

/// One port, leased from a [`PortAllocator`](super::PortAllocator) until this guard is
/// dropped. Dropping it is the release: the port then rests in quarantine before it can be
/// leased again.
///
/// The lease keeps its range alive on its own, so it may outlive the allocator. To share one
/// lease between several owners, put it in an [`Arc`]: the port is released when the last
/// clone is dropped.
///
/// # Examples
///
/// ```
/// use bursar::ports::{PortAllocator, PortsConfig};
///
/// let mut config = PortsConfig::default();
/// config.host_check = false; // so the counts below do not depend on this machine
/// let allocator = PortAllocator::new(&config)?;
/// let lease = allocator.allocate("ws")?;
/// assert!((6900..=6999).contains(&lease.port()));
/// assert_eq!(lease.range(), "ws");
///
/// drop(lease);
/// assert_eq!(allocator.status()["ws"].quarantined, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping the lease releases the port at once"]
pub struct PortLease {
    range: Arc<Range>,
    port: u16,
    /// The port's claim in the host's plan, released after the port is back in its range;
    /// boxed, as only a fleet's leases have one, to keep every other lease small.
    claim: Option<Box<PortClaimGuard>>,
}

impl PortLease {
    pub(crate) fn new(range: Arc<Range>, port: u16, claim: Option<Box<PortClaimGuard>>) -> Self {
        tracing::trace!(target: "bursar::ports", range = range.name(), port, "port leased");
        PortLease { range, port, claim }
    }

    /// Whether the port is claimed in the host's port plan of the fleet, so that no other
    /// process of the fleet on this host leases it while this lease lives (see
    /// [`PortAllocator::lease`](super::PortAllocator::lease)).
    pub fn is_claimed(&self) -> bool {
        self.claim.is_some()
    }

    /// The leased port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The name of the range the port belongs to.
    pub fn range(&self) -> &str {
        self.range.name()
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        self.range.put_back(self.port, Instant::now());
        tracing::trace!(target: "bursar::ports", range = self.range.name(), port = self.port, "port released");
        // Taken here, so the field's own drop is a known `None`: a lease without a claim drops
        // with a test, not a call.
        if let Some(claim) = self.claim.take() {
            release_claim(claim);
        }
    }
}

/// Releases a port's claim in the host's plan (from a task); apart, as few leases have one.
#[cold]
#[inline(never)]
fn release_claim(claim: Box<PortClaimGuard>) {
    drop(claim);
}

impl fmt::Debug for PortLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortLease")
            .field("range", &self.range())
            .field("port", &self.port)
            .field("claimed", &self.is_claimed())
            .finish()
    }
}

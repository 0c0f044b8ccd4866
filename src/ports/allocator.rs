//! [`PortAllocator`]: named ranges of ports, leased one at a time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::range::Range;
use super::{PortError, PortLease, PortsConfig, RangeStatus, host};
use crate::BuildError;

/// Leases ports from named ranges: each port to one holder at a time, rested between holders.
///
/// `Send + Sync`: share it by reference or in an [`Arc`]. Each range has its own lock, held
/// only for a push or a pop.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use bursar::ports::{PortAllocator, PortsConfig};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut config = PortsConfig::default(); // "vnc" 5900–5999 and "ws" 6900–6999
/// config.host_check = false; // so the ports below do not depend on this machine
/// let allocator = PortAllocator::new(&config)?;
///
/// let vnc = allocator.allocate("vnc")?;
/// let ws = allocator.allocate("ws")?;
/// assert_eq!((vnc.port(), ws.port()), (5900, 6900));
///
/// drop(vnc); // 5900 rests for the quarantine (5 s) …
/// assert_eq!(allocator.allocate("vnc")?.port(), 5901);
/// tokio::time::sleep(Duration::from_secs(5)).await;
/// let status = allocator.status();
/// assert_eq!((status["vnc"].leased, status["vnc"].free, status["ws"].leased), (0, 100, 1));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PortAllocator {
    ranges: BTreeMap<String, Arc<Range>>,
    host_check: bool,
}

impl PortAllocator {
    /// An allocator over the ranges of `config`, every port free.
    ///
    /// Takes O(p) time and memory for p ports in all ranges (at most 65,535 ports, about
    /// 1.5 MB).
    ///
    /// # Errors
    ///
    /// [`BuildError::Invalid`] naming the field, as [`PortsConfig::validate`] finds it.
    pub fn new(config: &PortsConfig) -> Result<Self, BuildError> {
        config.validate()?;
        let ranges = config
            .ranges
            .iter()
            .map(|range| (range.name.clone(), Arc::new(Range::new(range, config.quarantine))));
        Ok(PortAllocator { ranges: ranges.collect(), host_check: config.host_check })
    }

    /// Leases the port of range `name` that has rested longest, if its quarantine is over.
    ///
    /// O(1) in the size of the range (one pop under the range's lock) and O(log r) in the
    /// number of ranges r. With the host check on, a port that another process listens on is
    /// put back to rest a quarantine and the next one is probed. A call makes at most as many
    /// probes as the range has ports (with a quarantine, each port at most once), so it never
    /// spins.
    ///
    /// Synchronous: it never waits for a port, so there is no await point to cancel.
    ///
    /// # Errors
    ///
    /// - [`PortError::UnknownRange`] if no range is called `name`.
    /// - [`PortError::Exhausted`] if every port is leased or quarantined, with when the
    ///   next quarantined port is free again.
    /// - [`PortError::InUseOnHost`] if every port that was free failed the host check.
    pub fn allocate(&self, name: &str) -> Result<PortLease, PortError> {
        let range = self.ranges.get(name).ok_or_else(|| PortError::UnknownRange { name: name.to_owned() })?;
        let now = Instant::now();
        let mut tried = 0;
        while tried < range.size() {
            let port = range.take(now).map_err(|retry_after| unavailable(range, tried, retry_after))?;
            if !self.host_check || !host::is_in_use(port) {
                return Ok(PortLease::new(Arc::clone(range), port));
            }
            tracing::debug!(target: "bursar::ports", range = name, port, "port in use on the host; skipped");
            range.put_back(port, now);
            tried += 1;
        }
        Err(unavailable(range, tried, None))
    }

    /// How many ports of each range are leased, free and quarantined, by range name.
    ///
    /// O(log n) per range of n ports.
    pub fn status(&self) -> BTreeMap<String, RangeStatus> {
        let now = Instant::now();
        self.ranges.iter().map(|(name, range)| (name.clone(), range.status(now))).collect()
    }
}

fn unavailable(range: &Range, tried: usize, retry_after: Option<Duration>) -> PortError {
    let error = if tried == 0 {
        PortError::Exhausted { range: range.name().to_owned(), size: range.size(), retry_after }
    } else {
        PortError::InUseOnHost { range: range.name().to_owned(), tried }
    };
    tracing::debug!(target: "bursar::ports", %error, "no port leased");
    error
}

//! [`PortAllocator`]: named ranges of ports, leased one at a time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::range::{Range, Waiting};
use super::{PortError, PortLease, PortsConfig, RangeStatus, host};
use crate::BuildError;
use crate::fleet::{Claimed, Fleet};

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
    /// The fleet whose host port plan [`lease`](Self::lease) claims in (`fleet.share_ports`).
    fleet: Option<Arc<Fleet>>,
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
        Ok(PortAllocator { ranges: ranges.collect(), host_check: config.host_check, fleet: None })
    }

    /// The allocator with its leases claimed in `fleet`'s host port plan, if the fleet shares
    /// ports.
    pub(crate) fn shared_by(mut self, fleet: Option<&Arc<Fleet>>) -> Self {
        self.fleet = fleet.filter(|fleet| fleet.shares_ports()).cloned();
        self
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
    ///   next quarantined port is free again. Ports that failed the host check count as
    ///   quarantined: they rest one before they are probed again.
    /// - [`PortError::InUseOnHost`] if the host check failed for every port of the range, none
    ///   of which this allocator has leased: other processes hold the range end to end.
    pub fn allocate(&self, name: &str) -> Result<PortLease, PortError> {
        let range = self.range(name)?;
        let now = Instant::now();
        let mut tried = 0;
        while tried < range.size() {
            let port = range.take(now).map_err(|retry_after| exhausted(range, retry_after))?;
            if !self.host_check || !host::is_in_use(port) {
                return Ok(PortLease::new(Arc::clone(range), port, None));
            }
            tracing::debug!(target: "bursar::ports", range = name, port, "port in use on the host; skipped");
            range.put_back(port, now);
            tried += 1;
        }
        Err(probed_out(range, tried))
    }

    /// Leases a port of range `name` as [`allocate`](Self::allocate) does, and, on a
    /// governor's allocator whose fleet resource shares ports (`fleet.share_ports`), claims it
    /// in the host's port plan: no other process of the fleet on this host leases it while the
    /// lease lives ([`PortLease::is_claimed`]). A port another live process holds is passed
    /// over and rests a quarantine before it is asked for again; a process that dies gives its
    /// ports back when its instance expires, within `fleet.lease_ttl`. Without a fleet, the
    /// same as `allocate`.
    ///
    /// The governor's pools lease their connections' ports this way. `allocate` never asks the
    /// fleet: a port it leases is guarded by the host check alone.
    ///
    /// One backend round trip per claim of up to 8 candidate ports, the longest rested first.
    ///
    /// # Errors
    ///
    /// As `allocate`, and:
    /// - [`PortError::HeldOnHost`] if every free port is held by another process of the fleet
    ///   on the host.
    /// - [`PortError::PlanUnavailable`] if the fleet backend cannot be asked and
    ///   `on_backend_down` is `fail_closed`. In the other modes the port is leased without a
    ///   claim (counted in the fleet status's `ports.unshared`, with a `WARN`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the candidate ports go back to their range at once, and whichever of them
    /// a claim cut off took is released from a task.
    ///
    /// # Examples
    ///
    /// ```
    /// use bursar::ports::{PortRange, PortsConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut ports = PortsConfig::default();
    /// ports.ranges = vec![PortRange::new("vnc", 5900..=5903)];
    /// ports.host_check = false;
    /// let gov = bursar::Governor::builder().ports(ports).build()?;
    /// // No fleet resource: a local lease, as `allocate` gives.
    /// let lease = gov.ports().lease("vnc").await?;
    /// assert_eq!((lease.port(), lease.is_claimed()), (5900, false));
    /// # Ok(()) }
    /// ```
    pub async fn lease(&self, name: &str) -> Result<PortLease, PortError> {
        let Some(fleet) = &self.fleet else { return self.allocate(name) };
        let range = self.range(name)?;
        let host = || fleet.ports_host().unwrap_or_default().to_owned();
        let (mut in_use, mut held) = (0, 0);
        while in_use + held < range.size() {
            let candidates = match self.candidates(range, &mut in_use) {
                Ok(candidates) if candidates.is_empty() => continue,
                Ok(candidates) => candidates,
                Err(PortError::Exhausted { .. }) if held > 0 => break,
                Err(error) => return Err(error),
            };
            let mut asking = Candidates { range, ports: candidates };
            let ports: Vec<u16> = asking.ports.iter().map(|waiting| waiting.port).collect();
            let (port, claim) = match fleet.claim_port(&ports).await {
                Claimed::Port { index, claim } => {
                    // Held elsewhere: they rest before this process asks for them again.
                    let now = Instant::now();
                    for port in &ports[..index] {
                        range.put_back(*port, now);
                    }
                    asking.ports.drain(..=index);
                    (ports[index], Some(Box::new(claim)))
                }
                Claimed::AllHeld => {
                    let now = Instant::now();
                    for port in asking.ports.drain(..) {
                        range.put_back(port.port, now);
                    }
                    held += ports.len();
                    continue;
                }
                Claimed::Unshared { local: true } => {
                    asking.ports.remove(0);
                    (ports[0], None)
                }
                Claimed::Unshared { local: false } => {
                    return Err(PortError::PlanUnavailable { range: name.to_owned(), host: host() });
                }
            };
            return Ok(PortLease::new(Arc::clone(range), port, claim));
        }
        if held == 0 {
            return Err(probed_out(range, in_use));
        }
        let retry_after = range.next_due(Instant::now());
        let error = PortError::HeldOnHost { range: name.to_owned(), host: host(), held, retry_after };
        tracing::debug!(target: "bursar::ports", %error, "no port leased");
        Err(error)
    }

    /// Up to [`CLAIM_BATCH`] due ports of `range` that pass the host check; the ones that fail
    /// it rest a quarantine, counted in `in_use`.
    fn candidates(&self, range: &Range, in_use: &mut usize) -> Result<Vec<Waiting>, PortError> {
        let now = Instant::now();
        let mut ports =
            range.take_due(now, CLAIM_BATCH).map_err(|retry_after| exhausted(range, retry_after))?;
        if self.host_check {
            ports.retain(|waiting| {
                let free = !host::is_in_use(waiting.port);
                if !free {
                    range.put_back(waiting.port, now);
                    *in_use += 1;
                }
                free
            });
        }
        Ok(ports)
    }

    fn range(&self, name: &str) -> Result<&Arc<Range>, PortError> {
        self.ranges.get(name).ok_or_else(|| PortError::UnknownRange { name: name.to_owned() })
    }

    /// How many ports of each range are leased, free and quarantined, by range name.
    ///
    /// O(log n) per range of n ports.
    pub fn status(&self) -> BTreeMap<String, RangeStatus> {
        let now = Instant::now();
        self.ranges.iter().map(|(name, range)| (name.clone(), range.status(now))).collect()
    }
}

/// The most ports one claim in a host's plan asks for.
const CLAIM_BATCH: usize = 8;

/// Ports taken from their range for a claim: those not leased go back to its front when the
/// claim ends, however it ends.
struct Candidates<'a> {
    range: &'a Range,
    ports: Vec<Waiting>,
}

impl Drop for Candidates<'_> {
    fn drop(&mut self) {
        self.range.put_front(&self.ports);
    }
}

/// No port of `range` is due: every one is leased or resting, counting those that failed the
/// host check, which rest like any other. It is exhausted even if some failed it: a release or
/// the end of a rest frees a port, and a pool evicts an idle connection for one.
fn exhausted(range: &Range, retry_after: Option<Duration>) -> PortError {
    let error = PortError::Exhausted { range: range.name().to_owned(), size: range.size(), retry_after };
    tracing::debug!(target: "bursar::ports", %error, "no port leased");
    error
}

/// `tried` probes, as many as `range` has ports, all found in use on the host. Other
/// processes hold the range end to end unless this allocator has leased some of it (without a
/// quarantine, the ports in use are probed again and again): then, as in [`exhausted`], a
/// release frees a port.
fn probed_out(range: &Range, tried: usize) -> PortError {
    if range.leased() > 0 {
        return exhausted(range, None);
    }
    let error = PortError::InUseOnHost { range: range.name().to_owned(), tried };
    tracing::debug!(target: "bursar::ports", %error, "no port leased");
    error
}

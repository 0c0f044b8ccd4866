//! [`RangeStatus`]: how one range's ports are spread between leases, the free list and the
//! quarantine.

/// One range's section of the ports status, e.g. `{ "leased": 5, "free": 95, "quarantined": 0 }`.
///
/// `leased + free + quarantined` is always the range's size. Each range is read under its own
/// lock, so its three counts are exact together.
///
/// # Examples
///
/// ```
/// use bursar::ports::{PortAllocator, PortsConfig};
///
/// let allocator = PortAllocator::new(&PortsConfig::default())?;
/// let vnc = allocator.status()["vnc"];
/// assert_eq!((vnc.leased, vnc.free, vnc.quarantined), (0, 100, 0));
/// # Ok::<(), bursar::BuildError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct RangeStatus {
    /// Ports held by a [`PortLease`](super::PortLease) (or being probed for one) now.
    pub leased: usize,
    /// Ports that can be leased now.
    pub free: usize,
    /// Released ports still resting before they can be leased again.
    pub quarantined: usize,
}

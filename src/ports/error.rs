//! [`PortError`]: why no port was leased.

use std::time::Duration;

/// Why [`PortAllocator::allocate`](super::PortAllocator::allocate) leased no port.
///
/// # Examples
///
/// ```
/// use bursar::ports::{PortAllocator, PortError, PortRange, PortsConfig};
///
/// let mut config = PortsConfig::default();
/// config.ranges = vec![PortRange::new("vnc", 5900..=5900)];
/// config.host_check = false;
/// let allocator = PortAllocator::new(&config)?;
///
/// let _only = allocator.allocate("vnc").expect("one port is free");
/// let error = allocator.allocate("vnc").unwrap_err();
/// assert_eq!(error, PortError::Exhausted { range: "vnc".into(), size: 1, retry_after: None });
/// assert_eq!(error.to_string(), "port range \"vnc\" is exhausted: all 1 ports are leased or quarantined");
/// # Ok::<(), bursar::BuildError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    /// No range has this name.
    #[error("no port range is named {name:?}")]
    UnknownRange {
        /// The name asked for.
        name: String,
    },
    /// Every port of the range is leased or resting in quarantine, counting ports that failed
    /// the host check: each rests a quarantine before it is probed again.
    #[error("port range {range:?} is exhausted: all {size} ports are leased or quarantined")]
    Exhausted {
        /// The range's name.
        range: String,
        /// How many ports the range holds.
        size: usize,
        /// When the next quarantined port is free again; `None` if every port is leased, so
        /// only a release can free one.
        retry_after: Option<Duration>,
    },
    /// Every port of the range failed the host check, and none is leased: other processes on
    /// this machine listen on the whole range. Each rests a quarantine before it is probed
    /// again. (When some ports are leased, a range whose other ports fail the check is
    /// [`Exhausted`](Self::Exhausted): a release frees one.)
    #[error("port range {range:?}: all {tried} free ports are in use by other processes on this host")]
    InUseOnHost {
        /// The range's name.
        range: String,
        /// How many ports were probed and found in use.
        tried: usize,
    },
    /// Every port that was free is held by another live process of the fleet on this host,
    /// as the host's port plan tells (`fleet.share_ports`). Each rests a quarantine before it
    /// is asked for again.
    #[error(
        "port range {range:?}: all {held} free ports are held by other processes of the fleet on host {host:?}"
    )]
    HeldOnHost {
        /// The range's name.
        range: String,
        /// The host whose plan it is.
        host: String,
        /// How many ports were found held.
        held: usize,
        /// When the next resting port is due again (those found held rest too); `None` if
        /// every other port is leased, so only a release can free one.
        retry_after: Option<Duration>,
    },
    /// The fleet backend could not be asked for the host's port plan, and `on_backend_down`
    /// is `fail_closed`: no port is leased that another process might hold.
    #[error(
        "port range {range:?}: the fleet backend is down and ports of host {host:?} are not leased without it"
    )]
    PlanUnavailable {
        /// The range's name.
        range: String,
        /// The host whose plan it is.
        host: String,
    },
}

//! The ports part of the configuration: which ranges exist, how long a released port rests,
//! and whether ports are probed on the host before they are handed out.

use std::ops::RangeInclusive;
use std::time::Duration;

#[cfg(feature = "serde")]
use crate::config::duration_text;

mod rules;

/// The named port ranges a [`PortAllocator`](super::PortAllocator) hands out.
///
/// # Default
///
/// | field | default |
/// |---|---|
/// | `ranges` | `"vnc"` 5900–5999 and `"ws"` 6900–6999 |
/// | `quarantine` | 5 s |
/// | `host_check` | true |
///
/// Five seconds is long enough for the process that held a port (a VNC server, a
/// websockify bridge) to finish exiting and for its viewers' reconnect attempts to fail
/// instead of landing in the next session, and short enough not to starve a 100-port range:
/// even with 20 ports leased, the other 80 sustain 16 new leases a second. Raise it to 60 s
/// if the servers you start on these ports bind without `SO_REUSEADDR`, so that connections
/// still in `TIME_WAIT` cannot make their bind fail.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use bursar::ports::{PortRange, PortsConfig};
///
/// let mut config = PortsConfig::default();
/// config.ranges.push(PortRange::new("devtools", 9222..=9299));
/// config.quarantine = Duration::from_secs(60);
/// assert!(config.validate().is_ok());
///
/// config.ranges.push(PortRange::new("cdp", 9290..=9300));
/// let error = config.validate().unwrap_err();
/// assert_eq!(error.field(), Some("ports.ranges"));
/// assert_eq!(
///     error.to_string(),
///     "invalid configuration: `ports.ranges` must not overlap \
///      (got [2] \"devtools\" 9222..=9299 and [3] \"cdp\" 9290..=9300)",
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(remote = "Self", default, deny_unknown_fields))]
#[non_exhaustive]
pub struct PortsConfig {
    /// The ranges, each with a distinct name; no two may share a port. May be empty.
    pub ranges: Vec<PortRange>,
    /// How long a released port rests before it is leased again (0 to 1 hour; 0 reuses
    /// ports at once).
    #[cfg_attr(feature = "serde", serde(with = "duration_text::required"))]
    pub quarantine: Duration,
    /// Before handing a port out, try to listen on it at 127.0.0.1 and skip it if something
    /// else on this machine already does.
    pub host_check: bool,
}

impl Default for PortsConfig {
    fn default() -> Self {
        PortsConfig {
            ranges: vec![PortRange::new("vnc", 5900..=5999), PortRange::new("ws", 6900..=6999)],
            quarantine: Duration::from_secs(5),
            host_check: true,
        }
    }
}

impl PortsConfig {
    /// Checks every rule of the ports configuration.
    ///
    /// # Errors
    ///
    /// The first rule broken, as [`BuildError::Invalid`](crate::BuildError::Invalid):
    /// `ports.quarantine` longer than an hour, or `ports.ranges` with an unnamed,
    /// inverted, port-0, duplicate-named or overlapping range. A range's fault names its
    /// index and name in the value, e.g. `[1] "ws" 6999..=6900`.
    pub fn validate(&self) -> Result<(), crate::BuildError> {
        rules::quarantine(self.quarantine)?;
        for (index, range) in self.ranges.iter().enumerate() {
            rules::range(index, range)?;
        }
        rules::distinct_names(&self.ranges)?;
        rules::disjoint(&self.ranges)
    }
}

/// One named range of ports, both ends included.
///
/// # Examples
///
/// ```
/// let vnc = bursar::ports::PortRange::new("vnc", 5900..=5999);
/// assert_eq!((vnc.first, vnc.last, vnc.size()), (5900, 5999, 100));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(remote = "Self", deny_unknown_fields))]
#[non_exhaustive]
pub struct PortRange {
    /// What [`allocate`](super::PortAllocator::allocate) is asked for, e.g. `"vnc"`.
    pub name: String,
    /// The lowest port of the range (at least 1).
    pub first: u16,
    /// The highest port of the range (at least `first`).
    pub last: u16,
}

impl PortRange {
    /// The range `name` over `ports`.
    pub fn new(name: impl Into<String>, ports: RangeInclusive<u16>) -> Self {
        PortRange { name: name.into(), first: *ports.start(), last: *ports.end() }
    }

    /// How many ports the range holds: 0 if `last` is below `first`.
    pub fn size(&self) -> usize {
        (usize::from(self.last) + 1).saturating_sub(usize::from(self.first))
    }
}

crate::config::setters!(PortsConfig {
    ranges: Vec<PortRange>,
    quarantine: Duration,
    host_check: bool,
});

crate::config::setters!(PortRange {
    first: u16,
    last: u16,
} into {
    name: String,
});

#[cfg(feature = "serde")]
crate::config::map_only!(PortsConfig, PortRange);

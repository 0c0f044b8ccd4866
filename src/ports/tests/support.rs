//! Shared helpers: building an allocator over given ranges, reading one range's counts.

use std::ops::RangeInclusive;
use std::time::Duration;

use crate::ports::{PortAllocator, PortRange, PortsConfig};

pub(super) fn config(ranges: &[(&str, RangeInclusive<u16>)], quarantine: Duration) -> PortsConfig {
    PortsConfig {
        ranges: ranges.iter().map(|(name, ports)| PortRange::new(*name, ports.clone())).collect(),
        quarantine,
        host_check: false,
    }
}

/// An allocator without the host check, so tests do not depend on this machine's ports.
pub(super) fn allocator(ranges: &[(&str, RangeInclusive<u16>)], quarantine: Duration) -> PortAllocator {
    PortAllocator::new(&config(ranges, quarantine)).expect("a valid test configuration")
}

/// `(leased, free, quarantined)` of range `name`.
pub(super) fn counts(allocator: &PortAllocator, name: &str) -> (usize, usize, usize) {
    let status = allocator.status()[name];
    (status.leased, status.free, status.quarantined)
}

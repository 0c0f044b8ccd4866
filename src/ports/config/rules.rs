//! The rules a [`PortsConfig`](super::PortsConfig) is checked against.
//!
//! [`BuildError::Invalid`] names its field with a `&'static str`, so a fault in one range is
//! reported on the field `ports.ranges` and the range's index and name go into the value.

use std::collections::HashMap;
use std::time::Duration;

use super::PortRange;
use crate::BuildError;

/// The longest quarantine: longer holds a range hostage to ports nobody uses.
const MAX_QUARANTINE: Duration = Duration::from_secs(60 * 60);

const RANGES: &str = "ports.ranges";

pub(super) fn quarantine(value: Duration) -> Result<(), BuildError> {
    if value > MAX_QUARANTINE {
        return Err(BuildError::invalid("ports.quarantine", "must be at most 1 hour", format!("{value:?}")));
    }
    Ok(())
}

/// The rules one range obeys on its own.
pub(super) fn range(index: usize, range: &PortRange) -> Result<(), BuildError> {
    let rule = if range.name.is_empty() {
        "must each have a name"
    } else if range.last < range.first {
        "must each have `first` at most `last`"
    } else if range.first == 0 {
        "must not include port 0 (it asks the system for any free port)"
    } else {
        return Ok(());
    };
    Err(BuildError::invalid(RANGES, rule, describe(index, range)))
}

pub(super) fn distinct_names(ranges: &[PortRange]) -> Result<(), BuildError> {
    let mut seen = HashMap::with_capacity(ranges.len());
    for (index, range) in ranges.iter().enumerate() {
        if let Some(earlier) = seen.insert(range.name.as_str(), index) {
            let value = format!("[{earlier}] and [{index}] both {:?}", range.name);
            return Err(BuildError::invalid(RANGES, "must have distinct names", value));
        }
    }
    Ok(())
}

/// No port belongs to two ranges. Sorting by the first port makes this O(n log n): only
/// neighbours can overlap once the ranges are valid on their own.
pub(super) fn disjoint(ranges: &[PortRange]) -> Result<(), BuildError> {
    let mut by_first: Vec<usize> = (0..ranges.len()).collect();
    by_first.sort_by_key(|&index| (ranges[index].first, index));
    for pair in by_first.windows(2) {
        let (lower, upper) = (pair[0].min(pair[1]), pair[0].max(pair[1]));
        if ranges[pair[1]].first <= ranges[pair[0]].last {
            let value =
                format!("{} and {}", describe(lower, &ranges[lower]), describe(upper, &ranges[upper]));
            return Err(BuildError::invalid(RANGES, "must not overlap", value));
        }
    }
    Ok(())
}

fn describe(index: usize, range: &PortRange) -> String {
    format!("[{index}] {:?} {}..={}", range.name, range.first, range.last)
}

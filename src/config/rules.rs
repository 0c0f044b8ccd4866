//! The rules every configuration value is checked against, each naming its field.

use std::time::Duration;

use crate::{BuildError, InvalidValue};

/// The largest count a limit may have: what a lane's state word holds (31 bits for the calls
/// waiting, 32 for the free permits; see `workers::lane`), far more than any machine runs.
pub(crate) const MAX_COUNT: usize = (1 << 31) - 1;

/// The longest duration a limit may have. Far beyond any sane limit, yet short enough that
/// adding it to "now" can never overflow a clock.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// A count of workers, threads or queue places: at least 1, at most [`MAX_COUNT`].
pub(crate) fn check_count(field: &'static str, value: usize) -> Result<(), InvalidValue> {
    if value == 0 {
        return Err(InvalidValue { field, rule: "must be at least 1", value: value.to_string() });
    }
    if value > MAX_COUNT {
        return Err(InvalidValue { field, rule: "must be at most 2147483647", value: value.to_string() });
    }
    Ok(())
}

/// The shortest time limit: tokio's timer fires on whole milliseconds, so a shorter limit
/// would silently act as 1 ms; `build()` says so instead.
pub(crate) const MIN_DURATION: Duration = Duration::from_millis(1);

/// A time limit: at least [`MIN_DURATION`] (1 ms), at most [`MAX_DURATION`] (365 days).
pub(crate) fn check_duration(field: &'static str, value: Duration) -> Result<(), BuildError> {
    if value.is_zero() {
        return Err(BuildError::invalid(field, "must be longer than zero", format_args!("{value:?}")));
    }
    if value < MIN_DURATION {
        return Err(BuildError::invalid(
            field,
            "must be at least 1 ms, tokio's timer resolution",
            format_args!("{value:?}"),
        ));
    }
    delay(field, value)
}

/// A delay, which may be shorter than a timer tick (it then sleeps one tick): at most
/// [`MAX_DURATION`] (365 days).
pub(crate) fn delay(field: &'static str, value: Duration) -> Result<(), BuildError> {
    if value > MAX_DURATION {
        return Err(BuildError::invalid(field, "must be at most 365 days", format_args!("{value:?}")));
    }
    Ok(())
}

/// Every range the pool section names is one of the port ranges: else every pool the governor
/// starts would fail to build.
pub(crate) fn known_ranges(named: &[String], ranges: &[crate::ports::PortRange]) -> Result<(), BuildError> {
    let known = |name: &String| ranges.iter().any(|range| range.name == *name);
    match named.iter().enumerate().find(|(_, name)| !known(name)) {
        Some((index, name)) => Err(BuildError::invalid(
            "pool.ports",
            "must each name a range of `ports.ranges`",
            format_args!("[{index}] {name:?}"),
        )),
        None => Ok(()),
    }
}

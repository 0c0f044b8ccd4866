//! Why the level is what it is: each reading at or above a threshold and each check that
//! is not healthy, as a line a person reads in `status().health.reasons`.

use super::judged::judged;
use super::level::Severity;
use super::state::Latest;
use super::{HealthConfig, HealthLevel, Thresholds};

/// The reasons of the latest sample, in the order the monitor judges them (see
/// [`judged`]), then the checks.
pub(crate) fn reasons(config: &HealthConfig, latest: &Latest) -> Vec<String> {
    let readings = judged(config, &latest.readings, latest.error_rate);
    let over = readings.filter_map(|(name, value, thresholds)| over(name, value, thresholds));
    let checks =
        latest.checks.iter().filter(|status| status.check.level > HealthLevel::Healthy).map(|status| {
            format!("check `{}` is {}: {}", status.name, status.check.level, status.check.message)
        });
    over.chain(checks).collect()
}

/// `value` against its thresholds, e.g. `cpu_percent 85 is at or above its warning threshold 80`.
fn over(name: &str, value: f64, thresholds: Thresholds) -> Option<String> {
    let (which, threshold) = match thresholds.severity(value) {
        Severity::Fine => return None,
        Severity::Warn => ("warning", thresholds.warn),
        Severity::Critical => ("critical", thresholds.critical),
    };
    Some(format!("{name} {value} is at or above its {which} threshold {threshold}"))
}

//! Health levels and how readings map to them: the pure rule, no clock, no I/O.

use std::fmt;

/// How healthy the service is, from best to worst; `Unknown` before the first sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum HealthLevel {
    /// Not sampled yet.
    Unknown,
    /// No reading at its warning threshold.
    Healthy,
    /// One reading at its warning threshold: the worker limit shrinks a little.
    Degraded,
    /// Two or more readings at their warning thresholds: the worker limit shrinks more.
    Unhealthy,
    /// A reading at its critical threshold: new work is shed.
    Critical,
}

impl HealthLevel {
    /// Ready to take traffic: `Healthy` or `Degraded`.
    pub fn is_ready(self) -> bool {
        matches!(self, HealthLevel::Healthy | HealthLevel::Degraded)
    }
}

impl fmt::Display for HealthLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HealthLevel::Unknown => "unknown",
            HealthLevel::Healthy => "healthy",
            HealthLevel::Degraded => "degraded",
            HealthLevel::Unhealthy => "unhealthy",
            HealthLevel::Critical => "critical",
        })
    }
}

/// How far one reading is from its thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Severity {
    Fine,
    Warn,
    Critical,
}

/// A warning and a critical threshold for one reading.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(remote = "Self", deny_unknown_fields))]
pub struct Thresholds {
    /// At or above this, the reading counts as a warning.
    pub warn: f64,
    /// At or above this, the reading is critical.
    pub critical: f64,
}

impl Thresholds {
    pub(crate) fn severity(&self, value: f64) -> Severity {
        if value >= self.critical {
            Severity::Critical
        } else if value >= self.warn {
            Severity::Warn
        } else {
            Severity::Fine
        }
    }
}

/// The level for a set of severities: none at warn is healthy, one degraded, two or more
/// unhealthy, any critical is critical.
pub(crate) fn level_of(severities: impl IntoIterator<Item = Severity>) -> HealthLevel {
    let mut warnings = 0;
    for severity in severities {
        match severity {
            Severity::Critical => return HealthLevel::Critical,
            Severity::Warn => warnings += 1,
            Severity::Fine => {}
        }
    }
    match warnings {
        0 => HealthLevel::Healthy,
        1 => HealthLevel::Degraded,
        _ => HealthLevel::Unhealthy,
    }
}

#[cfg(feature = "serde")]
crate::config::map_only!(Thresholds);

#[cfg(test)]
mod tests {
    use super::Severity::{Critical, Fine, Warn};
    use super::*;

    #[test]
    fn the_rule_maps_every_mix_of_severities() {
        assert_eq!(level_of([]), HealthLevel::Healthy);
        assert_eq!(level_of([Fine, Fine, Fine]), HealthLevel::Healthy);
        assert_eq!(level_of([Fine, Warn, Fine]), HealthLevel::Degraded);
        assert_eq!(level_of([Warn, Warn, Fine]), HealthLevel::Unhealthy);
        assert_eq!(level_of([Warn, Warn, Warn]), HealthLevel::Unhealthy);
        assert_eq!(level_of([Fine, Fine, Critical]), HealthLevel::Critical);
        assert_eq!(level_of([Critical, Warn]), HealthLevel::Critical);
    }

    #[test]
    fn thresholds_are_inclusive() {
        let cpu = Thresholds { warn: 80.0, critical: 95.0 };
        assert_eq!([79.9, 80.0, 94.9, 95.0].map(|v| cpu.severity(v)), [Fine, Warn, Warn, Critical]);
    }
}

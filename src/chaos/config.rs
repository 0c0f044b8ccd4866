//! [`ChaosConfig`]: how often each fault happens, and the seed.

use std::time::Duration;

use crate::BuildError;

/// How often each fault is injected. Each rate is a probability per call, between 0 and 1;
/// together they may not exceed 1 (the rest of the calls pass untouched). Write it as a
/// struct literal over the default: `ChaosConfig { seed: 7, fail_rate: 0.1, ..ChaosConfig::default() }`.
///
/// | field | default |
/// |---|---|
/// | `seed` | 0 |
/// | `fail_rate` | 0 — the call returns the error you give, without running |
/// | `stall_rate` | 0 — the call never finishes (until it is dropped: a timeout, a shutdown) |
/// | `late_rate` | 0 — the call runs after `late_by` |
/// | `late_by` | 1 s |
/// | `panic_rate` | 0 — the call panics |
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(remote = "Self", default, deny_unknown_fields))]

pub struct ChaosConfig {
    /// The seed of the fault sequence: the same seed gives the same faults in the same order.
    pub seed: u64,
    /// Share of calls that fail at once with the caller's error.
    pub fail_rate: f64,
    /// Share of calls that never finish.
    pub stall_rate: f64,
    /// Share of calls that run only after [`late_by`](Self::late_by).
    pub late_rate: f64,
    /// How late a late call runs.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::required"))]
    pub late_by: Duration,
    /// Share of calls that panic.
    pub panic_rate: f64,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        ChaosConfig {
            seed: 0,
            fail_rate: 0.0,
            stall_rate: 0.0,
            late_rate: 0.0,
            late_by: Duration::from_secs(1),
            panic_rate: 0.0,
        }
    }
}

impl ChaosConfig {
    /// Checks every rule.
    ///
    /// # Errors
    ///
    /// [`BuildError::Invalid`] naming the field: a rate that is not a number between 0 and 1
    /// (`chaos.fail_rate`, …), or rates that add up to more than 1 (`chaos.rates`).
    pub fn validate(&self) -> Result<(), BuildError> {
        let rates = [
            ("chaos.fail_rate", self.fail_rate),
            ("chaos.stall_rate", self.stall_rate),
            ("chaos.late_rate", self.late_rate),
            ("chaos.panic_rate", self.panic_rate),
        ];
        for (field, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return Err(BuildError::invalid(field, "must be between 0 and 1", rate));
            }
        }
        let total: f64 = rates.iter().map(|(_, rate)| rate).sum();
        if total > 1.0 + 1e-9 {
            let rule = "the fail, stall, late and panic rates must add up to at most 1";
            return Err(BuildError::invalid("chaos.rates", rule, total));
        }
        Ok(())
    }
}

#[cfg(feature = "serde")]
crate::config::map_only!(ChaosConfig);

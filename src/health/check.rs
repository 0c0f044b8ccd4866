//! [`CheckResult`]: what a custom check answers.

use super::HealthLevel;

/// The answer of a custom health check: a level and why. It adds to the readings: a
/// degraded check counts as one reading at its warning threshold, an unhealthy one as two, a
/// critical one as a reading at its critical threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct CheckResult {
    /// The level the check found.
    pub level: HealthLevel,
    /// Why, for a person reading the status.
    pub message: String,
}

impl CheckResult {
    /// All is well.
    pub fn healthy() -> Self {
        CheckResult { level: HealthLevel::Healthy, message: String::new() }
    }

    /// Something is off but the service copes.
    pub fn degraded(message: impl Into<String>) -> Self {
        CheckResult { level: HealthLevel::Degraded, message: message.into() }
    }

    /// The service is struggling.
    pub fn unhealthy(message: impl Into<String>) -> Self {
        CheckResult { level: HealthLevel::Unhealthy, message: message.into() }
    }

    /// The service is about to fail: new work is shed.
    pub fn critical(message: impl Into<String>) -> Self {
        CheckResult { level: HealthLevel::Critical, message: message.into() }
    }
}

/// One named check's latest answer, as shown in the status.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct CheckStatus {
    /// The check's name.
    pub name: String,
    /// Its latest answer.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub check: CheckResult,
}

//! Hysteresis: a worse level is entered at once, a better one only after readings have
//! stayed better for the dwell time — so a brief dip does not flap the worker limit.

use std::time::Duration;

use tokio::time::Instant;

use super::HealthLevel;

#[derive(Debug)]
pub(crate) struct Hysteresis {
    current: HealthLevel,
    /// Since when the raw level has been better than `current`, and the worst raw level seen
    /// since then (the level to move to once the dwell time has passed).
    better_since: Option<(Instant, HealthLevel)>,
    dwell: Duration,
}

impl Hysteresis {
    pub(crate) fn new(dwell: Duration) -> Self {
        Hysteresis { current: HealthLevel::Unknown, better_since: None, dwell }
    }

    pub(crate) fn current(&self) -> HealthLevel {
        self.current
    }

    /// Takes the raw level of a new sample; returns the level in force afterwards.
    pub(crate) fn observe(&mut self, raw: HealthLevel, now: Instant) -> HealthLevel {
        if self.current == HealthLevel::Unknown || raw >= self.current {
            self.current = raw;
            self.better_since = None;
            return self.current;
        }
        let (since, worst) = match self.better_since {
            Some((since, worst)) => (since, worst.max(raw)),
            None => (now, raw),
        };
        if now.saturating_duration_since(since) >= self.dwell {
            self.current = worst;
            // If this reading is better still, its own dwell starts now.
            self.better_since = (raw < worst).then_some((now, raw));
        } else {
            self.better_since = Some((since, worst));
        }
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::HealthLevel::{Critical, Degraded, Healthy, Unhealthy, Unknown};
    use super::*;

    #[test]
    fn worse_is_entered_at_once_better_only_after_the_dwell_time() {
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        let mut levels = Hysteresis::new(Duration::from_secs(60));
        assert_eq!(levels.current(), Unknown);
        assert_eq!(levels.observe(Healthy, at(0)), Healthy);
        assert_eq!(levels.observe(Critical, at(30)), Critical);
        assert_eq!(levels.observe(Healthy, at(60)), Critical, "a brief dip keeps the level");
        assert_eq!(levels.observe(Degraded, at(90)), Critical);
        assert_eq!(levels.observe(Healthy, at(120)), Degraded, "60 s better: the worst seen since");
        assert_eq!(levels.observe(Healthy, at(150)), Degraded);
        assert_eq!(levels.observe(Healthy, at(180)), Healthy);
    }

    #[test]
    fn a_relapse_restarts_the_dwell_time() {
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        let mut levels = Hysteresis::new(Duration::from_secs(60));
        levels.observe(Unhealthy, at(0));
        levels.observe(Healthy, at(30));
        assert_eq!(levels.observe(Unhealthy, at(60)), Unhealthy);
        assert_eq!(levels.observe(Healthy, at(90)), Unhealthy);
        assert_eq!(levels.observe(Healthy, at(149)), Unhealthy);
        assert_eq!(levels.observe(Healthy, at(150)), Healthy);
    }
}

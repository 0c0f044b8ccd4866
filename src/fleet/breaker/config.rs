//! [`FleetBreakerConfig`]: which of the governor's breakers are shared by the fleet, and how.

use std::time::Duration;

use crate::BuildError;
#[cfg(feature = "serde")]
use crate::config::duration_text;

/// Circuit breakers whose "open" is decided by the fleet: `fleet.breaker`, inside the fleet
/// resource's section (see [the fleet breakers](crate::fleet#fleet-wide-circuit-breakers)).
///
/// # Default
///
/// | field | default |
/// |---|---|
/// | `keys` | none: must name at least one breaker |
/// | `quorum` | 2 |
/// | `vote_window` | 60 s |
/// | `sync_every` | 1 s |
/// | `probe_ttl` | 10 s |
///
/// # Examples
///
/// ```
/// use bursar::fleet::{FleetBreakerConfig, FleetConfig};
///
/// let shared = FleetBreakerConfig::new(["default", "payments-api"]).quorum(3);
/// let fleet = FleetConfig::new("browsers", 40).breaker(shared);
/// assert!(fleet.validate().is_ok());
///
/// let refused = FleetConfig::new("browsers", 40).breaker(FleetBreakerConfig::new(["default"]).quorum(0));
/// assert_eq!(refused.validate().unwrap_err().field(), Some("fleet.breaker.quorum"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(remote = "Self", default, deny_unknown_fields))]
#[non_exhaustive]
pub struct FleetBreakerConfig {
    /// The breakers shared by the fleet, by key: a keyed breaker's key (`gov.key(..)`), or
    /// `"default"` for the breaker of calls without a key. 1 to 128 characters each, no
    /// duplicates, at least one.
    pub keys: Vec<String>,
    /// The breaker opens fleet-wide only when this many distinct instances voted within
    /// `vote_window` (an instance votes when its own breaker opens): at least 1. One sick
    /// instance does not open the fleet's breaker unless `quorum` is 1.
    pub quorum: u32,
    /// A vote counts this long after it is cast. At least 1 ms, at most 1 day.
    #[cfg_attr(feature = "serde", serde(with = "duration_text::required"))]
    pub vote_window: Duration,
    /// Each instance reads the fleet's state this often, so every instance rejects within
    /// one `sync_every` (and a round trip) of the opening. Longer than
    /// `fleet.backend_timeout`, at most `vote_window`.
    #[cfg_attr(feature = "serde", serde(with = "duration_text::required"))]
    pub sync_every: Duration,
    /// The fleet's single probe holds its lease this long: if its outcome has not come back
    /// by then, another instance may probe. At least `sync_every`, at most 1 day.
    #[cfg_attr(feature = "serde", serde(with = "duration_text::required"))]
    pub probe_ttl: Duration,
}

impl Default for FleetBreakerConfig {
    fn default() -> Self {
        FleetBreakerConfig {
            keys: Vec::new(),
            quorum: 2,
            vote_window: Duration::from_secs(60),
            sync_every: Duration::from_secs(1),
            probe_ttl: Duration::from_secs(10),
        }
    }
}

/// The longest vote and probe lease.
const MAX_SPAN: Duration = Duration::from_secs(24 * 60 * 60);

impl FleetBreakerConfig {
    /// The breakers of `keys` shared by the fleet, the other fields their defaults.
    pub fn new<K: Into<String>>(keys: impl IntoIterator<Item = K>) -> Self {
        FleetBreakerConfig {
            keys: keys.into_iter().map(Into::into).collect(),
            ..FleetBreakerConfig::default()
        }
    }

    /// Checks every rule of `fleet.breaker`; `backend_timeout` is the fleet's.
    ///
    /// # Errors
    ///
    /// The first field that breaks a rule, as [`BuildError::Invalid`] naming
    /// `fleet.breaker.<field>`.
    pub fn validate(&self, backend_timeout: Duration) -> Result<(), BuildError> {
        self.check_keys()?;
        if self.quorum == 0 {
            return Err(BuildError::invalid("fleet.breaker.quorum", "must be at least 1", self.quorum));
        }
        within("fleet.breaker.vote_window", self.vote_window, Duration::from_millis(1))?;
        if self.sync_every <= backend_timeout || self.sync_every > self.vote_window {
            return Err(BuildError::invalid_debug(
                "fleet.breaker.sync_every",
                "must be longer than `fleet.backend_timeout` and at most `fleet.breaker.vote_window`",
                self.sync_every,
            ));
        }
        within("fleet.breaker.probe_ttl", self.probe_ttl, self.sync_every).map_err(|_| {
            BuildError::invalid_debug(
                "fleet.breaker.probe_ttl",
                "must be `fleet.breaker.sync_every` to 1 day",
                self.probe_ttl,
            )
        })
    }

    fn check_keys(&self) -> Result<(), BuildError> {
        if self.keys.is_empty() {
            return Err(BuildError::invalid("fleet.breaker.keys", "must name at least one breaker", "[]"));
        }
        for (index, key) in self.keys.iter().enumerate() {
            if key.is_empty() || key.chars().count() > 128 {
                return Err(BuildError::invalid_debug(
                    "fleet.breaker.keys",
                    "must be 1 to 128 characters each",
                    key,
                ));
            }
            if self.keys[..index].contains(key) {
                return Err(BuildError::invalid_debug("fleet.breaker.keys", "must not repeat a key", key));
            }
        }
        Ok(())
    }
}

/// `value` between `least` and a day.
fn within(field: &'static str, value: Duration, least: Duration) -> Result<(), BuildError> {
    if value < least || value > MAX_SPAN {
        return Err(BuildError::invalid_debug(field, "must be 1 ms to 1 day", value));
    }
    Ok(())
}

crate::config::setters!(FleetBreakerConfig {
    keys: Vec<String>,
    quorum: u32,
    vote_window: Duration,
    sync_every: Duration,
    probe_ttl: Duration,
});

#[cfg(feature = "serde")]
crate::config::map_only!(FleetBreakerConfig);

//! [`FleetConfig`]: one resource capped across the fleet, and what to do when the backend is down.

use std::time::Duration;

use super::FleetBreakerConfig;
use crate::BuildError;
use crate::config::check_duration;
#[cfg(feature = "serde")]
use crate::config::duration_text;

/// What a call does when the fleet backend cannot be asked (unreachable, or slower than
/// `backend_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum OnBackendDown {
    /// Refuse the call with [`Rejection::FleetUnavailable`](crate::Rejection::FleetUnavailable):
    /// the cap is never exceeded, and nothing runs while the backend is down. A running call
    /// whose renewals fail for one lease TTL ends with [`Error::LeaseLost`](crate::Error::LeaseLost)
    /// then, as its lease may have expired in the backend.
    FailClosed,
    /// Run at most `cap / live instances` calls in this process (rounded down), the number of
    /// live instances being the last the backend told (each governor's heartbeat keeps it); refuse the rest, and refuse every call
    /// if the backend never answered yet. The fleet stays near its cap if no instance joins
    /// while the backend is down.
    #[default]
    LocalShare,
    /// Run the call without a lease: the cap is not enforced while the backend is down.
    FailOpen,
}

/// One resource whose concurrent use is capped across every process of the service (the
/// fleet), through a [`FleetBackend`](super::FleetBackend).
///
/// # Default
///
/// | field | default |
/// |---|---|
/// | `resource` | none: must be set |
/// | `cap` | 1 |
/// | `lease_ttl` | 10 s |
/// | `backend_timeout` | 250 ms |
/// | `on_backend_down` | `local_share` |
/// | `breaker` | `None`: every breaker local |
/// | `share_ports` | `true` |
/// | `host` | `None`: this machine's host name |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use bursar::fleet::{FleetConfig, OnBackendDown};
///
/// let browsers = FleetConfig::new("browsers", 40)
///     .lease_ttl(Duration::from_secs(15))
///     .on_backend_down(OnBackendDown::FailClosed);
/// assert!(browsers.validate().is_ok());
///
/// let refused = FleetConfig::new("browsers", 0).validate().unwrap_err();
/// assert_eq!(refused.field(), Some("fleet.cap"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(remote = "Self", default, deny_unknown_fields))]
#[non_exhaustive]
pub struct FleetConfig {
    /// The resource's name, shared by every process that caps it: 1 to 128 characters, none
    /// of them `{`, `}` or whitespace (the Redis backend puts it in its keys' hash tag).
    pub resource: String,
    /// At most this many calls hold a lease on the resource at once, fleet-wide (at least 1).
    pub cap: u32,
    /// A lease lives this long unless renewed; a running call renews it every third of it,
    /// so a process that dies frees its leases within one TTL. At least 300 ms, at most 1 day.
    #[cfg_attr(feature = "serde", serde(with = "duration_text::required"))]
    pub lease_ttl: Duration,
    /// Each backend operation is given up after this long and counts as the backend being
    /// down. At least 1 ms, and less than a third of `lease_ttl` so that a renewal ends before
    /// the next one is due.
    #[cfg_attr(feature = "serde", serde(with = "duration_text::required"))]
    pub backend_timeout: Duration,
    /// What a call does when the backend cannot be asked.
    pub on_backend_down: OnBackendDown,
    /// Circuit breakers shared by the fleet: `None` (the default) keeps every breaker local.
    pub breaker: Option<FleetBreakerConfig>,
    /// Whether the governor's port leases ([`Governor::ports`](crate::Governor::ports), and so
    /// its pools' connections) are claimed in the port plan of `host`, shared by every
    /// instance of the resource on that host, so that two processes on one machine never lease
    /// the same port. See [`PortAllocator::lease`](crate::ports::PortAllocator::lease).
    pub share_ports: bool,
    /// The host whose port plan the governor's ports are claimed in: `None` (the default) for
    /// this machine's host name, as the operating system tells it. Set it where processes on
    /// one machine see different names (containers with their own UTS namespace, sharing the
    /// host's network). 1 to 128 characters, none of them `{`, `}` or whitespace.
    pub host: Option<String>,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            resource: String::new(),
            cap: 1,
            lease_ttl: Duration::from_secs(10),
            backend_timeout: Duration::from_millis(250),
            on_backend_down: OnBackendDown::LocalShare,
            breaker: None,
            share_ports: true,
            host: None,
        }
    }
}

/// A name that goes into the Redis backend's keys, within their hash tag or after it.
fn check_name(field: &'static str, name: &str) -> Result<(), BuildError> {
    if name.is_empty() || name.chars().count() > 128 {
        return Err(BuildError::invalid_debug(field, "must be 1 to 128 characters", name));
    }
    if name.chars().any(|c| c == '{' || c == '}' || c.is_whitespace()) {
        return Err(BuildError::invalid_debug(field, "must not contain `{`, `}` or whitespace", name));
    }
    Ok(())
}

/// The shortest lease: three renewals a TTL must each fit a round trip and its time limit.
const MIN_TTL: Duration = Duration::from_millis(300);
/// The longest lease: a dead process's leases come back within it.
const MAX_TTL: Duration = Duration::from_secs(24 * 60 * 60);

impl FleetConfig {
    /// A resource named `resource` capped at `cap` leases, the other fields their defaults.
    pub fn new(resource: impl Into<String>, cap: u32) -> Self {
        FleetConfig { resource: resource.into(), cap, ..FleetConfig::default() }
    }

    /// Checks every rule of the fleet section.
    ///
    /// # Errors
    ///
    /// The first field that breaks a rule, as [`BuildError::Invalid`] naming `fleet.<field>`.
    pub fn validate(&self) -> Result<(), BuildError> {
        let name = &self.resource;
        check_name("fleet.resource", name)?;
        if let Some(host) = &self.host {
            check_name("fleet.host", host)?;
        }
        if self.cap == 0 {
            return Err(BuildError::invalid("fleet.cap", "must be at least 1", self.cap));
        }
        if self.lease_ttl < MIN_TTL || self.lease_ttl > MAX_TTL {
            return Err(BuildError::invalid_debug(
                "fleet.lease_ttl",
                "must be 300 ms to 1 day",
                self.lease_ttl,
            ));
        }
        check_duration("fleet.backend_timeout", self.backend_timeout)?;
        if self.backend_timeout >= self.renew_every() {
            return Err(BuildError::invalid_debug(
                "fleet.backend_timeout",
                "must be less than a third of `fleet.lease_ttl`",
                self.backend_timeout,
            ));
        }
        match &self.breaker {
            Some(breaker) => breaker.validate(self.backend_timeout),
            None => Ok(()),
        }
    }

    /// The host whose port plan this governor's ports are claimed in.
    pub(crate) fn host_name(&self) -> String {
        self.host.clone().unwrap_or_else(crate::system::host_name)
    }

    /// How often a running call renews its lease: a third of the TTL.
    pub(crate) fn renew_every(&self) -> Duration {
        self.lease_ttl / 3
    }
}

crate::config::setters!(FleetConfig {
    resource: String,
    cap: u32,
    lease_ttl: Duration,
    backend_timeout: Duration,
    on_backend_down: OnBackendDown,
    share_ports: bool,
} into {
    breaker: Option<FleetBreakerConfig>,
    host: Option<String>,
});

#[cfg(feature = "serde")]
crate::config::map_only!(FleetConfig);

//! The pool part of the configuration: its caps, its clocks, and the ports every connection
//! is created with.

use std::time::Duration;

use crate::BuildError;
use crate::config::{check_count, check_duration};

/// How a [`Pool`](super::Pool) sizes, ages and watches its connections.
///
/// # Default
///
/// | field | default |
/// |---|---|
/// | `max_total` | 20 |
/// | `max_per_key` | 5 |
/// | `checkout_timeout` | 30 s |
/// | `idle_timeout` | 5 min |
/// | `max_lifetime` | 1 h |
/// | `lifetime_jitter` | 0.1: each connection's lifetime is cut by a random 0–10 % |
/// | `reap_interval` | 30 s |
/// | `leak_threshold` | 10 min |
/// | `destroy_timeout` | 1 min |
/// | `ports` | none |
/// | `max_uses` | none: a connection serves any number of leases |
/// | `max_rss` | none: memory is not watched |
/// | `min_idle` | 0 |
/// | `min_idle_per_key` | 0 |
/// | `max_concurrent_creates` | 4 |
/// | `create_cost` | none: a create reserves no memory |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use bursar::pool::PoolConfig;
///
/// let config = PoolConfig::default().ports(["vnc", "ws"]).idle_timeout(Duration::from_secs(120));
/// assert!(config.validate().is_ok());
///
/// // The same, field by field:
/// let mut assigned = PoolConfig::default();
/// assigned.ports = vec!["vnc".into(), "ws".into()];
/// assigned.idle_timeout = Duration::from_secs(120);
/// assert_eq!(config, assigned);
///
/// let mut config = config;
///
/// config.lifetime_jitter = 1.5;
/// let error = config.validate().unwrap_err();
/// assert_eq!(error.field(), Some("pool.lifetime_jitter"));
/// assert_eq!(error.to_string(), "invalid configuration: `pool.lifetime_jitter` must be at least 0 and below 1 (got 1.5)");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(remote = "Self", default, deny_unknown_fields))]
#[non_exhaustive]
pub struct PoolConfig {
    /// The most connections that exist at once, over every key: idle, leased, being created
    /// or being destroyed.
    pub max_total: usize,
    /// The most connections that exist at once for one key (above `max_total` it never binds).
    pub max_per_key: usize,
    /// The longest a `get` takes — waiting, creating and checking included — before it
    /// fails with `PoolError::Timeout`. At least 1 ms, tokio's timer resolution.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::required"))]
    pub checkout_timeout: Duration,
    /// An idle connection unused this long is destroyed, but for those a warm key keeps (see
    /// `min_idle` and `min_idle_per_key`). At least 1 ms, tokio's timer resolution.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::required"))]
    pub idle_timeout: Duration,
    /// A connection this old is destroyed when it is next idle (less its jitter).
    /// At least 1 ms, tokio's timer resolution.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::required"))]
    pub max_lifetime: Duration,
    /// Each connection's lifetime is `max_lifetime` cut by a random fraction up to this
    /// (0 to below 1), so connections made together do not all expire together.
    pub lifetime_jitter: f64,
    /// How often the reaper looks for expired idle connections and leaked leases.
    /// At least 1 ms, tokio's timer resolution.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::required"))]
    pub reap_interval: Duration,
    /// A lease held this long is reported once as a leak, with where it was taken.
    /// At least 1 ms, tokio's timer resolution.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::required"))]
    pub leak_threshold: Duration,
    /// The longest a `Manager::destroy` may take: one that has not returned by then is
    /// dropped, counted as hung (`status().callbacks.hangs["manager_destroy"]`, a `WARN`
    /// event), and the connection's ports and place are freed all the same, so a browser that
    /// never quits neither shrinks the pool for good nor holds `close` for ever. At least
    /// 1 ms, tokio's timer resolution.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::required"))]
    pub destroy_timeout: Duration,
    /// The port ranges each connection leases one port from, in this order, e.g.
    /// `["vnc", "ws"]`. Needs a port allocator that has these ranges.
    ///
    /// Empty by default, also for a pool started with [`Governor::pool`](crate::Governor::pool)
    /// although the governor's allocator has the `"vnc"` and `"ws"` ranges: a pool leases only
    /// the ranges it names. A database pool must not take browser ports, and every range
    /// named is a cap on the pool (100 ports are at most 100 connections). Name them:
    /// `gov.pool_config().ports(["vnc", "ws"])`.
    pub ports: Vec<String>,
    /// A connection is destroyed when it comes back from its `max_uses`th lease (counted as
    /// `recycled`), so a browser that grows with every page is replaced before it bloats.
    /// At least 1; `None` never recycles.
    pub max_uses: Option<u64>,
    /// The most resident memory, in bytes, of one connection's whole process group — the
    /// group [`Manager::process_group`](super::Manager::process_group) names, read from `/proc`
    /// every `reap_interval` (Linux; elsewhere nothing is read). A connection over it is
    /// destroyed at once if idle, and when it comes back if leased (counted as
    /// `retired_for_memory`). At least 1; `None` reads no memory.
    pub max_rss: Option<u64>,
    /// Idle connections kept ready over every key named by [`Pool::warm`](super::Pool::warm),
    /// created in the background within the caps (a warm connection never evicts another).
    /// The idle timeout leaves each warm key its even share of it.
    pub min_idle: usize,
    /// Idle connections kept ready for each key named by [`Pool::warm`](super::Pool::warm).
    /// The idle timeout does not reap a warm key's connections below it.
    pub min_idle_per_key: usize,
    /// The most `Manager::create` calls that run at once, so a burst of new sessions queues
    /// (within the checkout timeout) instead of launching every browser together. At least 1.
    pub max_concurrent_creates: usize,
    /// The memory, in bytes, one `Manager::create` is expected to take (a browser: 100–300 MB).
    /// A create waits for its turn, then reserves this much from the governor's memory-aware
    /// admission (`health.memory_floor`) until `create` returns, waiting — within the checkout
    /// timeout — while the available memory would fall below the floor; a cost more than the
    /// machine's memory less the floor fails the `get` at once
    /// ([`PoolError::CreateCostTooHigh`](super::PoolError::CreateCostTooHigh)). Only pools started with
    /// [`Governor::pool`](crate::Governor::pool) have a governor to reserve from. At least 1;
    /// `None` reserves nothing.
    pub create_cost: Option<u64>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_total: 20,
            max_per_key: 5,
            checkout_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(5 * 60),
            max_lifetime: Duration::from_secs(60 * 60),
            lifetime_jitter: 0.1,
            reap_interval: Duration::from_secs(30),
            leak_threshold: Duration::from_secs(10 * 60),
            destroy_timeout: Duration::from_secs(60),
            ports: Vec::new(),
            max_uses: None,
            max_rss: None,
            min_idle: 0,
            min_idle_per_key: 0,
            max_concurrent_creates: 4,
            create_cost: None,
        }
    }
}

impl PoolConfig {
    /// Checks every rule of the pool configuration that needs nothing but the configuration
    /// (whether the port ranges exist is checked by
    /// [`PoolBuilder::build`](super::PoolBuilder::build)).
    ///
    /// # Errors
    ///
    /// The first field that breaks a rule, as [`BuildError::Invalid`].
    pub fn validate(&self) -> Result<(), BuildError> {
        check_count("pool.max_total", self.max_total)?;
        check_count("pool.max_per_key", self.max_per_key)?;
        check_duration("pool.checkout_timeout", self.checkout_timeout)?;
        check_duration("pool.idle_timeout", self.idle_timeout)?;
        check_duration("pool.max_lifetime", self.max_lifetime)?;
        check_duration("pool.reap_interval", self.reap_interval)?;
        check_duration("pool.leak_threshold", self.leak_threshold)?;
        check_duration("pool.destroy_timeout", self.destroy_timeout)?;
        check_count("pool.max_concurrent_creates", self.max_concurrent_creates)?;
        let limits = [
            ("pool.max_uses", self.max_uses),
            ("pool.max_rss", self.max_rss),
            ("pool.create_cost", self.create_cost),
        ];
        for (field, limit) in limits {
            if limit == Some(0) {
                return Err(BuildError::invalid(field, "must be at least 1", 0));
            }
        }
        if self.min_idle > self.max_total {
            return Err(BuildError::invalid(
                "pool.min_idle",
                "must be at most `pool.max_total`",
                self.min_idle,
            ));
        }
        if self.min_idle_per_key > self.max_per_key.min(self.max_total) {
            let rule = "must be at most `pool.max_per_key` and `pool.max_total`";
            return Err(BuildError::invalid("pool.min_idle_per_key", rule, self.min_idle_per_key));
        }
        if !(0.0..1.0).contains(&self.lifetime_jitter) {
            return Err(BuildError::invalid(
                "pool.lifetime_jitter",
                "must be at least 0 and below 1",
                self.lifetime_jitter,
            ));
        }
        match self.ports.iter().position(String::is_empty) {
            Some(index) => Err(BuildError::invalid(
                "pool.ports",
                "must each name a port range",
                format!("[{index}] \"\""),
            )),
            None => Ok(()),
        }
    }
}

crate::config::setters!(PoolConfig {
    max_total: usize,
    max_per_key: usize,
    checkout_timeout: Duration,
    idle_timeout: Duration,
    max_lifetime: Duration,
    lifetime_jitter: f64,
    reap_interval: Duration,
    leak_threshold: Duration,
    destroy_timeout: Duration,
    min_idle: usize,
    min_idle_per_key: usize,
    max_concurrent_creates: usize,
}
into {
    max_uses: Option<u64>,
    max_rss: Option<u64>,
    create_cost: Option<u64>,
});

impl PoolConfig {
    /// Returns the configuration with [`ports`](#structfield.ports) set to these range names,
    /// in order: the fluent form of assigning the field, e.g. `.ports(["vnc", "ws"])`.
    pub fn ports<I>(mut self, ports: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.ports = ports.into_iter().map(Into::into).collect();
        self
    }
}

#[cfg(feature = "serde")]
crate::config::map_only!(PoolConfig);

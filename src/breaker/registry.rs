//! [`BreakerRegistry`]: one breaker per key — per host, per tenant, per browser session —
//! created on first use from a shared configuration and kept within a hard cap.

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::time::Instant;

use super::circuit_breaker::CircuitBreaker;
use super::config::BreakerConfig;
use super::eviction::Entries;
use super::notify::Callback;
use super::status::BreakerStatus;
use super::transition::Transition;
use crate::BuildError;
use crate::contain::Containment;

type CallbackFactory<K> = Box<dyn Fn(&K) -> Callback + Send + Sync>;

/// Keyed circuit breakers, at most [`max_keys`](BreakerConfig::max_keys) of them.
///
/// [`get`](Self::get) returns the key's breaker, creating it closed if the key is new. When a
/// new key would pass the cap, one breaker is evicted first, so [`len`](Self::len) never
/// exceeds it — a million distinct keys leave at most `max_keys` breakers behind.
///
/// # Eviction
///
/// The victim is the least recently used *idle* breaker among the 16 least recently used,
/// where idle means no one but the registry holds it (no call in flight, no caller keeping its
/// `Arc`) and it is closed, or open with its wait already over. Busy breakers looked at on the
/// way — open ones still waiting, half-open, forced open, disabled, or in use — are moved to
/// the recently used end, so an open breaker keeps rejecting while keys churn around it. If
/// none of the 16 is idle, the least recently used is evicted anyway: the cap is hard. A
/// breaker a governor's keyed call found without asking the registry (each thread remembers its
/// last key) counts as used since the registry last looked, and goes to the recent end; the
/// breaker of a thread's last key is held by that thread, so it counts as in use until the
/// thread's keyed calls move to another key (or the cap forces it out). An
/// evicted breaker's counts are forgotten; a caller still holding it keeps a working but
/// unregistered breaker, and the next `get` of its key starts a fresh one.
///
/// # Complexity
///
/// One lock around a hash map and a least-recently-used list in a slab: `get` is one hash
/// lookup and O(1) list work, plus at most 16 steps (each one uncontended breaker lock) when
/// it evicts. Memory is bounded by `max_keys` breakers, plus, in a governor, the last key's
/// breaker of each thread that made keyed calls (an evicted one stays with its thread until
/// that thread's next keyed call).
///
/// # Examples
///
/// ```
/// use bursar::breaker::{BreakerConfig, BreakerRegistry, BreakerState};
///
/// let mut config = BreakerConfig::default();
/// config.failure_threshold = 1;
/// let registry = BreakerRegistry::new(&config)?;
/// let permit = registry.get(&"api.example.com").try_acquire_owned().expect("closed");
/// permit.failure();
/// assert_eq!(registry.get(&"api.example.com").state(), BreakerState::Open);
/// assert_eq!(registry.get(&"cdn.example.com").state(), BreakerState::Closed);
/// assert_eq!(registry.len(), 2);
/// # Ok::<(), bursar::BuildError>(())
/// ```
pub struct BreakerRegistry<K> {
    config: BreakerConfig,
    on_transition: Option<CallbackFactory<K>>,
    /// Where the breakers' callback panics are counted besides each breaker.
    containment: Option<Arc<Containment>>,
    entries: Mutex<Entries<K>>,
    /// Breakers evicted so far: a breaker found outside the registry is still its key's while
    /// this has not moved.
    evictions: AtomicU64,
}

impl<K: Hash + Eq + Clone> BreakerRegistry<K> {
    /// An empty registry whose breakers follow `config`.
    ///
    /// # Errors
    ///
    /// [`BuildError::Invalid`] naming the first field of `config` that breaks a rule.
    pub fn new(config: &BreakerConfig) -> Result<Self, BuildError> {
        config.validate()?;
        let entries = Mutex::new(Entries::new());
        Ok(BreakerRegistry {
            config: config.clone(),
            on_transition: None,
            containment: None,
            entries,
            evictions: AtomicU64::new(0),
        })
    }

    /// Counts the callback panics of every breaker it creates in `containment`.
    pub(crate) fn contained_by(mut self, containment: Arc<Containment>) -> Self {
        self.containment = Some(containment);
        self
    }

    /// Calls `callback` with the key and each transition of every breaker the registry
    /// creates, as [`CircuitBreaker::with_on_transition`] does; a panic in it is caught and
    /// counted in that breaker's [`callback_panics`](CircuitBreaker::callback_panics).
    #[must_use]
    pub fn with_on_transition(mut self, callback: impl Fn(&K, &Transition) + Send + Sync + 'static) -> Self
    where
        K: Send + Sync + 'static,
    {
        let callback = Arc::new(callback);
        self.on_transition = Some(Box::new(move |key: &K| {
            let (callback, key) = (Arc::clone(&callback), key.clone());
            Box::new(move |transition: &Transition| callback(&key, transition))
        }));
        self
    }

    /// The breaker of `key`, created closed if there is none; marks it most recently used.
    /// The clock is read only if a breaker has to be evicted (to tell whether an open
    /// breaker's wait is over). `key` may be any borrowed form of the key type, e.g. a `&str`
    /// for a registry of `String`s: it is copied only when a new breaker is made.
    pub fn get<Q>(&self, key: &Q) -> Arc<CircuitBreaker>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.get_with(key, Instant::now)
    }

    /// [`get`](Self::get) at `now` instead of the clock's reading, for tests.
    pub fn get_at<Q>(&self, key: &Q, now: Instant) -> Arc<CircuitBreaker>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.get_with(key, || now)
    }

    fn get_with<Q>(&self, key: &Q, now: impl FnOnce() -> Instant) -> Arc<CircuitBreaker>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut entries = self.entries.lock();
        if let Some(breaker) = entries.touch(key) {
            return breaker;
        }
        if entries.len() >= self.config.max_keys {
            entries.evict_one(now());
            // Release: a reader that sees the new count sees the breaker gone.
            self.evictions.fetch_add(1, Ordering::Release);
        }
        let key = key.to_owned();
        let breaker = Arc::new(self.create(&key));
        entries.insert(key, Arc::clone(&breaker));
        breaker
    }

    /// How many breakers have been evicted to make room for new keys.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Acquire)
    }

    /// How many breakers the registry holds (at most `max_keys`).
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Whether the registry holds no breaker.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cap on the number of breakers.
    pub fn max_keys(&self) -> usize {
        self.config.max_keys
    }

    /// Every key with its breaker's status, the most recently used first. Taken without
    /// holding the registry's lock while the breakers are read.
    pub fn status(&self) -> Vec<(K, BreakerStatus)> {
        self.status_at(Instant::now())
    }

    /// [`status`](Self::status) at `now`, for tests.
    pub fn status_at(&self, now: Instant) -> Vec<(K, BreakerStatus)> {
        let breakers = self.entries.lock().newest_first();
        breakers.into_iter().map(|(key, breaker)| (key, breaker.status_at(now))).collect()
    }

    fn create(&self, key: &K) -> CircuitBreaker {
        let mut breaker = CircuitBreaker::from_valid(&self.config);
        if let Some(containment) = &self.containment {
            breaker = breaker.contained_by(Arc::clone(containment));
        }
        match &self.on_transition {
            Some(make_callback) => breaker.with_boxed_callback(make_callback(key)),
            None => breaker,
        }
    }
}

impl<K> fmt::Debug for BreakerRegistry<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerRegistry")
            .field("len", &self.entries.lock().len())
            .field("max_keys", &self.config.max_keys)
            .finish_non_exhaustive()
    }
}

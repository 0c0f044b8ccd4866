//! The registry's bookkeeping — a hash map from key to slab index and a least-recently-used
//! list — and its eviction policy, documented on [`BreakerRegistry`](super::BreakerRegistry).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::circuit_breaker::CircuitBreaker;
use super::lru::Lru;

/// How many of the least recently used breakers an eviction looks at for an idle one.
const EVICTION_LOOKAHEAD: usize = 16;

pub(crate) struct Entries<K> {
    index_of: HashMap<K, usize, foldhash::fast::RandomState>,
    order: Lru<K, Arc<CircuitBreaker>>,
}

impl<K> Entries<K> {
    pub(crate) fn new() -> Self {
        Entries { index_of: HashMap::default(), order: Lru::new() }
    }

    pub(crate) fn len(&self) -> usize {
        self.index_of.len()
    }
}

impl<K: Hash + Eq + Clone> Entries<K> {
    /// The breaker of `key`, if there is one, marked most recently used.
    pub(crate) fn touch<Q>(&mut self, key: &Q) -> Option<Arc<CircuitBreaker>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let index = *self.index_of.get(key)?;
        self.order.touch(index);
        self.order.entry(index).map(|(_, breaker)| Arc::clone(breaker))
    }

    /// Adds `key`, which must be new, as the most recently used.
    pub(crate) fn insert(&mut self, key: K, breaker: Arc<CircuitBreaker>) {
        let index = self.order.push(key.clone(), breaker);
        self.index_of.insert(key, index);
    }

    /// Every key and breaker, the most recently used first.
    pub(crate) fn newest_first(&self) -> Vec<(K, Arc<CircuitBreaker>)> {
        let order = &self.order;
        let pairs = order.oldest_first().filter_map(|index| order.entry(index));
        let mut pairs: Vec<_> = pairs.map(|(key, breaker)| (key.clone(), Arc::clone(breaker))).collect();
        pairs.reverse();
        pairs
    }

    /// Evicts one breaker: the oldest idle one of the [`EVICTION_LOOKAHEAD`] oldest, the busy
    /// ones before it getting a second chance at the recently used end; if none is idle, the
    /// oldest.
    pub(crate) fn evict_one(&mut self, now: Instant) {
        let order = &self.order;
        let is_idle = |index: usize| {
            let breaker = order.entry(index).map(|(_, breaker)| breaker);
            // A breaker held only here is idle, unless it was used without the registry (a
            // thread's memory of its last key, `CircuitBreaker::used_unseen`): that use, seen
            // now, buys it one more pass. A use that upgrades such a memory after this look is
            // safe too: the eviction count it read is stale once this eviction counts.
            breaker.is_some_and(|breaker| {
                Arc::strong_count(breaker) == 1
                    && !breaker.used_unseen.swap(false, Ordering::Relaxed)
                    && breaker.engine.is_idle(now)
            })
        };
        let busy_before_idle = order.oldest_first().take(EVICTION_LOOKAHEAD).position(is_idle).unwrap_or(0);
        // The busy ones are the oldest: each touch sends the current oldest to the recent end.
        for _ in 0..busy_before_idle {
            if let Some(oldest) = self.order.oldest() {
                self.order.touch(oldest);
            }
        }
        let Some(victim) = self.order.oldest() else { return };
        if let Some((key, _)) = self.order.remove(victim) {
            self.index_of.remove(&key);
        }
    }
}

//! Keyed breakers: created on demand, never more than `max_keys`, idle ones evicted least
//! recently used first while recently used, open and held breakers stay.

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::support::{at, fail_times};
use crate::breaker::{BreakerConfig, BreakerRegistry, BreakerState, CircuitBreaker, Transition};

fn registry<K: std::hash::Hash + Eq + Clone>(max_keys: usize) -> BreakerRegistry<K> {
    let config = BreakerConfig { max_keys, failure_threshold: 1, ..BreakerConfig::default() };
    BreakerRegistry::new(&config).expect("a valid test configuration")
}

#[test]
fn a_million_distinct_keys_never_hold_more_than_the_cap() {
    let registry = registry::<u64>(1000);
    let now = Instant::now();
    for batch in 0..1000u64 {
        for key in batch * 1000..(batch + 1) * 1000 {
            drop(registry.get_at(&key, now));
        }
        assert!(registry.len() <= 1000, "{} breakers after batch {batch}", registry.len());
    }
    assert_eq!(registry.len(), 1000);
    let newest_first: Vec<u64> = (999_000..1_000_000).rev().collect();
    assert_eq!(keys(&registry, now), newest_first, "the last thousand");
}

#[test]
fn a_recently_used_key_survives_eviction() {
    let registry = registry::<String>(1000);
    let now = Instant::now();
    let hot = registry.get_at(&"hot".to_owned(), now);
    for key in 0..100_000 {
        drop(registry.get_at(&key.to_string(), now));
        if key % 500 == 0 {
            drop(registry.get_at(&"hot".to_owned(), now));
        }
    }
    assert!(Arc::ptr_eq(&hot, &registry.get_at(&"hot".to_owned(), now)));
    assert_eq!(registry.len(), 1000);
}

#[test]
fn an_open_breaker_outlives_the_churn_of_idle_keys() {
    let registry = registry::<u32>(100);
    let now = Instant::now();
    fail_times(&registry.get_at(&0, now), now, 1);
    for key in 1..10_000 {
        drop(registry.get_at(&key, now));
    }
    assert_eq!(registry.get_at(&0, now).state(), BreakerState::Open);
    assert_eq!(registry.len(), 100);
}

#[test]
fn an_open_breaker_is_kept_until_its_wait_is_over() {
    let registry = registry::<&str>(2);
    let start = Instant::now();
    fail_times(&registry.get_at(&"down", start), start, 1);
    drop(registry.get_at(&"a", at(start, 119)));
    drop(registry.get_at(&"b", at(start, 119)));
    assert_eq!(keys(&registry, at(start, 119)), ["b", "down"], "still waiting: kept, `a` went");
    drop(registry.get_at(&"c", at(start, 120)));
    assert_eq!(keys(&registry, at(start, 120)), ["c", "b"], "its wait is over: idle, and the oldest");
}

/// The registry's keys, the most recently used first.
fn keys<K: std::hash::Hash + Eq + Clone>(registry: &BreakerRegistry<K>, now: Instant) -> Vec<K> {
    registry.status_at(now).into_iter().map(|(key, _)| key).collect()
}

#[test]
fn held_breakers_are_passed_over_while_an_idle_one_is_near() {
    let registry = registry::<u32>(4);
    let now = Instant::now();
    let held: Vec<Arc<CircuitBreaker>> = (0..3).map(|key| registry.get_at(&key, now)).collect();
    drop(registry.get_at(&3, now));
    drop(registry.get_at(&4, now)); // evicts 3, the only idle one
    for (key, breaker) in held.iter().enumerate() {
        assert!(Arc::ptr_eq(breaker, &registry.get_at(&(key as u32), now)), "key {key} kept");
    }
    assert_eq!(registry.len(), 4);
}

#[test]
fn the_cap_holds_even_when_every_breaker_is_busy() {
    let registry = registry::<u32>(10);
    let now = Instant::now();
    let held: Vec<Arc<CircuitBreaker>> = (0..10).map(|key| registry.get_at(&key, now)).collect();
    let newcomer = registry.get_at(&10, now);
    assert_eq!(registry.len(), 10);
    assert!(!Arc::ptr_eq(&held[0], &registry.get_at(&0, now)), "the least recently used went");
    fail_times(&held[0], now, 1); // an evicted breaker still works for its holder
    assert_eq!(held[0].state(), BreakerState::Open);
    drop(newcomer);
}

#[test]
fn the_callback_learns_the_key() {
    let seen: Arc<Mutex<Vec<(String, BreakerState)>>> = Arc::default();
    let keep = Arc::clone(&seen);
    let registry = registry::<String>(10).with_on_transition(move |key: &String, transition: &Transition| {
        keep.lock().push((key.clone(), transition.to))
    });
    let now = Instant::now();
    fail_times(&registry.get_at(&"db".to_owned(), now), now, 1);
    registry.get_at(&"db".to_owned(), now).reset_at(now);
    assert_eq!(
        *seen.lock(),
        [("db".to_owned(), BreakerState::Open), ("db".to_owned(), BreakerState::Closed)]
    );
}

#[test]
fn the_public_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CircuitBreaker>();
    assert_send_sync::<BreakerRegistry<String>>();
    assert_send_sync::<crate::breaker::Permit<'static>>();
    assert_send_sync::<crate::breaker::OwnedPermit>();
    assert_send_sync::<crate::breaker::NotPermitted>();
    assert_send_sync::<crate::breaker::CallError<std::io::Error>>();
    assert_send_sync::<crate::breaker::BreakerStatus>();
    assert_send_sync::<Transition>();
}

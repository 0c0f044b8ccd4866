//! Every field of the status, exact after a scripted sequence.

use std::time::Duration;

use super::support::{Behaviour, Step, config, pool, settle};
use crate::pool::{AllPoolsStatus, Lease, PoolError, PoolStatus};

#[tokio::test(start_paused = true)]
async fn every_field_is_exact_after_a_scripted_sequence() {
    let mut config = config(4, 2);
    config.checkout_timeout = Duration::from_secs(1);
    let (pool, probe) = pool(config);
    assert_eq!(pool.status(), empty());

    // Key 1 at its cap, key 2 with one lease, and a get for key 1 waiting.
    let (a1, a2, b1) = (pool.get(1).await.unwrap(), pool.get(1).await.unwrap(), pool.get(2).await.unwrap());
    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get(1).await.map(|lease| lease.id) }
    });
    settle().await;
    let stats = pool.status();
    assert_eq!((stats.connections, stats.sessions, stats.active, stats.idle, stats.waiting), (3, 2, 3, 0, 1));
    assert_eq!((stats.created, stats.utilisation), (3, 0.75));

    drop(a1); // handed to the waiter, which returns it at once
    assert_eq!(waiter.await.unwrap().unwrap(), 1);
    let again = pool.get(1).await.unwrap();
    assert_eq!(again.id, 1, "reused");
    assert!(matches!(pool.get(1).await, Err(PoolError::Timeout { .. })), "key 1 is at its cap");
    probe.once(Step::Create, Behaviour::Error);
    assert!(matches!(pool.get(3).await, Err(PoolError::Manager(_))));
    drop((again, a2));
    Lease::discard(b1);
    settle().await;

    let expected = PoolStatus {
        max_total: 4,
        connections: 2,
        sessions: 1,
        active: 0,
        idle: 2,
        waiting: 0,
        creating: 0,
        create_waiting: 0,
        max_uses: None,
        max_rss: None,
        largest_rss: None,
        created: 3,
        destroyed: 1,
        reaped: 0,
        evicted: 0,
        check_failed: 0,
        discarded: 1,
        recycled: 0,
        retired_for_memory: 0,
        broken: 0,
        timeouts: 1,
        leaks_reported: 0,
        callback_panics: 0,
        utilisation: 0.5,
        leaks: Vec::new(),
    };
    assert_eq!(pool.status(), expected);
    let status = AllPoolsStatus {
        total_sessions: 1,
        total_active_connections: 0,
        idle: 2,
        available_capacity: 4,
        waiting: 0,
        reaped: 0,
        evicted: 0,
        check_failed: 0,
        timeouts: 1,
        leaks: 0,
        leaks_reported: 0,
    };
    assert_eq!(pool.status().summary(), status);
    assert_eq!(probe.calls(), (4, 3, 2, 1));
}

#[cfg(feature = "serde")]
#[tokio::test(start_paused = true)]
async fn stats_and_status_serialise_with_the_designs_field_names() {
    let (pool, _probe) = pool(config(4, 2));
    let _held = pool.get(1).await.unwrap();
    drop(pool.get(2).await.unwrap());
    let status = serde_json::to_value(pool.status().summary()).unwrap();
    let expected = serde_json::json!({
        "total_sessions": 2, "total_active_connections": 1, "idle": 1, "available_capacity": 3, "waiting": 0,
        "reaped": 0, "evicted": 0, "check_failed": 0, "timeouts": 0, "leaks": 0, "leaks_reported": 0
    });
    assert_eq!(status, expected);
    let stats = serde_json::to_value(pool.status()).unwrap();
    assert_eq!((stats["created"].as_u64(), stats["utilisation"].as_f64()), (Some(2), Some(0.5)));
    assert_eq!(stats["leaks"], serde_json::json!([]));
}

fn empty() -> PoolStatus {
    PoolStatus {
        max_total: 4,
        connections: 0,
        sessions: 0,
        active: 0,
        idle: 0,
        waiting: 0,
        creating: 0,
        create_waiting: 0,
        max_uses: None,
        max_rss: None,
        largest_rss: None,
        created: 0,
        destroyed: 0,
        reaped: 0,
        evicted: 0,
        check_failed: 0,
        discarded: 0,
        recycled: 0,
        retired_for_memory: 0,
        broken: 0,
        timeouts: 0,
        leaks_reported: 0,
        callback_panics: 0,
        utilisation: 0.0,
        leaks: Vec::new(),
    }
}

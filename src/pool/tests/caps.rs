//! The caps hold under heavy concurrency, and every connection created is destroyed.

use std::time::Duration;

use super::support::{Behaviour, Step, config, pool};

#[tokio::test(start_paused = true)]
async fn caps_hold_under_a_thousand_concurrent_gets_over_fifty_keys() {
    let (pool, probe) = pool(config(20, 5));
    probe.set(Step::Create, Behaviour::Slow);
    // Blocks of ten consecutive gets share a key, so each key's cap is contended as well as
    // the total; fifty keys for twenty places forces evictions throughout.
    let gets = (0..1000u32).map(|index| {
        let (pool, key) = (pool.clone(), (index / 10) % 50);
        tokio::spawn(async move {
            let lease = pool.get(key).await.expect("every get completes within the checkout timeout");
            assert_eq!(lease.key, key);
            tokio::time::sleep(Duration::from_millis(1 + u64::from(index % 7))).await;
        })
    });
    for get in gets.collect::<Vec<_>>() {
        get.await.expect("no get panics");
    }

    let stats = pool.status();
    assert_eq!((stats.active, stats.waiting, stats.timeouts), (0, 0, 0));
    let live = probe.live();
    assert_eq!((live.max_total, live.max_per_key), (20, 5), "each cap was reached, never passed");

    pool.close().await;
    let (_, created, _, destroyed) = probe.calls();
    assert_eq!(created, destroyed);
    assert_eq!(probe.live().total, 0);
    let stats = pool.status();
    assert_eq!((stats.connections, stats.idle, stats.sessions), (0, 0, 0));
    assert_eq!((stats.created, stats.destroyed), (created as u64, destroyed as u64));
    assert!(stats.evicted > 0, "fifty keys over twenty places must evict");
}

//! A full pool makes room for another key by evicting the least recently used idle
//! connection — never more than it needs, and never beyond a key's own cap.

use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::support::{Behaviour, SLOW, Step, config, pool, settle};
use crate::pool::PoolError;

#[tokio::test(start_paused = true)]
async fn a_get_for_another_key_evicts_the_least_recently_used_idle_connection_at_once() {
    let (pool, probe) = pool(config(3, 3));
    let (first, second, third) =
        (pool.get(1).await.unwrap(), pool.get(1).await.unwrap(), pool.get(1).await.unwrap());
    assert_eq!((first.id, second.id, third.id), (1, 2, 3));
    drop(second);
    sleep(Duration::from_secs(1)).await;
    drop(first);
    sleep(Duration::from_secs(1)).await;
    drop(third);

    let started = Instant::now();
    let other = pool.get(2).await.unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO, "no waiting behind idle connections of key 1");
    assert_eq!(other.id, 4);
    assert_eq!(probe.destroyed_ids(), [2], "the one idle longest");
    let stats = pool.status();
    assert_eq!((stats.evicted, stats.destroyed, stats.created), (1, 1, 4));
    assert_eq!((stats.connections, stats.idle, stats.active, stats.sessions), (3, 2, 1, 2));
}

#[tokio::test(start_paused = true)]
async fn a_key_at_its_own_cap_waits_instead_of_evicting() {
    let mut config = config(2, 1);
    config.checkout_timeout = Duration::from_secs(1);
    let (pool, probe) = pool(config);
    let held = pool.get(1).await.unwrap();
    drop(pool.get(2).await.unwrap());

    let error = pool.get(1).await.unwrap_err();
    assert!(matches!(error, PoolError::Timeout { waited } if waited == Duration::from_secs(1)));
    let stats = pool.status();
    assert_eq!((stats.evicted, stats.idle, stats.timeouts), (0, 1, 1));
    assert_eq!(probe.calls(), (2, 2, 0, 0));
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn concurrent_gets_evict_exactly_one_connection_each() {
    let (pool, probe) = pool(config(4, 4));
    let idle = [pool.get(1).await, pool.get(1).await, pool.get(1).await, pool.get(1).await];
    drop(idle);
    probe.set(Step::Destroy, Behaviour::Slow); // the evictions overlap

    let (two, three, also_two) = tokio::join!(pool.get(2), pool.get(3), pool.get(2));
    let leases = [two.unwrap(), three.unwrap(), also_two.unwrap()];
    assert_eq!(leases.each_ref().map(|lease| lease.key), [2, 3, 2]);
    let stats = pool.status();
    assert_eq!((stats.evicted, stats.destroyed, stats.idle, stats.connections), (3, 3, 1, 4));
    assert_eq!(probe.destroyed_ids(), [1, 2, 3], "least recently used first");
}

#[tokio::test(start_paused = true)]
async fn a_get_dropped_while_its_victim_is_destroyed_gives_every_place_back() {
    let (pool, probe) = pool(config(1, 1));
    drop(pool.get(1).await.unwrap());
    probe.set(Step::Destroy, Behaviour::Slow);

    let evicting = tokio::time::timeout(SLOW / 2, pool.get(2)).await;
    assert!(evicting.is_err(), "still waiting for the victim's destroy");
    assert_eq!((pool.status().evicted, pool.status().connections), (1, 1), "the victim still counts");
    sleep(SLOW).await;
    settle().await;
    let stats = pool.status();
    assert_eq!((stats.connections, stats.sessions, stats.destroyed), (0, 0, 1));
    assert_eq!(probe.live().total, 0);
    // The place is free again for anyone.
    probe.set(Step::Destroy, Behaviour::Ok);
    assert_eq!(pool.get(3).await.unwrap().id, 2);
}

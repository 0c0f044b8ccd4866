//! Connections retired before they bloat or after they broke: `max_uses`, `max_rss`,
//! `Manager::is_broken`; launch control (`max_concurrent_creates`); warm keys (`min_idle`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::support::{Behaviour, Step, config, pool, settle};
use crate::pool::governed::PoolView;
use crate::pool::{PoolConfig, PoolError};

const TICK: Duration = Duration::from_secs(30);

#[tokio::test(start_paused = true)]
async fn with_max_uses_5_fifty_leases_of_one_key_create_exactly_10_connections() {
    let (pool, probe) = pool(config(4, 4).max_uses(5));
    for _ in 0..50 {
        drop(pool.get(1).await.unwrap());
    }
    settle().await;
    let status = pool.status();
    assert_eq!((status.created, status.recycled, status.destroyed, status.idle), (10, 10, 10, 0));
    assert_eq!(
        probe.destroyed_ids(),
        (1..=10).collect::<Vec<_>>(),
        "each destroyed after its 5th lease, in turn"
    );
    assert_eq!(probe.count(&probe.checks), 40, "the other 40 leases were warm reuses, each checked");
}

#[tokio::test(start_paused = true)]
async fn a_connection_broken_while_leased_is_destroyed_on_its_return() {
    let (pool, probe) = pool(config(4, 4));
    let lease = pool.get(1).await.unwrap();
    probe.break_connection(lease.id);
    drop(lease);
    settle().await;
    let status = pool.status();
    assert_eq!((status.broken, status.destroyed, status.idle, status.connections), (1, 1, 0, 0));
    let again = pool.get(1).await.unwrap();
    assert_eq!((again.id, probe.count(&probe.checks)), (2, 0), "a new connection, nothing checked");
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_found_broken_is_replaced_without_its_check() {
    let (pool, probe) = pool(config(4, 4));
    drop(pool.get(1).await.unwrap());
    probe.break_connection(1); // its browser crashed while it rested
    let lease = pool.get(1).await.unwrap();
    assert_eq!(lease.id, 2);
    settle().await;
    let status = pool.status();
    assert_eq!((status.broken, status.check_failed, status.destroyed), (1, 0, 1));
    assert_eq!(probe.count(&probe.checks), 0, "no WebDriver call to a dead browser");
    assert_eq!(probe.count(&probe.broken_asked), 2, "asked on the return and before the reuse");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_is_broken_counts_as_broken_and_the_pool_goes_on() {
    let (pool, probe) = pool(config(4, 4));
    let lease = pool.get(1).await.unwrap();
    probe.sync_calls_panic.store(true, Ordering::SeqCst);
    drop(lease);
    settle().await;
    let status = pool.status();
    assert_eq!((status.broken, status.callback_panics, status.idle), (1, 1, 0));
    probe.sync_calls_panic.store(false, Ordering::SeqCst);
    assert_eq!(pool.get(1).await.unwrap().id, 2);
}

#[tokio::test(start_paused = true)]
async fn max_rss_destroys_idle_connections_at_the_tick_and_leased_ones_on_return() {
    let (pool, probe) = pool(config(4, 4).max_rss(100));
    let (one, two, three) =
        (pool.get(1).await.unwrap(), pool.get(2).await.unwrap(), pool.get(3).await.unwrap());
    drop((one, three));
    probe.set_memory(1, 150); // idle, over
    probe.set_memory(2, 200); // leased, over
    probe.set_memory(3, 100); // idle, at the cap: kept
    sleep(TICK - Duration::from_millis(1)).await;
    settle().await;
    assert_eq!((pool.status().retired_for_memory, pool.status().largest_rss), (0, None));

    sleep(Duration::from_millis(1)).await; // the reaper's first tick
    settle().await;
    let status = pool.status();
    assert_eq!(
        (status.retired_for_memory, status.largest_rss, status.idle, status.active),
        (1, Some(200), 1, 1)
    );
    assert_eq!(probe.destroyed_ids(), vec![1]);

    drop(two);
    settle().await;
    let status = pool.status();
    assert_eq!((status.retired_for_memory, status.destroyed, status.idle), (2, 2, 1));
    assert_eq!(probe.destroyed_ids(), vec![1, 2], "connection 3 is untouched");
    assert_eq!(pool.get(3).await.unwrap().id, 3);
}

#[tokio::test(start_paused = true)]
async fn without_max_rss_no_memory_is_read() {
    let (pool, probe) = pool(config(4, 4));
    drop(pool.get(1).await.unwrap());
    probe.set_memory(1, u64::MAX);
    sleep(TICK).await;
    settle().await;
    assert_eq!(
        (pool.status().retired_for_memory, pool.status().largest_rss, pool.status().idle),
        (0, None, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn ten_gets_at_once_create_four_at_a_time() {
    let (pool, probe) = pool(config(20, 20));
    probe.set(Step::Create, Behaviour::Slow); // each create takes 50 ms
    let pool = Arc::new(pool);
    let started = Instant::now();
    let gets: Vec<_> = (0..10)
        .map(|key| {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.get(key).await.map(|lease| (lease.id, Instant::now())) })
        })
        .collect();
    settle().await;
    let status = pool.status();
    assert_eq!((status.creating, status.create_waiting, status.connections), (4, 6, 10));
    let mut done = Vec::new();
    for get in gets {
        let (_, at) = get.await.unwrap().unwrap();
        done.push((at - started).as_millis());
    }
    done.sort_unstable();
    assert_eq!(done, [50, 50, 50, 50, 100, 100, 100, 100, 150, 150]);
    assert_eq!((pool.status().creating, pool.status().create_waiting), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_get_waiting_for_a_turn_to_create_ends_when_the_pool_closes() {
    let (pool, probe) = pool(config(20, 20).max_concurrent_creates(1));
    probe.set(Step::Create, Behaviour::Never);
    let pool = Arc::new(pool);
    let first = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move { pool.get(1).await.map(drop) }
    });
    let second = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move { pool.get(2).await.map(drop) }
    });
    settle().await;
    assert_eq!((pool.status().creating, pool.status().create_waiting), (1, 1));
    let _ = tokio::time::timeout(Duration::from_millis(1), pool.close()).await;
    assert!(matches!(second.await.unwrap(), Err(PoolError::Closed)));
    assert_eq!(probe.count(&probe.create_calls), 1, "the waiting get never created");
    first.abort();
}

#[tokio::test(start_paused = true)]
async fn a_warm_key_keeps_min_idle_per_key_ready_and_replaces_what_is_lent() {
    let (pool, probe) = pool(config(10, 5).min_idle_per_key(2));
    pool.warm(7);
    settle().await;
    assert_eq!((pool.status().idle, pool.status().created), (2, 2));

    let (a, b) = (pool.get(7).await.unwrap(), pool.get(7).await.unwrap());
    settle().await;
    assert_eq!((pool.status().idle, pool.status().active, pool.status().created), (2, 2, 4));
    assert_eq!(probe.count(&probe.checks), 2, "both gets took a warm connection");
    drop((a, b));
    settle().await;
    assert_eq!((pool.status().idle, pool.status().created), (4, 4), "more than the minimum is kept");
    pool.warm(7); // named twice is named once
    settle().await;
    assert_eq!(pool.status().created, 4);
}

#[tokio::test(start_paused = true)]
async fn min_idle_spreads_over_the_warm_keys_fewest_first() {
    let (pool, _probe) = pool(config(4, 2).min_idle(3));
    pool.warm(1);
    pool.warm(2);
    settle().await;
    let status = pool.status();
    assert_eq!((status.idle, status.created, status.sessions), (3, 3, 2));
    let (a, b) = (pool.get(1).await.unwrap(), pool.get(1).await.unwrap());
    assert_eq!((a.id, b.id), (3, 1), "key 1 got two, key 2 one");
}

#[tokio::test(start_paused = true)]
async fn a_warm_up_never_evicts_from_a_full_pool() {
    let (pool, probe) = pool(config(3, 3).min_idle_per_key(2));
    let held: Vec<_> =
        [pool.get(9).await, pool.get(9).await, pool.get(9).await].into_iter().map(Result::unwrap).collect();
    drop(held);
    pool.warm(1);
    settle().await;
    sleep(TICK).await;
    settle().await;
    let status = pool.status();
    assert_eq!((status.created, status.evicted, status.idle), (3, 0, 3));
    assert_eq!(probe.count(&probe.create_calls), 3);
}

#[tokio::test(start_paused = true)]
async fn a_failed_warm_up_waits_for_the_reapers_tick() {
    let (pool, probe) = pool(config(4, 4).min_idle_per_key(1));
    probe.set(Step::Create, Behaviour::Error);
    pool.warm(1);
    settle().await;
    sleep(TICK - Duration::from_millis(1)).await;
    settle().await;
    assert_eq!((probe.count(&probe.create_calls), pool.status().connections), (1, 0));
    probe.set(Step::Create, Behaviour::Ok);
    sleep(Duration::from_millis(1)).await;
    settle().await;
    assert_eq!((probe.count(&probe.create_calls), pool.status().idle), (2, 1));
}

/// The health monitor's emergency recovery closes every idle connection: the warm-up leaves
/// the places it frees empty until the reaper's next tick, instead of refilling them at once.
#[tokio::test(start_paused = true)]
async fn an_emergency_reap_holds_the_warm_up_until_the_reapers_tick() {
    let (pool, probe) = pool(config(10, 5).min_idle_per_key(2));
    pool.warm(7);
    settle().await;
    assert_eq!((pool.status().idle, pool.status().created), (2, 2));
    assert_eq!(PoolView::reap_all_idle(&pool), 2);
    settle().await;
    sleep(TICK - Duration::from_millis(1)).await;
    settle().await;
    let status = pool.status();
    assert_eq!((status.idle, status.created, status.reaped, status.connections), (0, 2, 2, 0));
    assert_eq!(probe.count(&probe.destroyed), 2);
    sleep(Duration::from_millis(1)).await;
    settle().await;
    assert_eq!((pool.status().idle, pool.status().created), (2, 4), "warmed again at the tick");
}

#[tokio::test(start_paused = true)]
async fn a_warm_up_cut_off_by_the_checkout_timeout_is_not_a_get_timeout() {
    let mut config = config(4, 4).min_idle_per_key(1);
    config.checkout_timeout = Duration::from_secs(3);
    let (pool, probe) = pool(config);
    probe.once(Step::Create, Behaviour::Never);
    pool.warm(1);
    sleep(Duration::from_secs(4)).await;
    settle().await;
    let status = pool.status();
    assert_eq!((status.timeouts, status.created, status.connections), (0, 0, 0));
    assert_eq!(probe.count(&probe.create_calls), 1, "the next warm-up waits for the tick");

    probe.once(Step::Create, Behaviour::Never);
    let error = pool.get(2).await.unwrap_err();
    assert!(matches!(error, PoolError::Timeout { waited } if waited == Duration::from_secs(3)));
    assert_eq!((pool.status().timeouts, probe.count(&probe.create_calls)), (1, 2), "a get's still counts");
}

#[test]
fn the_new_limits_are_validated_with_the_field_named() {
    let field = |config: PoolConfig| config.validate().unwrap_err().field();
    assert_eq!(field(config(4, 2).max_uses(0)), Some("pool.max_uses"));
    assert_eq!(field(config(4, 2).max_rss(0)), Some("pool.max_rss"));
    assert_eq!(field(config(4, 2).max_concurrent_creates(0)), Some("pool.max_concurrent_creates"));
    assert_eq!(field(config(4, 2).min_idle(5)), Some("pool.min_idle"));
    assert_eq!(field(config(4, 2).min_idle_per_key(3)), Some("pool.min_idle_per_key"));
    let error = config(4, 2).min_idle_per_key(3).validate().unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid configuration: `pool.min_idle_per_key` must be at most `pool.max_per_key` and `pool.max_total` (got 3)"
    );
    assert!(config(4, 2).min_idle(4).min_idle_per_key(2).max_uses(1).max_rss(1).validate().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_panicking_process_group_leaves_the_connection_unwatched_and_lent() {
    let (pool, probe) = pool(config(4, 4).max_rss(100));
    probe.sync_calls_panic.store(true, Ordering::SeqCst);
    let lease = pool.get(1).await.unwrap();
    probe.sync_calls_panic.store(false, Ordering::SeqCst);
    probe.set_memory(1, 1_000);
    sleep(TICK).await;
    settle().await;
    let status = pool.status();
    assert_eq!((status.callback_panics, status.largest_rss, status.active), (1, None, 1));
    drop(lease);
    settle().await;
    assert_eq!((pool.status().retired_for_memory, pool.status().idle), (0, 1), "no group, no memory read");
}

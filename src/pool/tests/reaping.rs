//! Idle connections are destroyed after the idle timeout and every connection after its
//! jittered lifetime — by the reaper on its ticks, and by `get` between them.

use std::time::Duration;

use tokio::time::sleep;

use super::support::{Fake, Probe, config, pool, settle};
use crate::pool::{Pool, PoolConfig};
use crate::retry::rng::SplitMix64;

const MINUTE: Duration = Duration::from_secs(60);

fn no_jitter(mut config: PoolConfig) -> PoolConfig {
    config.lifetime_jitter = 0.0;
    config
}

#[tokio::test(start_paused = true)]
async fn idle_connections_are_reaped_on_the_first_tick_after_the_idle_timeout() {
    let (pool, probe) = pool(no_jitter(config(4, 4)));
    let (one, two) = (pool.get(1).await.unwrap(), pool.get(2).await.unwrap());
    drop((one, two));

    sleep(5 * MINUTE - Duration::from_secs(1)).await; // ticks at 30 s, 60 s, … 270 s
    settle().await;
    assert_eq!((pool.status().reaped, pool.status().idle), (0, 2));

    sleep(Duration::from_secs(1)).await; // the tick at 300 s
    settle().await;
    let stats = pool.status();
    assert_eq!(
        (stats.reaped, stats.destroyed, stats.idle, stats.connections, stats.sessions),
        (2, 2, 0, 0, 0)
    );
    assert_eq!(probe.calls(), (2, 2, 0, 2));
}

#[tokio::test(start_paused = true)]
async fn lifetimes_are_cut_by_up_to_the_jitter_so_connections_expire_apart() {
    const SEED: u64 = 42;
    let mut config = config(10, 1);
    config.idle_timeout = 2 * 60 * MINUTE;
    let probe = std::sync::Arc::new(Probe::default());
    let builder = Pool::builder(Fake(probe.clone())).config(config).lifetime_seed(SEED);
    let pool = builder.build().unwrap();
    let mut leases = Vec::new();
    for key in 0..10 {
        leases.push(pool.get(key).await.unwrap());
    }
    drop(leases);

    let lifetimes: Vec<Duration> = (0..10)
        .map(|index| (60 * MINUTE).mul_f64(1.0 - 0.1 * SplitMix64::new(SEED + index).next_f64()))
        .collect();
    let mut reaped_at_ticks = Vec::new();
    let mut now = Duration::ZERO;
    for tick in (54 * 2)..=(60 * 2) {
        let at = Duration::from_secs(30 * tick);
        sleep(at - now).await;
        now = at;
        settle().await;
        let expected = lifetimes.iter().filter(|lifetime| **lifetime <= at).count() as u64;
        assert_eq!(pool.status().reaped, expected, "at {at:?}");
        reaped_at_ticks.push(expected);
    }
    assert_eq!(reaped_at_ticks.first(), Some(&0), "nothing expires before 90 % of the lifetime");
    assert_eq!(reaped_at_ticks.last(), Some(&10), "everything expires by the full lifetime");
    let distinct_ticks = reaped_at_ticks.windows(2).filter(|pair| pair[0] != pair[1]).count();
    assert!(distinct_ticks >= 5, "expiries spread over {distinct_ticks} ticks: {reaped_at_ticks:?}");
    assert_eq!(probe.calls().3, 10);
}

#[tokio::test(start_paused = true)]
async fn get_never_hands_out_a_connection_past_its_lifetime_between_reaper_ticks() {
    let mut config = no_jitter(config(2, 2));
    (config.reap_interval, config.max_lifetime, config.idle_timeout) =
        (60 * MINUTE, 10 * MINUTE, 60 * MINUTE);
    let (pool, probe) = pool(config);
    drop(pool.get(1).await.unwrap());
    sleep(10 * MINUTE).await;

    assert_eq!(pool.get(1).await.unwrap().id, 2);
    settle().await;
    assert_eq!(probe.calls(), (2, 2, 0, 1), "expired: destroyed without a check");
    assert_eq!((pool.status().reaped, pool.status().destroyed), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn get_never_hands_out_a_connection_past_its_idle_timeout_between_reaper_ticks() {
    let mut config = no_jitter(config(2, 2));
    (config.reap_interval, config.idle_timeout) = (60 * MINUTE, MINUTE);
    let (pool, probe) = pool(config);
    drop(pool.get(1).await.unwrap());
    sleep(MINUTE).await;

    assert_eq!(pool.get(1).await.unwrap().id, 2);
    settle().await;
    assert_eq!(probe.calls(), (2, 2, 0, 1));
    assert_eq!(pool.status().reaped, 1);
}

#[tokio::test(start_paused = true)]
async fn a_lease_returned_past_its_lifetime_is_destroyed_not_kept() {
    let mut config = no_jitter(config(2, 2));
    config.max_lifetime = 10 * MINUTE;
    let (pool, probe) = pool(config);
    let lease = pool.get(1).await.unwrap();
    sleep(10 * MINUTE).await;
    drop(lease);
    settle().await;
    let stats = pool.status();
    assert_eq!((stats.reaped, stats.destroyed, stats.idle, stats.connections), (1, 1, 0, 0));
    assert_eq!(probe.calls().3, 1);
}

#[tokio::test(start_paused = true)]
async fn the_reaper_stops_on_close() {
    let tasks = || tokio::runtime::Handle::current().metrics().num_alive_tasks();
    let before = tasks();
    let (pool, _probe) = pool(config(2, 2));
    assert_eq!(tasks(), before + 1, "the reaper");
    pool.close().await;
    settle().await;
    assert_eq!(tasks(), before);
}

#[tokio::test(start_paused = true)]
async fn the_reaper_stops_and_idle_connections_go_when_the_last_handle_is_dropped() {
    let tasks = || tokio::runtime::Handle::current().metrics().num_alive_tasks();
    let before = tasks();
    let (pool, probe) = pool(config(2, 2));
    drop(pool.get(1).await.unwrap());
    let clone = pool.clone();
    drop(pool);
    settle().await;
    assert_eq!((tasks(), probe.calls().3), (before + 1, 0), "one handle is left");

    drop(clone);
    settle().await;
    assert_eq!(tasks(), before, "the reaper is gone with the last handle");
    assert_eq!(probe.calls().3, 1, "and the idle connection was destroyed");
}

/// Idle connections time out after a minute, looked at every 30 s.
fn reaped_each_minute(mut config: PoolConfig) -> PoolConfig {
    (config.idle_timeout, config.reap_interval) = (MINUTE, Duration::from_secs(30));
    config
}

#[tokio::test(start_paused = true)]
async fn the_idle_timeout_leaves_a_warm_key_its_min_idle_per_key() {
    let (pool, probe) = pool(reaped_each_minute(config(4, 4).min_idle_per_key(2)));
    pool.warm(1);
    sleep(Duration::from_millis(1)).await;
    sleep(3 * MINUTE).await; // six ticks, the last four past both connections' idle timeout
    let stats = pool.status();
    assert_eq!((stats.reaped, stats.created), (0, 2));
    assert_eq!((stats.idle, stats.destroyed), (2, 0));
    assert_eq!(probe.calls(), (2, 2, 0, 0));

    let lease = pool.get(1).await.unwrap();
    assert_eq!((lease.id, probe.calls()), (2, (2, 2, 1, 0)), "a get takes a spared one too");
}

/// A pool kept warm by `min_idle` alone (over two warm keys) keeps it through the idle
/// timeout too: each key keeps its share.
#[tokio::test(start_paused = true)]
async fn the_idle_timeout_leaves_the_warm_keys_their_min_idle() {
    let (pool, probe) = pool(reaped_each_minute(config(4, 4).min_idle(3)));
    pool.warm(1);
    pool.warm(2);
    sleep(Duration::from_millis(1)).await;
    sleep(3 * MINUTE).await; // six ticks, the last four past every connection's idle timeout
    let stats = pool.status();
    assert_eq!((stats.reaped, stats.created, stats.idle, stats.destroyed), (0, 3, 3, 0));
    assert_eq!(probe.calls(), (3, 3, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_warm_keys_connections_over_its_minimum_or_past_their_lifetime_are_reaped() {
    let mut config = reaped_each_minute(no_jitter(config(4, 4).min_idle_per_key(1)));
    config.max_lifetime = 2 * MINUTE + Duration::from_secs(15);
    let (pool, probe) = pool(config);
    pool.warm(1);
    sleep(Duration::from_millis(1)).await;
    let (first, second) = (pool.get(1).await.unwrap(), pool.get(1).await.unwrap());
    settle().await;
    assert_eq!((first.id, second.id, pool.status().idle), (1, 2, 1), "warm-ups made 1, then 3");
    drop((first, second)); // three idle, the newest returned last

    sleep(MINUTE + Duration::from_secs(30)).await; // the ticks at 60 s and 90 s
    let stats = pool.status();
    assert_eq!((stats.reaped, stats.idle, stats.created), (2, 1, 3), "one is the minimum");
    assert_eq!(probe.destroyed_ids(), [3, 1], "the oldest returns, in order");

    sleep(Duration::from_secs(60)).await; // the tick at 150 s, past connection 2's lifetime
    let stats = pool.status();
    assert_eq!((stats.reaped, stats.idle, stats.created), (3, 1, 4), "and a warm-up replaced it");
    assert_eq!(probe.destroyed_ids(), [3, 1, 2]);
}

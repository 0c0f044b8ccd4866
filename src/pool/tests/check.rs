//! An idle connection is checked before reuse; one that fails is destroyed and replaced
//! within the same `get`.

use std::time::Duration;

use super::support::{Behaviour, FakeError, Step, config, pool, settle};
use crate::pool::PoolError;

#[tokio::test(start_paused = true)]
async fn a_connection_that_passes_its_check_is_reused() {
    let (pool, probe) = pool(config(2, 2));
    drop(pool.get(1).await.unwrap());
    let again = pool.get(1).await.unwrap();
    assert_eq!(again.id, 1);
    assert_eq!(probe.calls(), (1, 1, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_failed_check_replaces_the_connection_within_the_same_get() {
    let (pool, probe) = pool(config(1, 1)); // full: the new one must take the broken one's place
    drop(pool.get(1).await.unwrap());
    probe.once(Step::Check, Behaviour::Error);

    let replaced = pool.get(1).await.expect("a failed check is not an error of the get");
    assert_eq!(replaced.id, 2);
    settle().await;
    assert_eq!(probe.calls(), (2, 2, 1, 1));
    assert_eq!(probe.destroyed_ids(), [1]);
    let stats = pool.status();
    assert_eq!((stats.check_failed, stats.created, stats.destroyed, stats.connections), (1, 2, 1, 1));
    assert_eq!(probe.live().max_total, 1, "the replacement was created only once the broken one was gone");
}

#[tokio::test(start_paused = true)]
async fn a_failed_check_then_a_failed_create_returns_the_managers_error() {
    let (pool, probe) = pool(config(2, 2));
    drop(pool.get(1).await.unwrap());
    probe.once(Step::Check, Behaviour::Error);
    probe.once(Step::Create, Behaviour::Error);

    let error = pool.get(1).await.unwrap_err();
    assert!(matches!(error, PoolError::Manager(FakeError(Step::Create))), "{error:?}");
    settle().await;
    assert_eq!(probe.calls(), (2, 1, 1, 1));
    let stats = pool.status();
    assert_eq!((stats.connections, stats.sessions, stats.idle), (0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_connection_being_checked_is_lent_and_a_close_meanwhile_counts_it_still_leased() {
    let (pool, probe) = pool(config(2, 2));
    drop(pool.get(1).await.unwrap());
    probe.set(Step::Check, Behaviour::Slow);
    let checking = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get(1).await.map(drop) }
    });
    settle().await;
    let stats = pool.status();
    assert_eq!((stats.active, stats.idle, stats.connections, stats.sessions), (1, 0, 1, 1));

    let report = pool.close().await;
    assert_eq!((report.idle_destroyed, report.still_leased), (0, 1));
    assert!(matches!(checking.await.unwrap(), Err(PoolError::Closed)));
    settle().await;
    let stats = pool.status();
    assert_eq!((stats.active, stats.connections, stats.destroyed, stats.check_failed), (0, 0, 1, 0));
    assert_eq!(probe.calls(), (1, 1, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_check_that_hangs_past_the_leak_threshold_is_reported_and_ends_when_cut_off() {
    let mut config = config(2, 2); // leak threshold 10 min, reaper every 30 s
    config.checkout_timeout = Duration::from_secs(60 * 60);
    let (pool, probe) = pool(config);
    drop(pool.get(1).await.unwrap());
    probe.set(Step::Check, Behaviour::Never);
    let line = line!() + 3;
    let hanging = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get(1).await.map(drop) }
    });
    tokio::time::sleep(Duration::from_secs(10 * 60)).await;
    settle().await;
    let stats = pool.status();
    assert_eq!((stats.active, stats.leaks_reported), (1, 1));
    let locations: Vec<_> =
        stats.leaks.iter().map(|leak| (leak.key.as_str(), leak.location.clone())).collect();
    assert_eq!(locations, [("1", format!("{}:{line}", file!()))]);

    hanging.abort();
    settle().await;
    let stats = pool.status();
    assert_eq!((stats.active, stats.idle, stats.connections, stats.leaks.len()), (0, 0, 0, 0));
    assert_eq!((stats.destroyed, stats.check_failed, stats.discarded), (1, 0, 0));
}

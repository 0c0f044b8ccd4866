//! `close` destroys what is idle, refuses later gets, destroys leases as they come back, and
//! waits for every destroy in flight.

use std::time::Duration;

use super::support::{Behaviour, QUARANTINE, SLOW, Step, config, pool, pool_with_ports, ports, settle};
use crate::pool::PoolError;

#[tokio::test(start_paused = true)]
async fn close_destroys_idle_connections_frees_their_ports_and_refuses_later_gets() {
    let (pool, probe, allocator) = pool_with_ports(config(4, 2));
    let held = pool.get(1).await.unwrap();
    drop((pool.get(1).await.unwrap(), pool.get(2).await.unwrap()));
    assert_eq!(ports(&allocator), (6, 194, 0));

    let report = pool.close().await;
    assert_eq!((report.idle_destroyed, report.still_leased, report.elapsed), (2, 1, Duration::ZERO));
    assert_eq!(probe.calls().3, 2);
    assert_eq!(ports(&allocator), (2, 194, 4), "the idle connections' ports rest in quarantine");
    assert!(matches!(pool.get(3).await, Err(PoolError::Closed)));
    assert!(matches!(pool.get(1).await, Err(PoolError::Closed)));

    drop(held);
    settle().await;
    assert_eq!(probe.destroyed_ids().len(), 3, "a lease returned after close is destroyed");
    let stats = pool.status();
    assert_eq!((stats.connections, stats.idle, stats.active, stats.destroyed), (0, 0, 0, 3));
    tokio::time::sleep(QUARANTINE).await;
    assert_eq!(ports(&allocator), (0, 200, 0));
}

#[tokio::test(start_paused = true)]
async fn close_waits_for_slow_destroys_including_earlier_ones() {
    let (pool, probe) = pool(config(4, 4));
    let (one, two) = (pool.get(1).await.unwrap(), pool.get(1).await.unwrap());
    probe.set(Step::Destroy, Behaviour::Slow);
    crate::pool::Lease::discard(one); // its destroy is already running when close starts
    drop(two);

    let report = pool.close().await;
    assert_eq!((report.idle_destroyed, report.elapsed), (1, SLOW));
    assert_eq!((probe.calls().3, pool.status().destroyed), (2, 2));
}

#[tokio::test(start_paused = true)]
async fn close_wakes_waiting_gets_with_closed() {
    let (pool, _probe) = pool(config(1, 1));
    let _held = pool.get(1).await.unwrap();
    let waiting = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get(1).await.map(drop) }
    });
    settle().await;
    assert_eq!(pool.status().waiting, 1);

    pool.close().await;
    assert!(matches!(waiting.await.unwrap(), Err(PoolError::Closed)));
    assert_eq!(pool.status().waiting, 0);
}

#[tokio::test(start_paused = true)]
async fn a_connection_created_while_closing_is_destroyed_not_handed_out() {
    let (pool, probe) = pool(config(2, 2));
    probe.set(Step::Create, Behaviour::Slow);
    let creating = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get(1).await.map(drop) }
    });
    settle().await;
    assert_eq!(pool.close().await.idle_destroyed, 0);

    assert!(matches!(creating.await.unwrap(), Err(PoolError::Closed)));
    settle().await;
    assert_eq!(probe.calls(), (1, 1, 0, 1));
    assert_eq!(pool.status().connections, 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_handle_destroys_idle_connections_and_orphans_leases_safely() {
    let (pool, probe, allocator) = pool_with_ports(config(2, 2));
    let held = pool.get(1).await.unwrap();
    drop(pool.get(2).await.unwrap());
    drop(pool);
    settle().await;
    assert_eq!(probe.calls().3, 1, "the idle one");

    drop(held); // the pool is gone: destroyed, not returned
    settle().await;
    assert_eq!((probe.calls().3, probe.live().total), (2, 0));
    tokio::time::sleep(QUARANTINE).await;
    assert_eq!(ports(&allocator), (0, 200, 0));
}

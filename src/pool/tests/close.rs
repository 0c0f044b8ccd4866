//! `close` destroys what is idle, refuses later gets, destroys leases as they come back, and
//! waits for every destroy in flight.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::sleep;

use super::support::{
    Behaviour, Fake, Probe, QUARANTINE, SLOW, Step, config, pool, pool_with_ports, ports, settle,
};
use crate::memory::MemoryGate;
use crate::pool::{Pool, PoolConfig, PoolError};
use crate::ports::{PortAllocator, PortRange, PortsConfig};

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

#[tokio::test(start_paused = true)]
async fn a_get_resting_an_evicted_port_fails_with_closed_at_close_and_creates_nothing() {
    let ranges = vec![PortRange::new("vnc", 5900..=5900)];
    let ports = PortsConfig { ranges, quarantine: Duration::from_secs(5), host_check: false };
    let (probe, allocator) = (Arc::new(Probe::default()), Arc::new(PortAllocator::new(&ports).unwrap()));
    let mut config = config(4, 4);
    config.ports = vec!["vnc".to_owned()];
    let pool = Pool::builder(Fake(probe.clone())).config(config).ports(allocator.clone()).build().unwrap();
    drop(pool.get(1).await.unwrap());

    let getting = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get(2).await.map(drop) }
    });
    sleep(Duration::from_secs(1)).await;
    let stats = pool.status();
    assert_eq!((stats.evicted, stats.destroyed, stats.connections), (1, 1, 1), "key 2 rests the port");

    let report = pool.close().await;
    assert_eq!((report.idle_destroyed, report.still_leased, report.destroys_unfinished), (0, 0, 0));
    settle().await;
    assert!(getting.is_finished(), "the get ends at close, not when the port has rested");
    assert!(matches!(getting.await.unwrap(), Err(PoolError::Closed)));

    sleep(Duration::from_secs(10)).await;
    assert_eq!(probe.calls(), (1, 1, 0, 1), "no create after close");
    let stats = pool.status();
    assert_eq!((stats.created, stats.destroyed, stats.connections, stats.timeouts), (1, 1, 0, 0));
    let vnc = &allocator.status()["vnc"];
    assert_eq!((vnc.leased, vnc.free, vnc.quarantined), (0, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_get_waiting_for_memory_to_create_fails_with_closed_at_close() {
    const GB: u64 = 1 << 30;
    let gate = Arc::new(MemoryGate::new(Some(10.0)));
    gate.observe(Some(3 * GB), Some(10 * GB)); // 2 GB above the floor
    let probe = Arc::new(Probe::default());
    let config = PoolConfig { create_cost: Some(3 * GB), ..config(4, 4) };
    let pool = Pool::builder(Fake(probe.clone()))
        .config(config)
        .governed_by(crate::pool::FromGovernor { memory: gate.clone(), shedding: Box::new(|| false) })
        .build()
        .unwrap();

    let getting = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get(1).await.map(drop) }
    });
    sleep(Duration::from_secs(1)).await;
    assert_eq!((gate.figures().waiting, pool.status().connections), (1, 1));

    pool.close().await;
    settle().await;
    assert!(getting.is_finished(), "the get ends at close, not at its checkout timeout");
    assert!(matches!(getting.await.unwrap(), Err(PoolError::Closed)));
    sleep(Duration::from_secs(60)).await;
    assert_eq!(probe.calls(), (0, 0, 0, 0));
    let stats = pool.status();
    assert_eq!((stats.connections, stats.timeouts), (0, 0));
    assert_eq!((gate.figures().waiting, gate.figures().reserved), (0, 0));
}

//! Each connection is created with one port from each configured range, holds it while it
//! lives, and frees it only once `destroy` has returned.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::support::{
    Behaviour, Fake, Probe, QUARANTINE, SLOW, Step, allocator, config, pool_with_ports, ports, settle,
};
use crate::pool::{Lease, Pool, PoolConfig, PoolError};
use crate::ports::{PortAllocator, PortError, PortRange, PortsConfig};

#[tokio::test(start_paused = true)]
async fn each_connection_holds_one_port_per_configured_range_in_order() {
    let (pool, _probe, allocator) = pool_with_ports(config(4, 2));
    let (first, second) = (pool.get(1).await.unwrap(), pool.get(2).await.unwrap());

    let leased = |lease: &Lease<Fake>| {
        Lease::ports(lease).iter().map(|port| (port.range().to_owned(), port.port())).collect::<Vec<_>>()
    };
    assert_eq!(leased(&first), [("vnc".to_owned(), 5900), ("ws".to_owned(), 6900)]);
    assert_eq!(leased(&second), [("vnc".to_owned(), 5901), ("ws".to_owned(), 6901)]);
    assert_eq!(first.ports, [5900, 6900], "create was given the same leases");
    assert_eq!(ports(&allocator), (4, 196, 0));

    drop(first);
    assert_eq!(ports(&allocator), (4, 196, 0), "an idle connection keeps its ports");
}

#[tokio::test(start_paused = true)]
async fn ports_are_freed_only_once_destroy_has_returned() {
    let (pool, probe, allocator) = pool_with_ports(config(4, 2));
    let lease = pool.get(1).await.unwrap();
    probe.set(Step::Destroy, Behaviour::Slow);
    Lease::discard(lease);
    settle().await;
    assert_eq!(ports(&allocator), (2, 198, 0), "the browser is still quitting");
    assert_eq!(pool.status().connections, 1, "and still counts against the caps");

    tokio::time::sleep(SLOW).await;
    settle().await;
    assert_eq!(ports(&allocator), (0, 198, 2));
    assert_eq!(pool.status().connections, 0);
}

#[tokio::test(start_paused = true)]
async fn exhausted_ports_fail_the_get_and_give_its_place_back() {
    let config = PortsConfig { ranges: vec![PortRange::new("vnc", 5900..=5900)], ..PortsConfig::default() };
    let allocator = Arc::new(PortAllocator::new(&PortsConfig { host_check: false, ..config }).unwrap());
    let probe = Arc::new(Probe::default());
    let mut pool_config = super::support::config(4, 4);
    pool_config.ports = vec!["vnc".to_owned()];
    let pool = Pool::builder(Fake(probe.clone())).config(pool_config).ports(allocator).build().unwrap();

    let _only = pool.get(1).await.unwrap();
    let error = pool.get(1).await.unwrap_err();
    let PoolError::Ports(PortError::Exhausted { range, size: 1, retry_after: None }) = error else {
        panic!("expected exhausted ports, got {error:?}")
    };
    assert_eq!(range, "vnc");
    assert_eq!(probe.calls(), (1, 1, 0, 0), "create is not called without its ports");
    let stats = pool.status();
    assert_eq!((stats.connections, stats.active, stats.sessions), (1, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_pool_without_ports_leases_none() {
    let (pool, _probe) = super::support::pool(config(2, 2));
    let lease = pool.get(1).await.unwrap();
    assert!(Lease::ports(&lease).is_empty());
    assert_eq!(ports(&allocator()), (0, 200, 0));
}

/// A pool whose connections each lease a `"vnc"` port of 5900–5901 (resting [`QUARANTINE`]).
fn pool_with_two_ports(mut config: PoolConfig) -> (Pool<Fake>, Arc<Probe>, Arc<PortAllocator>) {
    let ranges = vec![PortRange::new("vnc", 5900..=5901)];
    let ports = PortsConfig { ranges, quarantine: QUARANTINE, host_check: false };
    let (probe, allocator) = (Arc::new(Probe::default()), Arc::new(PortAllocator::new(&ports).unwrap()));
    config.ports = vec!["vnc".to_owned()];
    let builder = Pool::builder(Fake(probe.clone())).config(config).ports(allocator.clone());
    (builder.build().unwrap(), probe, allocator)
}

/// Two keys' connections hold both ports, idle, the first for longest.
async fn both_ports_idle(pool: &Pool<Fake>) {
    let (first, second) = (pool.get(1).await.unwrap(), pool.get(2).await.unwrap());
    assert_eq!((first.ports.as_slice(), second.ports.as_slice()), ([5900].as_slice(), [5901].as_slice()));
    drop(first);
    sleep(Duration::from_secs(1)).await;
    drop(second);
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_range_evicts_the_least_recently_used_idle_connection_for_its_port() {
    let (pool, probe, allocator) = pool_with_two_ports(config(4, 4));
    both_ports_idle(&pool).await;

    let started = Instant::now();
    let third = pool.get(3).await.unwrap();
    assert_eq!(third.ports, [5900], "key 1's port, once it has rested");
    assert_eq!(started.elapsed(), QUARANTINE);
    assert_eq!(probe.destroyed_ids(), [1]);
    let stats = pool.status();
    assert_eq!((stats.evicted, stats.destroyed, stats.created), (1, 1, 3));
    assert_eq!((stats.connections, stats.idle, stats.active, stats.sessions), (2, 1, 1, 2));
    let vnc = &allocator.status()["vnc"];
    assert_eq!((vnc.leased, vnc.free, vnc.quarantined), (2, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_get_cut_off_while_its_evicted_port_rests_leaves_the_port_free() {
    let mut config = config(4, 4);
    config.checkout_timeout = QUARANTINE / 2;
    let (pool, probe, allocator) = pool_with_two_ports(config);
    both_ports_idle(&pool).await;

    let error = pool.get(3).await.unwrap_err();
    assert!(matches!(error, PoolError::Timeout { .. }), "got {error:?}");
    let stats = pool.status();
    assert_eq!((stats.evicted, stats.destroyed, stats.timeouts), (1, 1, 1));
    assert_eq!((stats.connections, stats.idle, stats.active, stats.sessions), (1, 1, 0, 1));
    assert_eq!(probe.destroyed_ids(), [1]);
    sleep(QUARANTINE).await;
    let vnc = &allocator.status()["vnc"];
    assert_eq!((vnc.leased, vnc.free, vnc.quarantined), (1, 1, 0), "key 2's, and the evicted one's free");
}

#[tokio::test(start_paused = true)]
async fn a_warm_up_never_evicts_an_idle_connection_for_its_ports() {
    let ranges = vec![PortRange::new("vnc", 5900..=5900)];
    let ports = PortsConfig { ranges, quarantine: Duration::from_secs(5), host_check: false };
    let (probe, allocator) = (Arc::new(Probe::default()), Arc::new(PortAllocator::new(&ports).unwrap()));
    let mut config = config(2, 1).min_idle_per_key(1);
    config.ports = vec!["vnc".to_owned()];
    let pool = Pool::builder(Fake(probe.clone())).config(config).ports(allocator.clone()).build().unwrap();

    pool.warm(1);
    sleep(Duration::from_millis(1)).await;
    pool.warm(2);
    sleep(Duration::from_secs(65)).await;
    let stats = pool.status();
    assert_eq!((stats.evicted, stats.created, stats.destroyed), (0, 1, 0), "key 1's connection stays");
    assert_eq!((stats.connections, stats.idle, stats.sessions), (1, 1, 1));
    assert_eq!(probe.count(&probe.create_calls), 1, "key 2's warm-ups never reached create");
    let vnc = &allocator.status()["vnc"];
    assert_eq!((vnc.leased, vnc.free, vnc.quarantined), (1, 0, 0));
}

/// A port this test listens on (on loopback, where the host check probes), whose two ports
/// below are free right now.
fn listening_port_with_two_free_below() -> (std::net::TcpListener, u16) {
    use std::net::{Ipv4Addr, TcpListener};
    for _ in 0..100 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("an ephemeral port");
        let busy = listener.local_addr().expect("a bound address").port();
        let free = |port: u16| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok();
        if busy > 2 && free(busy - 2) && free(busy - 1) {
            return (listener, busy);
        }
    }
    panic!("found no listening port with two free ports below it");
}

#[tokio::test(start_paused = true)]
async fn a_range_whose_free_port_is_in_use_on_the_host_evicts_for_a_port() {
    let (_listener, busy) = listening_port_with_two_free_below();
    let ranges = vec![PortRange::new("vnc", busy - 2..=busy)];
    let ports = PortsConfig { ranges, quarantine: QUARANTINE, host_check: true };
    let (probe, allocator) = (Arc::new(Probe::default()), Arc::new(PortAllocator::new(&ports).unwrap()));
    let mut config = config(4, 4);
    config.ports = vec!["vnc".to_owned()];
    let pool = Pool::builder(Fake(probe.clone())).config(config).ports(allocator.clone()).build().unwrap();
    let (first, second) = (pool.get(1).await.unwrap(), pool.get(2).await.unwrap());
    assert_eq!(
        (first.ports.as_slice(), second.ports.as_slice()),
        ([busy - 2].as_slice(), [busy - 1].as_slice())
    );
    drop(first);
    sleep(Duration::from_secs(1)).await;
    drop(second);

    let started = Instant::now();
    let third = pool.get(3).await.unwrap();
    assert_eq!(third.ports, [busy - 2], "key 1's port, once it has rested");
    assert_eq!(started.elapsed(), QUARANTINE);
    assert_eq!(probe.destroyed_ids(), [1]);
    let stats = pool.status();
    assert_eq!((stats.evicted, stats.destroyed, stats.created, stats.timeouts), (1, 1, 3, 0));
    assert_eq!((stats.connections, stats.idle, stats.active, stats.sessions), (2, 1, 1, 2));
    let vnc = &allocator.status()["vnc"];
    assert_eq!((vnc.leased, vnc.free, vnc.quarantined), (2, 0, 1), "the busy port rests again");
}

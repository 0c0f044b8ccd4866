//! Each connection is created with one port from each configured range, holds it while it
//! lives, and frees it only once `destroy` has returned.

use std::sync::Arc;

use super::support::{Behaviour, Fake, Probe, SLOW, Step, allocator, config, pool_with_ports, ports, settle};
use crate::pool::{Lease, Pool, PoolError};
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
    assert_eq!(pool.stats().connections, 1, "and still counts against the caps");

    tokio::time::sleep(SLOW).await;
    settle().await;
    assert_eq!(ports(&allocator), (0, 198, 2));
    assert_eq!(pool.stats().connections, 0);
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
    let stats = pool.stats();
    assert_eq!((stats.connections, stats.active, stats.sessions), (1, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_pool_without_ports_leases_none() {
    let (pool, _probe) = super::support::pool(config(2, 2));
    let lease = pool.get(1).await.unwrap();
    assert!(Lease::ports(&lease).is_empty());
    assert_eq!(ports(&allocator()), (0, 200, 0));
}

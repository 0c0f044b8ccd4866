//! Running out of ports, and asking for a range that does not exist, are typed errors.

use std::time::Duration;

use super::support::{allocator, counts};
use crate::ports::{PortAllocator, PortError, PortLease, PortRange, PortsConfig, RangeStatus};

#[tokio::test(start_paused = true)]
async fn exhaustion_names_the_range_its_size_and_when_a_port_frees() {
    let allocator = allocator(&[("vnc", 5900..=5901), ("ws", 6900..=6999)], Duration::from_secs(5));
    let first = allocator.allocate("vnc").expect("a free port");
    let _second = allocator.allocate("vnc").expect("a free port");

    let error = allocator.allocate("vnc").unwrap_err();
    assert_eq!(error, PortError::Exhausted { range: "vnc".to_owned(), size: 2, retry_after: None });
    assert_eq!(error.to_string(), "port range \"vnc\" is exhausted: all 2 ports are leased or quarantined");
    assert_eq!(counts(&allocator, "ws"), (0, 100, 0), "other ranges are untouched");

    drop(first);
    tokio::time::advance(Duration::from_secs(2)).await;
    let error = allocator.allocate("vnc").unwrap_err();
    let retry_after = Some(Duration::from_secs(3));
    assert_eq!(error, PortError::Exhausted { range: "vnc".to_owned(), size: 2, retry_after });
    assert_eq!(counts(&allocator, "vnc"), (1, 0, 1));
}

#[test]
fn an_unknown_range_is_named() {
    let allocator = allocator(&[("vnc", 5900..=5999)], Duration::ZERO);
    let error = allocator.allocate("rdp").unwrap_err();
    assert_eq!(error, PortError::UnknownRange { name: "rdp".to_owned() });
    assert_eq!(error.to_string(), "no port range is named \"rdp\"");
    assert_eq!(counts(&allocator, "vnc"), (0, 100, 0));
}

#[test]
fn an_allocator_without_ranges_knows_no_range() {
    let config = PortsConfig { ranges: Vec::new(), ..PortsConfig::default() };
    let allocator = PortAllocator::new(&config).expect("no ranges is valid");
    assert_eq!(allocator.allocate("vnc").unwrap_err(), PortError::UnknownRange { name: "vnc".to_owned() });
    assert!(allocator.status().is_empty());
}

#[test]
fn leases_and_errors_can_cross_threads() {
    fn shared<T: Send + Sync + Unpin>() {}
    shared::<PortAllocator>();
    shared::<PortLease>();
    shared::<PortError>();
    shared::<PortsConfig>();
    shared::<PortRange>();
    shared::<RangeStatus>();
}

#[test]
fn a_lease_shows_its_range_and_port() {
    let allocator = allocator(&[("vnc", 5900..=5999)], Duration::ZERO);
    let lease = allocator.allocate("vnc").expect("a free port");
    assert_eq!(format!("{lease:?}"), "PortLease { range: \"vnc\", port: 5900, claimed: false }");
}

#[test]
fn a_lease_outlives_its_allocator() {
    let allocator = allocator(&[("vnc", 5900..=5999)], Duration::ZERO);
    let lease = allocator.allocate("vnc").expect("a free port");
    drop(allocator);
    assert_eq!((lease.range(), lease.port()), ("vnc", 5900));
}

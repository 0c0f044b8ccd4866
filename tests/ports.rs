//! Ports through the governor: configured ranges, exact status, typed exhaustion, bad config.

mod support;

use std::time::Duration;

use bursar::ports::{PortError, PortRange, PortsConfig};

fn two_ranges() -> PortsConfig {
    let mut ports = PortsConfig::default();
    ports.ranges = vec![PortRange::new("vnc", 45900..=45902), PortRange::new("ws", 46900..=46901)];
    ports.host_check = false;
    ports
}

#[tokio::test(start_paused = true)]
async fn sessions_lease_ports_and_the_status_counts_them_exactly() {
    let gov = support::builder().ports(two_ranges()).build().unwrap();
    let leases: Vec<_> =
        ["vnc", "ws", "vnc"].iter().map(|range| gov.ports().allocate(range).unwrap()).collect();
    let ports: Vec<u16> = leases.iter().map(|lease| lease.port()).collect();
    assert_eq!(ports, [45900, 46900, 45901]);
    let status = gov.status().ports;
    assert_eq!(
        (status["vnc"].leased, status["vnc"].free, status["ws"].leased, status["ws"].free),
        (2, 1, 1, 1)
    );

    drop(leases);
    let status = gov.status().ports;
    assert_eq!((status["vnc"].leased, status["vnc"].quarantined), (0, 2), "released ports rest first");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(gov.status().ports["vnc"].free, 3);
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_range_is_named_with_its_size() {
    let gov = support::builder().ports(two_ranges()).build().unwrap();
    let _held = [gov.ports().allocate("ws").unwrap(), gov.ports().allocate("ws").unwrap()];
    let error = gov.ports().allocate("ws").unwrap_err();
    assert!(matches!(&error, PortError::Exhausted { range, size: 2, retry_after: None } if range == "ws"));
    assert!(error.to_string().contains("ws"), "{error}");
    assert!(matches!(gov.ports().allocate("rdp"), Err(PortError::UnknownRange { name }) if name == "rdp"));
}

#[tokio::test]
async fn overlapping_ranges_are_a_build_error_naming_the_field() {
    let mut ports = two_ranges();
    ports.ranges.push(PortRange::new("novnc", 45902..=45910));
    let error = support::builder().ports(ports).build().unwrap_err();
    assert_eq!(error.field(), Some("ports.ranges"));
    assert!(error.to_string().contains("overlap"), "{error}");
}

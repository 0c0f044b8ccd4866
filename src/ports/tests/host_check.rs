//! The host check skips ports another process listens on, and never spins.

use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use tokio::time::advance;

use super::support::{config, counts};
use crate::ports::{PortAllocator, PortError};

const QUARANTINE: Duration = Duration::from_secs(5);

/// A port this test listens on, whose next port is free right now.
fn listening_port_with_a_free_neighbour() -> (TcpListener, u16) {
    for _ in 0..100 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("an ephemeral port");
        let port = listener.local_addr().expect("a bound address").port();
        if port < u16::MAX && TcpListener::bind((Ipv4Addr::LOCALHOST, port + 1)).is_ok() {
            return (listener, port);
        }
    }
    panic!("found no listening port with a free neighbour");
}

fn checking(ports: std::ops::RangeInclusive<u16>, quarantine: Duration, host_check: bool) -> PortAllocator {
    let mut config = config(&[("test", ports)], quarantine);
    config.host_check = host_check;
    PortAllocator::new(&config).expect("a valid configuration")
}

#[tokio::test(start_paused = true)]
async fn a_port_in_use_on_the_host_is_skipped_and_rests() {
    let (_listener, busy) = listening_port_with_a_free_neighbour();
    let allocator = checking(busy..=busy + 1, QUARANTINE, true);

    let lease = allocator.allocate("test").expect("the neighbour is free");
    assert_eq!(lease.port(), busy + 1);
    assert_eq!(counts(&allocator, "test"), (1, 0, 1), "the busy port rests");

    let error = allocator.allocate("test").unwrap_err();
    let retry_after = Some(QUARANTINE);
    assert_eq!(error, PortError::Exhausted { range: "test".to_owned(), size: 2, retry_after });

    advance(QUARANTINE).await;
    let error = allocator.allocate("test").unwrap_err();
    let retry_after = Some(QUARANTINE);
    assert_eq!(
        error,
        PortError::Exhausted { range: "test".to_owned(), size: 2, retry_after },
        "probed again, resting again"
    );
    assert_eq!(counts(&allocator, "test"), (1, 0, 1));
}

#[test]
fn without_a_quarantine_a_range_partly_leased_and_partly_in_use_is_exhausted() {
    let (listener, busy) = listening_port_with_a_free_neighbour();
    let allocator = checking(busy..=busy + 1, Duration::ZERO, true);
    let lease = allocator.allocate("test").expect("the neighbour is free");
    let error = allocator.allocate("test").unwrap_err();
    assert_eq!(error, PortError::Exhausted { range: "test".to_owned(), size: 2, retry_after: None });
    drop((lease, listener));
    assert_eq!(counts(&allocator, "test"), (0, 2, 0));
}

#[test]
fn without_the_host_check_a_port_in_use_is_handed_out() {
    let (_listener, busy) = listening_port_with_a_free_neighbour();
    let allocator = checking(busy..=busy + 1, QUARANTINE, false);
    assert_eq!(allocator.allocate("test").expect("no check").port(), busy);
}

#[test]
fn a_range_in_use_end_to_end_is_an_error_not_a_spin() {
    let (listener, busy) = listening_port_with_a_free_neighbour();
    // No quarantine: the skipped port is due again at once, yet each call probes it once.
    let allocator = checking(busy..=busy, Duration::ZERO, true);
    for _ in 0..2 {
        let error = allocator.allocate("test").unwrap_err();
        assert_eq!(error, PortError::InUseOnHost { range: "test".to_owned(), tried: 1 });
        assert_eq!(
            error.to_string(),
            "port range \"test\": all 1 free ports are in use by other processes on this host"
        );
        assert_eq!(counts(&allocator, "test"), (0, 1, 0));
    }
    drop(listener);
    assert_eq!(allocator.allocate("test").expect("the listener is gone").port(), busy);
}

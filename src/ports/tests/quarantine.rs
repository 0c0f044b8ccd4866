//! A released port rests exactly the quarantine, and ports come back in release order.

use std::time::Duration;

use tokio::time::advance;

use super::support::{allocator, counts};
use crate::ports::{PortError, PortLease};

const QUARANTINE: Duration = Duration::from_secs(5);
const MILLISECOND: Duration = Duration::from_millis(1);

#[tokio::test(start_paused = true)]
async fn a_released_port_returns_exactly_when_its_quarantine_ends() {
    let allocator = allocator(&[("vnc", 5900..=5900)], QUARANTINE);
    drop(allocator.allocate("vnc").expect("a free port"));
    assert_eq!(counts(&allocator, "vnc"), (0, 0, 1));

    advance(QUARANTINE - MILLISECOND).await;
    let error = allocator.allocate("vnc").unwrap_err();
    let retry_after = Some(MILLISECOND);
    assert_eq!(error, PortError::Exhausted { range: "vnc".to_owned(), size: 1, retry_after });
    assert_eq!(counts(&allocator, "vnc"), (0, 0, 1));

    advance(MILLISECOND).await;
    assert_eq!(counts(&allocator, "vnc"), (0, 1, 0));
    assert_eq!(allocator.allocate("vnc").expect("rested").port(), 5900);
}

#[tokio::test(start_paused = true)]
async fn a_released_port_rests_even_while_others_are_free() {
    let allocator = allocator(&[("vnc", 5900..=5902)], QUARANTINE);
    drop(allocator.allocate("vnc").expect("a free port"));
    let leases: Vec<_> = (0..2).map(|_| allocator.allocate("vnc").expect("a free port")).collect();
    assert_eq!(leases.iter().map(PortLease::port).collect::<Vec<_>>(), [5901, 5902]);
    assert_eq!(counts(&allocator, "vnc"), (2, 0, 1));
    assert!(matches!(allocator.allocate("vnc"), Err(PortError::Exhausted { .. })));
}

#[tokio::test(start_paused = true)]
async fn ports_come_back_in_the_order_they_were_released() {
    let allocator = allocator(&[("vnc", 5900..=5903)], QUARANTINE);
    let mut leases: Vec<_> = (0..4).map(|_| allocator.allocate("vnc").expect("a free port")).collect();
    for index in [2, 0, 1, 0] {
        drop(leases.remove(index));
        advance(MILLISECOND).await;
    }
    advance(QUARANTINE).await;
    let leases: Vec<_> = (0..4).map(|_| allocator.allocate("vnc").expect("rested")).collect();
    assert_eq!(leases.iter().map(PortLease::port).collect::<Vec<_>>(), [5902, 5900, 5903, 5901]);
}

#[tokio::test(start_paused = true)]
async fn each_port_rests_from_its_own_release() {
    let allocator = allocator(&[("vnc", 5900..=5901)], QUARANTINE);
    let (first, second) = (allocator.allocate("vnc").unwrap(), allocator.allocate("vnc").unwrap());
    drop(first);
    advance(Duration::from_secs(2)).await;
    drop(second);
    advance(Duration::from_secs(3)).await;
    assert_eq!(counts(&allocator, "vnc"), (0, 1, 1));
    let lease = allocator.allocate("vnc").expect("5900 rested");
    assert_eq!(lease.port(), 5900);
    let error = allocator.allocate("vnc").unwrap_err();
    let retry_after = Some(Duration::from_secs(2));
    assert_eq!(error, PortError::Exhausted { range: "vnc".to_owned(), size: 2, retry_after });
}

#[test]
fn no_quarantine_reuses_a_port_at_once() {
    let allocator = allocator(&[("vnc", 5900..=5900)], Duration::ZERO);
    drop(allocator.allocate("vnc").expect("a free port"));
    assert_eq!(counts(&allocator, "vnc"), (0, 1, 0));
    assert_eq!(allocator.allocate("vnc").expect("free again").port(), 5900);
}

#[tokio::test(start_paused = true)]
async fn an_aborted_task_releases_its_lease_into_quarantine() {
    let allocator = std::sync::Arc::new(allocator(&[("vnc", 5900..=5999)], QUARANTINE));
    let holder = allocator.clone();
    let task = tokio::spawn(async move {
        let _lease = holder.allocate("vnc").expect("a free port");
        std::future::pending::<()>().await;
    });
    tokio::task::yield_now().await;
    assert_eq!(counts(&allocator, "vnc"), (1, 99, 0));

    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(counts(&allocator, "vnc"), (0, 99, 1));
    advance(QUARANTINE).await;
    assert_eq!(counts(&allocator, "vnc"), (0, 100, 0));
}

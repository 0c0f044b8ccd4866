//! Many threads and tasks leasing and releasing at once never hold one port twice.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use super::support::{allocator, counts};
use crate::ports::{PortAllocator, PortError, PortLease};

const CYCLES: usize = 10_000;

/// The ports held right now: holding one that is already held fails the test.
#[derive(Debug, Default)]
struct Held(Mutex<HashSet<u16>>);

impl Held {
    fn hold(&self, lease: &PortLease) {
        assert!(self.0.lock().insert(lease.port()), "port {} leased twice at once", lease.port());
    }

    /// Forgets the port before the lease is dropped, so its next holder may record it.
    fn release(&self, lease: PortLease) {
        assert!(self.0.lock().remove(&lease.port()));
        drop(lease);
    }
}

/// Claims one of the `CYCLES` cycles; false once all are claimed.
fn claim(claimed: &AtomicUsize) -> bool {
    // Relaxed: a ticket counter; each value is taken once, nothing else hangs on it.
    claimed.fetch_add(1, Ordering::Relaxed) < CYCLES
}

fn allocate_spinning(allocator: &PortAllocator) -> PortLease {
    loop {
        match allocator.allocate("vnc") {
            Ok(lease) => return lease,
            Err(PortError::Exhausted { .. }) => std::thread::yield_now(),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn threads_never_lease_a_port_twice_at_once() {
    // Twice as many threads as ports and no quarantine: ports change hands as fast as they can.
    let allocator = allocator(&[("vnc", 5900..=5903)], Duration::ZERO);
    let (held, claimed) = (Held::default(), AtomicUsize::new(0));
    let cycles: usize = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let mut cycles = 0;
                    while claim(&claimed) {
                        let lease = allocate_spinning(&allocator);
                        held.hold(&lease);
                        std::thread::yield_now();
                        held.release(lease);
                        cycles += 1;
                    }
                    cycles
                })
            })
            .collect();
        threads.into_iter().map(|thread| thread.join().expect("no thread panics")).sum()
    });
    assert_eq!(cycles, CYCLES);
    assert_eq!(counts(&allocator, "vnc"), (0, 4, 0));
}

#[tokio::test(start_paused = true)]
async fn tasks_never_lease_a_port_twice_at_once_across_quarantines() {
    let quarantine = Duration::from_millis(100);
    let allocator = Arc::new(allocator(&[("ws", 6900..=6915)], quarantine));
    let (held, claimed) = (Arc::new(Held::default()), Arc::new(AtomicUsize::new(0)));
    let tasks: Vec<_> = (0..64)
        .map(|_| tokio::spawn(cycle_until_all_claimed(allocator.clone(), held.clone(), claimed.clone())))
        .collect();
    let mut cycles = 0;
    for task in tasks {
        cycles += task.await.expect("no task panics");
    }
    assert_eq!(cycles, CYCLES);
    let (leased, free, quarantined) = counts(&allocator, "ws");
    assert_eq!((leased, free + quarantined), (0, 16));
    assert!(quarantined > 0, "the last ports released still rest");
    tokio::time::advance(quarantine).await;
    assert_eq!(counts(&allocator, "ws"), (0, 16, 0));
}

async fn cycle_until_all_claimed(
    allocator: Arc<PortAllocator>,
    held: Arc<Held>,
    claimed: Arc<AtomicUsize>,
) -> usize {
    let mut cycles = 0;
    while claim(&claimed) {
        let lease = loop {
            match allocator.allocate("ws") {
                Ok(lease) => break lease,
                Err(PortError::Exhausted { retry_after, .. }) => {
                    tokio::time::sleep(retry_after.unwrap_or(Duration::from_millis(1))).await;
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        };
        held.hold(&lease);
        tokio::task::yield_now().await;
        held.release(lease);
        cycles += 1;
    }
    cycles
}

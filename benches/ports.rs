//! Port allocation: one `allocate` plus the release of its lease (dropping it), on a range of
//! 100 ports and on one of 60,000. Both are O(1), so both sizes should cost the same.
//!
//! The host check is off (`host_check: false`), so no port is ever bound, and the quarantine
//! is zero, so the loop can lease and release forever without running a range dry. The
//! `half leased` rows first lease half of the range and hold it, so the queue of free ports
//! and the leases outstanding are large while the loop runs.

use std::hint::black_box;
use std::ops::RangeInclusive;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use bursar::ports::{PortAllocator, PortLease, PortRange, PortsConfig};

fn allocator(ports: RangeInclusive<u16>) -> PortAllocator {
    let mut config = PortsConfig::default();
    config.ranges = vec![PortRange::new("bench", ports)];
    config.quarantine = Duration::ZERO;
    config.host_check = false;
    PortAllocator::new(&config).expect("a valid ports configuration")
}

fn allocate_release(c: &mut Criterion) {
    let mut group = c.benchmark_group("ports allocate + release");
    for (size, ports) in [(100, 5900..=5999), (60_000, 1024..=61_023)] {
        let allocator = allocator(ports);
        group.bench_function(format!("{size} ports"), |b| {
            b.iter(|| drop(black_box(allocator.allocate("bench").expect("a free port"))))
        });
        let held: Vec<PortLease> =
            (0..size / 2).map(|_| allocator.allocate("bench").expect("a free port")).collect();
        group.bench_function(format!("{size} ports, half leased"), |b| {
            b.iter(|| drop(black_box(allocator.allocate("bench").expect("a free port"))))
        });
        drop(held);
    }
    group.finish();
}

criterion_group!(benches, allocate_release);
criterion_main!(benches);

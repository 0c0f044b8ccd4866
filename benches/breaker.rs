//! The circuit breaker's closed-state path: admission plus recording a success — the work a
//! breaker adds to every call while its dependency is healthy — on 1 and 2 threads.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::time::Instant;

use bursar::breaker::{CircuitBreaker, Outcome};

fn closed_path(breaker: &CircuitBreaker, now: Instant) {
    let permit = breaker.try_acquire(black_box(now)).expect("closed");
    permit.record(Outcome::Success, Duration::ZERO, now);
}

fn breaker(c: &mut Criterion) {
    let breaker = Arc::new(CircuitBreaker::default());
    let now = Instant::now();
    let mut group = c.benchmark_group("breaker, closed path");
    group.bench_function("1 thread", |b| b.iter(|| closed_path(&breaker, now)));
    group.bench_function("2 threads", |b| {
        b.iter_custom(|iterations| {
            let other = Arc::clone(&breaker);
            let started = std::time::Instant::now();
            std::thread::scope(|scope| {
                scope.spawn(move || (0..iterations).for_each(|_| closed_path(&other, now)));
                (0..iterations).for_each(|_| closed_path(&breaker, now));
            });
            started.elapsed()
        })
    });
    group.finish();
}

criterion_group!(benches, breaker);
criterion_main!(benches);

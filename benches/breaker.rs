//! The circuit breaker's closed-state path: admission plus recording a success — the work a
//! breaker adds to every call while its dependency is healthy — on 1 and 2 threads.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};

use bursar::breaker::CircuitBreaker;

/// Admission and a success: a closed breaker reads no clock for either.
fn closed_path(breaker: &CircuitBreaker) {
    breaker.try_acquire().expect("closed").success();
}

fn breaker(c: &mut Criterion) {
    let breaker = Arc::new(CircuitBreaker::default());
    let mut group = c.benchmark_group("breaker, closed path");
    group.bench_function("1 thread", |b| b.iter(|| closed_path(&breaker)));
    group.bench_function("2 threads", |b| {
        b.iter_custom(|iterations| {
            let other = Arc::clone(&breaker);
            let started = std::time::Instant::now();
            std::thread::scope(|scope| {
                scope.spawn(move || (0..iterations).for_each(|_| closed_path(&other)));
                (0..iterations).for_each(|_| closed_path(&breaker));
            });
            started.elapsed()
        })
    });
    group.finish();
}

criterion_group!(benches, breaker);
criterion_main!(benches);

//! The circuit breaker's closed-state path: admission plus recording a success — the work a
//! breaker adds to every call while its dependency is healthy — on 1 and 2 threads; and the
//! same path under the optional failure-rate rule, whose window every success records in.

use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime};

use bursar::breaker::{BreakerConfig, CircuitBreaker, FailureRate, RateWindow};

/// Admission and a success: a closed breaker without a failure-rate rule reads no clock.
fn closed_path(breaker: &CircuitBreaker) {
    breaker.try_acquire().expect("closed").success();
}

/// The closed path on 1 thread, and on 2 threads sharing the breaker (each makes
/// `iterations` calls; the wall time of the pair is reported).
fn rows(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, breaker: &CircuitBreaker) {
    let row = |threads: &str| if name.is_empty() { threads.to_owned() } else { format!("{name}, {threads}") };
    group.bench_function(row("1 thread"), |b| b.iter(|| closed_path(breaker)));
    group.bench_function(row("2 threads"), |b| {
        b.iter_custom(|iterations| {
            let started = std::time::Instant::now();
            std::thread::scope(|scope| {
                scope.spawn(|| (0..iterations).for_each(|_| closed_path(breaker)));
                (0..iterations).for_each(|_| closed_path(breaker));
            });
            started.elapsed()
        })
    });
}

fn breaker(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker, closed path");
    rows(&mut group, "", &CircuitBreaker::default());
    group.finish();

    let mut group = c.benchmark_group("breaker, failure-rate rule");
    let windows = [
        ("count window", RateWindow::Count(100)),
        ("time window", RateWindow::Time(Duration::from_secs(60))),
    ];
    for (name, window) in windows {
        let mut config = BreakerConfig::default();
        config.failure_rate = Some(FailureRate::new(0.5, window, 20));
        rows(&mut group, name, &CircuitBreaker::new(&config).expect("a valid configuration"));
    }
    group.finish();
}

criterion_group!(benches, breaker);
criterion_main!(benches);

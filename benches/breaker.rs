//! The circuit breaker's closed-state path: admission plus recording a success — the work a
//! breaker adds to every call while its dependency is healthy — on 1 and 2 threads; and the
//! same path under the optional failure-rate rule, whose window every success records in,
//! with the window lock-free and behind one lock, side by side.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime};

use bursar::breaker::{BreakerConfig, CircuitBreaker, FailureRate, RateWindow};

/// Admission and a success: a closed breaker without a failure-rate rule reads no clock.
fn closed_path(breaker: &CircuitBreaker) {
    breaker.try_acquire().expect("closed").success();
}

/// Runs the closed path `iterations` times on this thread and, when `threads` is 2, as many
/// times on a second thread at once, sharing the breaker; returns the wall time.
fn on_threads(breaker: &CircuitBreaker, threads: usize, iterations: u64) -> std::time::Duration {
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(|| (0..iterations).for_each(|_| closed_path(breaker)));
        }
        (0..iterations).for_each(|_| closed_path(breaker));
    });
    started.elapsed()
}

/// One row per thread count.
fn rows(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, breaker: &CircuitBreaker) {
    for threads in [1, 2] {
        let row = format!(
            "{name}{}{threads} thread{}",
            if name.is_empty() { "" } else { ", " },
            if threads == 1 { "" } else { "s" }
        );
        group.bench_function(row, |b| b.iter_custom(|iterations| on_threads(breaker, threads, iterations)));
    }
}

fn breaker(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker, closed path");
    rows(&mut group, "", &Arc::new(CircuitBreaker::default()));
    group.finish();

    let mut group = c.benchmark_group("breaker, failure-rate rule");
    let windows = [
        ("count window", RateWindow::Count(100)),
        ("time window", RateWindow::Time(Duration::from_secs(60))),
    ];
    for (name, window) in windows {
        let mut config = BreakerConfig::default();
        config.failure_rate = Some(FailureRate::new(0.5, window, 20));
        let lock_free = CircuitBreaker::new(&config).expect("a valid configuration");
        rows(&mut group, &format!("{name}, lock-free"), &lock_free);
        let locked = CircuitBreaker::new(&config).expect("a valid configuration").with_locked_window();
        rows(&mut group, &format!("{name}, mutex"), &locked);
    }
    group.finish();
}

criterion_group!(benches, breaker);
criterion_main!(benches);

//! A circuit breaker's closed path — admit a call, record its success — on 1 and 2 threads,
//! bursar's breaker beside `failsafe`, `recloser` and tower-resilience's breaker, in the same
//! process.
//!
//! Each breaker trips on consecutive failures where it can (bursar's default of 5; `failsafe`
//! configured to match; tower-resilience with `consecutive_failures(5)`); `recloser` only has
//! an error-rate rule, so it runs its defaults. On 2 threads both threads share one breaker,
//! each makes `iterations` calls, and the wall time of the pair is reported.
//!
//! bursar's rows run its closed path twice over: `bursar` holds the permit itself
//! (`try_acquire()`, then `success()`), `bursar, call` runs a ready future through
//! `breaker.call`, polled once — the shape of `failsafe`'s and `recloser`'s `call`. Neither
//! reads a clock on the closed path.
//!
//! tower-resilience exposes its breaker only as a tower `Service`, so its rows drive
//! `ready().call(1)` around an always-ready `service_fn` on a current-thread runtime per
//! thread: that is the only way to use it.
//!
//! Each breaker's closed path is one small named function, called from the timing loop (as in
//! `benches/breaker.rs`). How much of bursar's path the compiler inlines into its caller moves
//! its cost by several nanoseconds (7–16 ns on the machine of BENCHMARKS.md), so every row is
//! written the same way.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime};
use tokio::runtime::Runtime;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use tower_resilience::circuitbreaker::CircuitBreakerLayer;

use bursar::breaker::CircuitBreaker;

/// Runs `call` `iterations` times on this thread and, when `threads` is 2, as many times on a
/// second thread at once; returns the wall time.
fn on_threads<C: Fn() + Sync>(threads: usize, iterations: u64, call: C) -> std::time::Duration {
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(|| (0..iterations).for_each(|_| call()));
        }
        (0..iterations).for_each(|_| call());
    });
    started.elapsed()
}

/// Adds one row per thread count for `call`.
fn rows<C: Fn() + Sync>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, call: C) {
    for threads in [1, 2] {
        group.bench_function(
            format!("{name}, {threads} thread{}", if threads == 1 { "" } else { "s" }),
            |b| b.iter_custom(|iterations| on_threads(threads, iterations, &call)),
        );
    }
}

/// bursar's closed path: admission, then the success.
fn bursar_closed_path(breaker: &CircuitBreaker) {
    breaker.try_acquire().expect("closed").success();
}

/// bursar's `call` around a ready operation, polled once: it finishes in that poll.
fn bursar_call(breaker: &CircuitBreaker) {
    let call = pin!(breaker.call(std::future::ready(Ok::<_, ()>(black_box(1u64)))));
    match call.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => black_box(result.expect("closed")),
        Poll::Pending => unreachable!("a ready operation finishes in one poll"),
    };
}

/// `failsafe`'s closed path: `call` checks admission and records the success.
fn failsafe_closed_path(breaker: &impl failsafe::CircuitBreaker) {
    black_box(breaker.call(|| Ok::<_, ()>(black_box(1u64)))).expect("closed");
}

/// `recloser`'s closed path: `call` checks admission and records the success.
fn recloser_closed_path(breaker: &recloser::Recloser) {
    black_box(breaker.call(|| Ok::<_, ()>(black_box(1u64)))).expect("closed");
}

fn bursar_rows(group: &mut BenchmarkGroup<'_, WallTime>) {
    let breaker = Arc::new(CircuitBreaker::default());
    rows(group, "bursar", || bursar_closed_path(&breaker));
    rows(group, "bursar, call", || bursar_call(&breaker));
}

fn failsafe_rows(group: &mut BenchmarkGroup<'_, WallTime>) {
    let policy = failsafe::failure_policy::consecutive_failures(
        5,
        failsafe::backoff::constant(Duration::from_secs(120)),
    );
    let breaker = failsafe::Config::new().failure_policy(policy).build();
    rows(group, "failsafe", || failsafe_closed_path(&breaker));
}

fn recloser_rows(group: &mut BenchmarkGroup<'_, WallTime>) {
    let breaker = recloser::Recloser::default();
    rows(group, "recloser", || recloser_closed_path(&breaker));
}

fn tower_resilience_rows(group: &mut BenchmarkGroup<'_, WallTime>) {
    let layer = CircuitBreakerLayer::builder()
        .consecutive_failures(5)
        .wait_duration_in_open(Duration::from_secs(120))
        .build()
        .expect("a valid breaker");
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|value: u64| async move { Ok::<_, std::io::Error>(black_box(value)) }));
    // One runtime per thread; the services are clones sharing one circuit.
    let runtimes: [Runtime; 2] = std::array::from_fn(|_| {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
    });
    for threads in [1, 2] {
        let name = format!("tower-resilience, {threads} thread{}", if threads == 1 { "" } else { "s" });
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let started = std::time::Instant::now();
                std::thread::scope(|scope| {
                    for runtime in &runtimes[1..threads] {
                        let service = service.clone();
                        scope.spawn(move || runtime.block_on(drive(service, iterations)));
                    }
                    runtimes[0].block_on(drive(service.clone(), iterations));
                });
                started.elapsed()
            })
        });
    }
}

/// Makes `iterations` calls through a readied tower service.
async fn drive<S: Service<u64, Response = u64>>(mut service: S, iterations: u64)
where
    S::Error: std::fmt::Debug,
{
    for _ in 0..iterations {
        let ready = service.ready().await.expect("ready");
        black_box(ready.call(black_box(1)).await.expect("closed"));
    }
}

fn closed_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker closed path");
    bursar_rows(&mut group);
    failsafe_rows(&mut group);
    recloser_rows(&mut group);
    tower_resilience_rows(&mut group);
    group.finish();
}

criterion_group!(benches, closed_path);
criterion_main!(benches);

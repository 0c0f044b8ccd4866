//! The governed call's hot path — closed breaker, free permit, first try succeeds — beside
//! the peers, in the same process on the same current-thread runtime:
//!
//! - `bare semaphore`: a `tokio::sync::Semaphore` acquire/release around the same operation,
//!   the floor any bounded pool pays;
//! - `tower stack`: a `ServiceBuilder` with retry (3 attempts) → concurrency limit (10) →
//!   timeout (1800 s, bursar's max task duration) around a `service_fn`;
//! - `tower-resilience stack`: its circuit breaker (5 consecutive failures) → bulkhead (10)
//!   around the same `service_fn`;
//! - `bursar gov.call().key()`: the same call with a breaker key, and
//!   `bursar gov.call().breaker()`: with that key's breaker kept from `gov.breaker_for`;
//! - `bursar gov.run, adaptive gradient`: `gov.run` on a governor whose worker limit is
//!   adaptive (`limit = "gradient"`, its defaults): each attempt is timed and fed to the
//!   algorithm (issue 21's bar: at most 1.3x the fixed limit's `gov.run`).
//!
//! Every row runs one operation per iteration that returns `Ok(1)` at once; each loop owns
//! its service (cloned once per sample, as a server clones its stack per connection), so no
//! row pays a clone per call that it would not pay in use.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;
use tower::{BoxError, ServiceBuilder, service_fn};
use tower_resilience::bulkhead::BulkheadLayer;
use tower_resilience::circuitbreaker::CircuitBreakerLayer;

#[path = "support/tower_peers.rs"]
mod tower_peers;
use tower_peers::{ATTEMPTS, Attempts, TIMEOUT, WORKERS, drive, operation};

fn bare_semaphore(c: &mut Criterion, runtime: &Runtime) {
    let semaphore = Arc::new(Semaphore::new(WORKERS));
    c.benchmark_group("hot path").bench_function("bare semaphore", |b| {
        b.to_async(runtime).iter_custom(|iterations| {
            let semaphore = Arc::clone(&semaphore);
            async move {
                let started = Instant::now();
                for _ in 0..iterations {
                    let _permit = semaphore.acquire().await.expect("open");
                    black_box(operation(1).await.expect("the call succeeds"));
                }
                started.elapsed()
            }
        })
    });
}

/// The governor every bursar row uses: the defaults, with the health monitor off so no
/// sample can gate a call.
fn governor(runtime: &Runtime) -> bursar::Governor {
    with_limit(runtime, bursar::LimitKind::Fixed)
}

/// [`governor`] with the worker limit `limit`.
fn with_limit(runtime: &Runtime, limit: bursar::LimitKind) -> bursar::Governor {
    runtime.block_on(async {
        bursar::Governor::builder()
            .max_workers(WORKERS)
            .max_attempts(ATTEMPTS)
            .limit(limit)
            .health(bursar::health::HealthConfig::disabled())
            .build()
            .expect("a valid governor")
    })
}

fn bursar_run(c: &mut Criterion, runtime: &Runtime) {
    governed_run(c, runtime, "bursar gov.run", governor(runtime));
}

/// `gov.run` with an adaptive limit: the attempt's clock reads and the algorithm's update.
fn bursar_adaptive_run(c: &mut Criterion, runtime: &Runtime) {
    let gov = with_limit(runtime, bursar::LimitKind::Gradient);
    governed_run(c, runtime, "bursar gov.run, adaptive gradient", gov);
}

fn governed_run(c: &mut Criterion, runtime: &Runtime, name: &str, gov: bursar::Governor) {
    c.benchmark_group("hot path").bench_function(name, |b| {
        b.to_async(runtime).iter_custom(|iterations| {
            let gov = gov.clone();
            async move {
                let started = Instant::now();
                for _ in 0..iterations {
                    black_box(gov.run(|| operation(1)).await.expect("the call succeeds"));
                }
                started.elapsed()
            }
        })
    });
}

/// The same call through the builder with a breaker key, as a service with a breaker per site
/// makes it: the keyed registry's lookup on top of `gov.run`.
fn bursar_keyed_call(c: &mut Criterion, runtime: &Runtime) {
    let gov = governor(runtime);
    c.benchmark_group("hot path").bench_function("bursar gov.call().key()", |b| {
        b.to_async(runtime).iter_custom(|iterations| {
            let gov = gov.clone();
            async move {
                let started = Instant::now();
                for _ in 0..iterations {
                    let call = gov.call(|| operation(1)).key("api.example.com");
                    black_box(call.await.expect("the call succeeds"));
                }
                started.elapsed()
            }
        })
    });
}

/// The same keyed call with the key's breaker looked up once and kept (`gov.breaker_for`).
fn bursar_kept_breaker(c: &mut Criterion, runtime: &Runtime) {
    let gov = governor(runtime);
    let site = gov.breaker_for("api.example.com");
    c.benchmark_group("hot path").bench_function("bursar gov.call().breaker()", |b| {
        b.to_async(runtime).iter_custom(|iterations| {
            let (gov, site) = (gov.clone(), Arc::clone(&site));
            async move {
                let started = Instant::now();
                for _ in 0..iterations {
                    let call = gov.call(|| operation(1)).breaker(&site);
                    black_box(call.await.expect("the call succeeds"));
                }
                started.elapsed()
            }
        })
    });
}

fn tower_stack(c: &mut Criterion, runtime: &Runtime) {
    let stack = ServiceBuilder::new()
        .retry(Attempts(ATTEMPTS))
        .concurrency_limit(WORKERS)
        .timeout(TIMEOUT)
        .service(service_fn(|value: u64| async move { operation(value).await.map_err(BoxError::from) }));
    c.benchmark_group("hot path").bench_function("tower stack", |b| {
        b.to_async(runtime).iter_custom(|iterations| drive(stack.clone(), iterations))
    });
}

fn tower_resilience_stack(c: &mut Criterion, runtime: &Runtime) {
    let breaker = CircuitBreakerLayer::builder()
        .consecutive_failures(5)
        .wait_duration_in_open(Duration::from_secs(120))
        .build()
        .expect("a valid breaker");
    let bulkhead = BulkheadLayer::builder().max_concurrent_calls(WORKERS).build().expect("a valid bulkhead");
    let stack = ServiceBuilder::new().layer(breaker).layer(bulkhead).service(service_fn(operation));
    c.benchmark_group("hot path").bench_function("tower-resilience stack", |b| {
        b.to_async(runtime).iter_custom(|iterations| drive(stack.clone(), iterations))
    });
}

fn hot_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    bare_semaphore(c, &runtime);
    bursar_run(c, &runtime);
    bursar_adaptive_run(c, &runtime);
    bursar_keyed_call(c, &runtime);
    bursar_kept_breaker(c, &runtime);
    tower_stack(c, &runtime);
    tower_resilience_stack(c, &runtime);
}

criterion_group!(benches, hot_path);
criterion_main!(benches);

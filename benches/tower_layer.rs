//! `GovernorLayer` beside tower's own middleware, as a service's readiness and call drive them:
//! `ready().await`, then `call(request).await`, one request at a time on a current-thread
//! runtime.
//!
//! - `bursar GovernorLayer` (one attempt; the governor's worker limit and max task duration)
//!   beside `tower concurrency_limit + timeout`;
//! - `bursar GovernorLayer, retry` (3 attempts, the governor's backoff and retry budget)
//!   beside `tower retry + concurrency_limit + timeout`.
//!
//! Every request succeeds at once, so each row counts its middleware. Needs the `tower`
//! feature: `cargo bench --features tower --bench tower_layer`.

use bursar::tower::GovernorLayer;
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use tower::{BoxError, Service, ServiceBuilder, service_fn};

#[path = "support/tower_peers.rs"]
mod tower_peers;
use tower_peers::{ATTEMPTS, Attempts, TIMEOUT, WORKERS, drive, operation};

const GROUP: &str = "tower layer";

fn row<S>(c: &mut Criterion, runtime: &Runtime, name: &str, service: S)
where
    S: Service<u64, Response = u64> + Clone + 'static,
    S::Error: std::fmt::Debug,
{
    c.benchmark_group(GROUP).bench_function(name, |b| {
        b.to_async(runtime).iter_custom(|iterations| drive(service.clone(), iterations))
    });
}

fn tower_layer(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let gov = runtime.block_on(async {
        bursar::Governor::builder()
            .max_workers(WORKERS)
            .max_attempts(ATTEMPTS)
            .health(bursar::health::HealthConfig::disabled())
            .build()
            .expect("a valid governor")
    });
    let inner = || service_fn(|value: u64| async move { operation(value).await.map_err(BoxError::from) });

    let governed = ServiceBuilder::new().layer(GovernorLayer::new(&gov)).service(inner());
    row(c, &runtime, "bursar GovernorLayer", governed);
    let limited = ServiceBuilder::new().concurrency_limit(WORKERS).timeout(TIMEOUT).service(inner());
    row(c, &runtime, "tower concurrency_limit + timeout", limited);

    let governed = ServiceBuilder::new().layer(GovernorLayer::new(&gov).retry()).service(inner());
    row(c, &runtime, "bursar GovernorLayer, retry", governed);
    let limited = ServiceBuilder::new()
        .retry(Attempts(ATTEMPTS))
        .concurrency_limit(WORKERS)
        .timeout(TIMEOUT)
        .service(inner());
    row(c, &runtime, "tower retry + concurrency_limit + timeout", limited);
}

criterion_group!(benches, tower_layer);
criterion_main!(benches);

//! A fleet lease over loopback beside the floor, a plain Redis `INCR` round trip, on the same
//! kind of connection (redis-rs's `ConnectionManager`, as `RedisBackend` holds) and the same
//! current-thread runtime:
//!
//! - `INCR (floor)`: one command, one round trip;
//! - `lease acquire + release`: `RedisBackend::acquire` then `release`, two Lua scripts, two
//!   round trips (the least a lease can cost: one to take it, one to give it back);
//! - `gov.run with a fleet lease`: a governed call whose attempt takes a lease (the lease task:
//!   acquire, the operation, release).
//!
//! Needs a Redis at `REDIS_URL` (e.g. `redis://127.0.0.1:6390`); without it every row is
//! skipped with a message, so `cargo bench --no-run` and a bench run without Redis still work.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use redis::aio::ConnectionManager;
use tokio::runtime::Runtime;

use bursar::fleet::{Acquire, FleetBackend, FleetConfig, LeaseRequest, OnBackendDown, RedisBackend};
use bursar::health::HealthConfig;

/// Large enough that every acquire is granted: the row measures the round trips, not a wait.
const CAP: u32 = 1_000_000;
const TTL: Duration = Duration::from_secs(10);

fn resource() -> String {
    format!("bench-{}", std::process::id())
}

fn incr_floor(c: &mut Criterion, runtime: &Runtime, url: &str) {
    let client = redis::Client::open(url).expect("a redis URL");
    let connection: ConnectionManager =
        runtime.block_on(ConnectionManager::new(client)).expect("redis answers at REDIS_URL");
    let key = format!("{{{}}}:incr", resource());
    c.benchmark_group("fleet").bench_function("INCR (floor)", |b| {
        b.to_async(runtime).iter(|| {
            let mut connection = connection.clone();
            let key = key.clone();
            async move {
                let value: u64 =
                    redis::cmd("INCR").arg(&key).query_async(&mut connection).await.expect("redis answers");
                black_box(value)
            }
        })
    });
}

fn acquire_release(c: &mut Criterion, runtime: &Runtime, url: &str) {
    let backend = {
        let _inside = runtime.enter();
        RedisBackend::open(url).expect("a redis URL")
    };
    let (resource, next) = (resource(), AtomicU64::new(0));
    c.benchmark_group("fleet").bench_function("lease acquire + release", |b| {
        b.to_async(runtime).iter(|| async {
            let lease_id = format!("bench:{}", next.fetch_add(1, Relaxed));
            let lease = LeaseRequest::new(&resource, &lease_id, "bench", CAP, TTL);
            let granted = backend.acquire(lease).await.expect("redis answers");
            assert!(matches!(granted, Acquire::Granted { .. }), "{granted:?}");
            assert!(backend.release(&resource, &lease_id).await.expect("redis answers"));
        })
    });
}

fn governed_call(c: &mut Criterion, runtime: &Runtime, url: &str) {
    let gov = runtime.block_on(async {
        let backend = RedisBackend::open(url).expect("a redis URL");
        let fleet = FleetConfig::new(format!("{}-gov", resource()), CAP)
            .lease_ttl(TTL)
            .on_backend_down(OnBackendDown::FailClosed);
        bursar::Governor::builder()
            .health(HealthConfig::disabled())
            .max_attempts(1)
            .fleet(fleet)
            .fleet_backend(Arc::new(backend))
            .build()
            .expect("a valid governor")
    });
    c.benchmark_group("fleet").bench_function("gov.run with a fleet lease", |b| {
        b.to_async(runtime).iter(|| async {
            let leased =
                gov.run(|| async { Ok::<_, std::io::Error>(bursar::fleet::FencingToken::current()) }).await;
            black_box(leased.expect("a lease").expect("a token"))
        })
    });
}

fn fleet(c: &mut Criterion) {
    let Ok(url) = std::env::var("REDIS_URL") else {
        eprintln!(
            "benches/fleet.rs: REDIS_URL is not set (e.g. redis://127.0.0.1:6390); every fleet row is skipped"
        );
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    incr_floor(c, &runtime, &url);
    acquire_release(c, &runtime, &url);
    governed_call(c, &runtime, &url);
}

criterion_group!(benches, fleet);
criterion_main!(benches);

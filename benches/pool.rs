//! Pool checkout and return, warm: `get` a connection that is idle in the pool and drop the
//! lease, for one key and spread over 50 keys.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use bursar::pool::{Manager, Pool, PoolConfig};
use bursar::ports::PortLease;

/// Connections that cost nothing, so the bench measures the pool.
struct Free;

impl Manager for Free {
    type Key = u32;
    type Connection = u64;
    type Error = std::convert::Infallible;

    async fn create(&self, key: &u32, _ports: &[PortLease]) -> Result<u64, Self::Error> {
        Ok(u64::from(*key))
    }

    async fn check(&self, _connection: &mut u64) -> Result<(), Self::Error> {
        Ok(())
    }

    async fn destroy(&self, _connection: u64) {}
}

fn checkout(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let pool = runtime.block_on(async {
        let mut config = PoolConfig::default();
        config.max_total = 100;
        config.max_per_key = 2;
        let pool = Pool::builder(Free).config(config).build().unwrap();
        for key in 0..50 {
            drop(pool.get(key).await.unwrap()); // warm: one idle connection per key
        }
        pool
    });
    let mut group = c.benchmark_group("pool checkout + return, warm");
    group.bench_function("same key", |b| {
        b.to_async(&runtime).iter(|| async { black_box(*pool.get(7).await.unwrap()) })
    });
    let mut key = 0;
    group.bench_function("50 keys", |b| {
        b.to_async(&runtime).iter(|| {
            key = (key + 1) % 50;
            let pool = &pool;
            let this = key;
            async move { black_box(*pool.get(this).await.unwrap()) }
        })
    });
    group.finish();
}

criterion_group!(benches, checkout);
criterion_main!(benches);

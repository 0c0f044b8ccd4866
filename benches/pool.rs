//! Pool checkout and return, warm: `get` a connection that is idle in the pool and drop the
//! guard, for one key and spread over 50 keys — bursar beside deadpool (managed) and bb8.
//!
//! Every pool checks a connection before handing it out again (bursar's `check`, deadpool's
//! `recycle`, bb8's `is_valid` with its default `test_on_check_out`), and every check is free,
//! so the rows measure the pools. deadpool and bb8 are not keyed: their "50 keys" rows use one
//! pool per key in a `Vec`, which is what a user of those crates does to get per-session caps.
//!
//! One more bursar row takes key "b" while 10,000 `get`s wait on key "a", which is at its cap:
//! a return must not cost more because other keys have waiters, so it should match the plain
//! same-key row. The "with ports" rows use a pool whose connections each lease a `vnc` and a
//! `ws` port (the default port ranges, host check on), as a pool of browsers does: the ports
//! stay with the connection, so a warm checkout should cost what a checkout without them does.

use std::convert::Infallible;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use bursar::pool::{Pool, PoolConfig};
use bursar::ports::{PortAllocator, PortsConfig};

#[path = "support/free_pools.rs"]
mod free_pools;
use free_pools::{Free, FreeDeadpool};

const KEYS: u32 = 50;
/// Waiters on the capped key "a" in the row beside the plain checkout.
const WAITERS: usize = 10_000;

/// bb8's pool over the same free connections.
struct FreeBb8;

impl bb8::ManageConnection for FreeBb8 {
    type Connection = u64;
    type Error = Infallible;

    async fn connect(&self) -> Result<u64, Infallible> {
        Ok(7)
    }

    async fn is_valid(&self, _: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }

    fn has_broken(&self, _: &mut u64) -> bool {
        false
    }
}

fn checkout(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (pool, ported, deadpools, bb8s) = runtime.block_on(async {
        let mut config = PoolConfig::default();
        config.max_total = 100;
        config.max_per_key = 2;
        let pool = Pool::builder(Free).config(config.clone()).build().unwrap();
        config.ports = vec!["vnc".into(), "ws".into()];
        let allocator = std::sync::Arc::new(PortAllocator::new(&PortsConfig::default()).unwrap());
        let ported = Pool::builder(Free).config(config).ports(allocator).build().unwrap();
        let mut deadpools = Vec::new();
        let mut bb8s = Vec::new();
        for key in 0..KEYS {
            drop(pool.get(key).await.unwrap()); // warm: one idle connection per key
            drop(ported.get(key).await.unwrap());
            let deadpool: deadpool::managed::Pool<FreeDeadpool> =
                deadpool::managed::Pool::builder(FreeDeadpool).max_size(2).build().unwrap();
            drop(deadpool.get().await.unwrap());
            deadpools.push(deadpool);
            let bb8 = bb8::Pool::builder().max_size(2).min_idle(Some(0)).build(FreeBb8).await.unwrap();
            drop(bb8.get().await.unwrap());
            bb8s.push(bb8);
        }
        (pool, ported, deadpools, bb8s)
    });
    let (crowded, _capped) = runtime.block_on(crowded_pool());
    let mut group = c.benchmark_group("pool checkout + return, warm");
    group.bench_function("bursar, same key", |b| {
        b.to_async(&runtime).iter(|| async { black_box(*pool.get(7).await.unwrap()) })
    });
    group.bench_function("bursar, key b, 10,000 waiting on key a", |b| {
        b.to_async(&runtime).iter(|| async { black_box(*crowded.get(KEY_B).await.unwrap()) })
    });
    group.bench_function("bursar with ports, same key", |b| {
        b.to_async(&runtime).iter(|| async { black_box(*ported.get(7).await.unwrap()) })
    });
    group.bench_function("deadpool, same key", |b| {
        b.to_async(&runtime).iter(|| async { black_box(*deadpools[7].get().await.unwrap()) })
    });
    group.bench_function("bb8, same key", |b| {
        b.to_async(&runtime).iter(|| async { black_box(*bb8s[7].get().await.unwrap()) })
    });
    let mut key = 0;
    group.bench_function("bursar, 50 keys", |b| {
        b.to_async(&runtime).iter(|| {
            key = (key + 1) % KEYS;
            let (pool, this) = (&pool, key);
            async move { black_box(*pool.get(this).await.unwrap()) }
        })
    });
    group.bench_function("bursar with ports, 50 keys", |b| {
        b.to_async(&runtime).iter(|| {
            key = (key + 1) % KEYS;
            let (pool, this) = (&ported, key);
            async move { black_box(*pool.get(this).await.unwrap()) }
        })
    });
    group.bench_function("deadpool, 50 keys", |b| {
        b.to_async(&runtime).iter(|| {
            key = (key + 1) % KEYS;
            let pool = &deadpools[key as usize];
            async move { black_box(*pool.get().await.unwrap()) }
        })
    });
    group.bench_function("bb8, 50 keys", |b| {
        b.to_async(&runtime).iter(|| {
            key = (key + 1) % KEYS;
            let pool = &bb8s[key as usize];
            async move { black_box(*pool.get().await.unwrap()) }
        })
    });
    group.finish();
}

const KEY_A: u32 = 1;
const KEY_B: u32 = 2;

/// A pool where key "a" holds its one place and [`WAITERS`] `get`s wait for it (on tasks of the
/// runtime, which stay pending), and key "b" has an idle connection. Returns the lease of "a".
async fn crowded_pool() -> (Pool<Free>, bursar::pool::Lease<Free>) {
    let mut config = PoolConfig::default();
    (config.max_total, config.max_per_key) = (100, 1);
    config.checkout_timeout = std::time::Duration::from_secs(3600); // they wait through every row
    let pool = Pool::builder(Free).config(config).build().unwrap();
    let capped = pool.get(KEY_A).await.unwrap();
    drop(pool.get(KEY_B).await.unwrap());
    for _ in 0..WAITERS {
        let pool = pool.clone();
        drop(tokio::spawn(async move { drop(pool.get(KEY_A).await) }));
    }
    while pool.status().waiting < WAITERS {
        tokio::task::yield_now().await;
    }
    (pool, capped)
}

criterion_group!(benches, checkout);
criterion_main!(benches);

//! The governed call's hot path (free permit, first try succeeds) beside a bare
//! `tokio::sync::Semaphore` acquire/release around the same operation.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::sync::Semaphore;

fn hot_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let gov = runtime.block_on(async { bursar::Governor::builder().max_workers(10).build().unwrap() });
    let semaphore = Arc::new(Semaphore::new(10));

    let mut group = c.benchmark_group("governed call, hot path");
    group.bench_function("bare semaphore", |b| {
        b.to_async(&runtime).iter(|| async {
            let _permit = semaphore.acquire().await.unwrap();
            black_box(async { Ok::<_, std::io::Error>(black_box(1u64)) }.await)
        })
    });
    group.bench_function("bursar gov.run", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(gov.run(|| async { Ok::<_, std::io::Error>(black_box(1u64)) }).await)
        })
    });
    group.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);

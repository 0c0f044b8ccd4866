//! Throughput of fire-and-forget work: 1,000,000 small tasks through `gov.spawn` beside
//! `tokio::spawn` gated by a bare semaphore, on one multi-thread runtime (2 worker threads,
//! this machine's core count).
//!
//! One iteration spawns all 1,000,000 tasks from the runtime's `block_on` thread, dropping each
//! handle (fire and forget: a task's memory is freed as soon as it ends), and waits until the
//! last task has counted itself in a shared counter. Both rows allow 1024 tasks to run at once:
//!
//! - `bursar gov.spawn`: a governor with `max_workers(1024)` and `queue_limit(1_000_000)`.
//!   `gov.spawn` takes its queue place when it is called, and the spawning loop can run far
//!   ahead of the workers, so the queue is sized to hold every task of an iteration: a smaller
//!   one could reject part of the loop with `QueueFull` and time less work than the peer does.
//!   Health sampling is off so no sample lands inside a measurement.
//! - `tokio::spawn + semaphore`: `Semaphore::new(1024)`; each spawned task calls
//!   `acquire_owned` on its clone of the semaphore before the work and drops the permit after.
//!
//! Each pair runs twice: spawned from the runtime's `block_on` thread (a thread outside the
//! runtime, whose spawns go to the shared injection queue) and from a task on one of the
//! runtime's workers (whose spawns go to that worker's own queue, from which the other worker
//! steals), the two shapes a service's spawning loop has.
//!
//! An iteration takes one to two seconds here, so the group takes 10 samples of one or two
//! iterations each (flat sampling) instead of criterion's default 100 growing ones.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use tokio::sync::{Notify, Semaphore};

/// Tasks per iteration.
const TASKS: usize = 1_000_000;
/// Tasks running at once on both rows.
const WORKERS: usize = 1024;

/// Counts finished tasks and wakes the spawning side when the last one is done.
#[derive(Default)]
struct Finished {
    count: AtomicUsize,
    all: Notify,
}

/// The work every task does: count itself, nothing else worth measuring.
async fn work(finished: Arc<Finished>) -> Result<u64, std::io::Error> {
    // AcqRel: the task that counts the last one must see every other count.
    if finished.count.fetch_add(1, Ordering::AcqRel) + 1 == TASKS {
        finished.all.notify_one();
    }
    Ok(black_box(1))
}

/// Spawns `TASKS` tasks with `spawn`, dropping each handle, and waits until all have run.
async fn batch(spawn: impl Fn(Arc<Finished>)) -> Duration {
    let finished = Arc::new(Finished::default());
    let started = Instant::now();
    for _ in 0..TASKS {
        spawn(Arc::clone(&finished));
    }
    finished.all.notified().await;
    started.elapsed()
}

async fn through_governor(gov: &bursar::Governor) -> Duration {
    batch(|finished| drop(gov.spawn(work(finished)).expect("admitted"))).await
}

async fn through_semaphore(semaphore: &Arc<Semaphore>) -> Duration {
    batch(|finished| {
        let semaphore = Arc::clone(semaphore);
        drop(tokio::spawn(async move {
            let _permit = semaphore.acquire_owned().await.expect("open");
            work(finished).await
        }));
    })
    .await
}

/// Runs `batch` once per iteration.
fn repeat<F: Future<Output = Duration>>(
    iterations: u64,
    runtime: &tokio::runtime::Runtime,
    batch: impl Fn() -> F,
) -> Duration {
    (0..iterations).map(|_| runtime.block_on(batch())).sum()
}

/// Runs `batch` once per iteration as a task on one of the runtime's workers.
fn repeat_on_worker<F: Future<Output = Duration> + Send + 'static>(
    iterations: u64,
    runtime: &tokio::runtime::Runtime,
    batch: impl Fn() -> F,
) -> Duration {
    (0..iterations).map(|_| runtime.block_on(runtime.spawn(batch())).expect("the loop ran")).sum()
}

fn spawn(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let gov = runtime.block_on(async {
        bursar::Governor::builder()
            .max_workers(WORKERS)
            .queue_limit(TASKS)
            .health(bursar::health::HealthConfig::disabled())
            .build()
            .expect("a valid governor")
    });
    let semaphore = Arc::new(Semaphore::new(WORKERS));

    let mut group = c.benchmark_group("spawn 1,000,000 tasks");
    group.sample_size(10).sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(25));
    group.bench_function("tokio::spawn + semaphore", |b| {
        b.iter_custom(|iterations| repeat(iterations, &runtime, || through_semaphore(&semaphore)))
    });
    group.bench_function("bursar gov.spawn", |b| {
        b.iter_custom(|iterations| repeat(iterations, &runtime, || through_governor(&gov)))
    });
    group.bench_function("tokio::spawn + semaphore, from a worker", |b| {
        b.iter_custom(|iterations| {
            repeat_on_worker(iterations, &runtime, || {
                let semaphore = Arc::clone(&semaphore);
                async move { through_semaphore(&semaphore).await }
            })
        })
    });
    group.bench_function("bursar gov.spawn, from a worker", |b| {
        b.iter_custom(|iterations| {
            repeat_on_worker(iterations, &runtime, || {
                let gov = gov.clone();
                async move { through_governor(&gov).await }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, spawn);
criterion_main!(benches);

//! The cost of one default health sample (system CPU, memory and this process's threads,
//! through `sysinfo` on a blocking thread), after the first sample has primed it.

use criterion::{Criterion, criterion_group, criterion_main};

use bursar::health::{Sampler, SystemSampler};

fn one_sample(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut sampler = SystemSampler::new();
    runtime.block_on(sampler.sample()); // the first sample waits 200 ms to measure CPU
    c.bench_function("health: one default sample", |b| {
        b.iter(|| runtime.block_on(sampler.sample()));
    });
}

criterion_group!(benches, one_sample);
criterion_main!(benches);

//! Adaptive concurrency (issue 21): the simulation of `support/sim.rs` through a real governor.

#[path = "support/sim.rs"]
mod sim;

#[path = "support/plot.rs"]
mod plot;

use bursar::LimitKind;
use sim::{Limiter, MAIN, Scenario, Trace, figures, first_second, limit_at_most};

/// The per-phase figures and the transitions, as printed for BENCHMARKS.md.
fn report(name: &str, trace: &Trace) {
    for (phase, (from, to)) in [(20.0, 60.0), (80.0, 120.0), (140.0, 180.0)].into_iter().enumerate() {
        let f = figures(trace, from, to);
        println!(
            "{name} phase {}: goodput {:.1}/s p99 {:.0} ms limit mean {:.2} cv {:.3} rejected {}",
            phase + 1,
            f.goodput,
            f.p99_ms,
            f.mean_limit,
            f.limit_cv,
            f.rejected
        );
    }
    println!(
        "{name}: limit <= 7 after {:?} s; p99 {:.0} ms over 64-74 s; goodput >= 144 in second {:?} after 120 s",
        limit_at_most(trace, 60.0, 7),
        figures(trace, 64.0, 74.0).p99_ms,
        first_second(trace, 120.0, 40, |f| f.goodput >= 144.0),
    );
    println!(
        "{name}: overload errors {}, {} calls, {} attempts, retries {} (+{:.1} % load)",
        trace.overloads,
        trace.calls.len(),
        trace.attempts,
        trace.retries,
        100.0 * trace.retries as f64 / (trace.attempts - trace.retries) as f64
    );
}

const PHASES: [(f64, f64); 3] = [(20.0, 60.0), (80.0, 120.0), (140.0, 180.0)];

/// The bars for phase `phase` with capacity `c`: goodput ≥ 92 % of `c` × 10 per
/// second, p99 ≤ 300 ms, mean limit within [C, 1.5C + 1], coefficient of variation ≤ 0.15.
fn assert_phase(trace: &Trace, phase: usize, c: f64) {
    let (from, to) = PHASES[phase];
    let f = figures(trace, from, to);
    assert!(f.goodput >= 0.92 * c * 10.0, "phase {}: goodput {:.1}/s", phase + 1, f.goodput);
    assert!(f.p99_ms <= 300.0, "phase {}: p99 {:.0} ms", phase + 1, f.p99_ms);
    assert!(
        (c..=1.5 * c + 1.0).contains(&f.mean_limit),
        "phase {}: mean limit {:.2}",
        phase + 1,
        f.mean_limit
    );
    assert!(f.limit_cv <= 0.15, "phase {}: limit cv {:.3}", phase + 1, f.limit_cv);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn gradient_meets_every_bar_of_the_simulation() {
    let trace = sim::run(MAIN, Limiter::Bursar(LimitKind::Gradient), 21).await;
    report("gradient", &trace);
    plot::assert_current("bursar gradient", &trace);
    for (phase, c) in [10.0, 4.0, 16.0].into_iter().enumerate() {
        assert_phase(&trace, phase, c);
    }
    // After 10 → 4: the limit at most 7 within 3 s, p99 within 300 ms from the 4th second on
    // (over the next 10 s: a p99 of one second's 38 calls would be their maximum).
    assert!(limit_at_most(&trace, 60.0, 7).is_some_and(|after| after <= 3.0));
    assert!(figures(&trace, 64.0, 74.0).p99_ms <= 300.0, "{:?}", figures(&trace, 64.0, 74.0));
    // After 4 → 16: 144 per second within the SLO by the 5th second.
    assert!(first_second(&trace, 120.0, 40, |f| f.goodput >= 144.0).is_some_and(|second| second <= 4));
    assert_eq!(trace.overloads, 0, "the backend never had to refuse");
    assert!(
        trace.retries as f64 <= 0.1 * (trace.attempts - trace.retries) as f64,
        "retries add at most 10 %"
    );
}

/// A fixed limit of 10 on the same trace: the simulation tells the difference.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_fixed_limit_of_ten_misses_the_capacity_changes() {
    let trace = sim::run(MAIN, Limiter::Fixed(10), 21).await;
    report("fixed 10", &trace);
    plot::assert_current("fixed 10", &trace);
    assert!(figures(&trace, 80.0, 120.0).p99_ms > 300.0, "queued behind C = 4");
    assert!(figures(&trace, 140.0, 180.0).goodput < 0.92 * 160.0, "C = 16 left unused");
}

const STEADY: Scenario = Scenario { seconds: 60, capacity: &[(0, 10)], ..MAIN };

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn two_percent_fast_errors_move_the_steady_limit_by_less_than_a_tenth() {
    let clean = figures(&sim::run(STEADY, Limiter::Bursar(LimitKind::Gradient), 7).await, 20.0, 60.0);
    let broken = Scenario { fast_errors: 0.02, ..STEADY };
    let noisy = figures(&sim::run(broken, Limiter::Bursar(LimitKind::Gradient), 7).await, 20.0, 60.0);
    println!("mean limit {:.2} clean, {:.2} with 2 % fast errors", clean.mean_limit, noisy.mean_limit);
    assert!((noisy.mean_limit / clean.mean_limit - 1.0).abs() < 0.1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_slower_dependency_gets_its_limit_back_within_ten_seconds() {
    let slower = Scenario { service: &[(0, 100.0), (30, 180.0)], ..STEADY };
    let trace = sim::run(slower, Limiter::Bursar(LimitKind::Gradient), 7).await;
    // Back to 0.8 C within 10 s: each second's mean limit from 40 s on (a probe's moment
    // below it is the algorithm measuring, not the limit lost).
    let means: Vec<f64> =
        (40..60).map(|second| figures(&trace, second as f64, second as f64 + 1.0).mean_limit).collect();
    let lowest = means.iter().copied().fold(f64::INFINITY, f64::min);
    println!("service 100 → 180 ms at 30 s: lowest 1-s mean limit from 40 s on {lowest:.2}");
    assert!(lowest >= 8.0, "{means:?}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn at_six_tenths_of_capacity_nothing_is_rejected_and_a_seed_gives_one_trace() {
    let light = Scenario { arrivals_per_sec: 0.6 * sim::capacity_per_sec(10, 100.0), ..STEADY };
    let trace = sim::run(light, Limiter::Bursar(LimitKind::Gradient), 3).await;
    let steady = figures(&trace, 20.0, 60.0);
    let all = figures(&trace, 0.0, 61.0);
    println!(
        "0.6 x capacity: {} rejected from 20 s on, {} in all (ramp-up from min_workers included)",
        steady.rejected, all.rejected
    );
    // The bar: none, once the limit has grown from `min_workers` (about 2,300 calls).
    assert_eq!(steady.rejected, 0, "{steady:?}");
    let again = sim::run(light, Limiter::Bursar(LimitKind::Gradient), 3).await;
    assert_eq!((again.calls, again.limits), (trace.calls, trace.limits));
}

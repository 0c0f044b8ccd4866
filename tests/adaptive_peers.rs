//! The simulation of `tests/adaptive.rs` with the peers' adaptive limiters, for the table in
//! BENCHMARKS.md: `cargo test --test adaptive_peers -- --ignored --nocapture`.
//!
//! Both peers time requests with `std::time::Instant`, which the paused clock does not move,
//! so their algorithms are fed the simulated latency of each attempt through their public
//! traits (tower-resilience's `ConcurrencyAlgorithm`, tower-acc's `Algorithm`), and their
//! limit is applied to the same governor with `set_max_workers`: the same lane, queue, retry
//! and backend as bursar's own algorithms.
//!
//! It also draws `docs/adaptive.svg` (`support/plot.rs`): bursar's gradient, the fixed limit
//! and each peer, from the same runs. `tests/adaptive.rs` checks in every plain `cargo test`
//! that the committed plot still shows bursar's own runs as they are.

#[path = "support/sim.rs"]
mod sim;

#[path = "support/plot.rs"]
mod plot;

use std::time::Duration;

use bursar::LimitKind;
use sim::{Fault, Limiter, MAIN, Peer, figures, first_second, limit_at_most};
use tower_resilience::adaptive::ConcurrencyAlgorithm;

struct Resilience(&'static str, Box<dyn ConcurrencyAlgorithm>);

impl Peer for Resilience {
    fn name(&self) -> String {
        self.0.to_owned()
    }
    fn record(&mut self, latency: Duration, fault: Option<Fault>, _in_flight: usize) {
        match fault {
            None => self.1.record_success(latency),
            Some(Fault::Overloaded) => self.1.record_dropped(),
            Some(Fault::Broken) => self.1.record_failure(),
        }
    }
    fn limit(&self) -> usize {
        self.1.limit()
    }
}

struct Acc<A>(&'static str, A);

impl<A: tower_acc::Algorithm + Send> Peer for Acc<A> {
    fn name(&self) -> String {
        self.0.to_owned()
    }
    fn record(&mut self, latency: Duration, fault: Option<Fault>, in_flight: usize) {
        self.1.update(latency, in_flight, fault.is_some(), false);
    }
    fn limit(&self) -> usize {
        self.1.max_concurrency()
    }
}

fn row(name: &str, trace: &sim::Trace) {
    let phases: Vec<String> = [(20.0, 60.0), (80.0, 120.0), (140.0, 180.0)]
        .into_iter()
        .map(|(from, to)| {
            let f = figures(trace, from, to);
            format!("{:.1} | {:.0} | {:.1} | {:.2}", f.goodput, f.p99_ms, f.mean_limit, f.limit_cv)
        })
        .collect();
    println!(
        "| {name} | {} | {} | {:?} | {:.0} | {:?} |",
        phases.join(" | "),
        trace.overloads,
        limit_at_most(trace, 60.0, 7).map(|s| (s * 10.0).round() / 10.0),
        figures(trace, 64.0, 74.0).p99_ms,
        first_second(trace, 120.0, 40, |f| f.goodput >= 144.0),
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
#[ignore = "the comparison table and the plot of BENCHMARKS.md: eight runs of 180 simulated seconds"]
async fn the_comparison_table() {
    println!(
        "| limiter | p1 goodput | p1 p99 | p1 limit | p1 cv | p2 goodput | p2 p99 | p2 limit | p2 cv | p3 goodput | p3 p99 | p3 limit | p3 cv | overloads | limit ≤ 7 after (s) | p99 64–74 s | 144/s in second |"
    );
    let mut drawn: Vec<(String, sim::Trace)> = Vec::new();
    for (name, limiter) in [
        ("bursar gradient", Limiter::Bursar(LimitKind::Gradient)),
        ("bursar vegas", Limiter::Bursar(LimitKind::Vegas)),
        ("bursar aimd", Limiter::Bursar(LimitKind::Aimd)),
        ("fixed 10", Limiter::Fixed(10)),
    ] {
        let trace = sim::run(MAIN, limiter, 21).await;
        row(name, &trace);
        if matches!(name, "bursar gradient" | "fixed 10") {
            drawn.push((name.to_owned(), trace));
        }
    }
    let resilience_aimd = tower_resilience::adaptive::Aimd::builder()
        .max_limit(200)
        .latency_threshold(Duration::from_millis(300))
        .build()
        .expect("a valid AIMD");
    let resilience_vegas =
        tower_resilience::adaptive::Vegas::builder().max_limit(200).build().expect("a valid Vegas");
    let peers: Vec<Box<dyn Peer>> = vec![
        Box::new(Resilience("tower-resilience AIMD", Box::new(resilience_aimd))),
        Box::new(Resilience("tower-resilience Vegas", Box::new(resilience_vegas))),
        Box::new(Acc("tower-acc Gradient2", tower_acc::Gradient2::default())),
        Box::new(Acc("tower-acc Vegas", tower_acc::Vegas::default())),
        Box::new(Acc("tower-acc AIMD", tower_acc::Aimd::default())),
    ];
    for peer in peers {
        let name = peer.name();
        let trace = sim::run(MAIN, Limiter::Peer(peer), 21).await;
        row(&name, &trace);
        drawn.push((name, trace));
    }
    let rows: Vec<(&str, &sim::Trace)> = drawn.iter().map(|(name, trace)| (name.as_str(), trace)).collect();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(plot::PLOT);
    std::fs::write(&path, plot::plot(&rows)).expect("the plot is written");
    println!("wrote {}", path.display());
}

//! The main job: 100 browser-like jobs through one governor of 10 workers.
//!
//! Each job simulates a browser session: random latency, sometimes a driver error, now and
//! then a hang (cut off by the max task duration) or a panic (contained). Progress is printed
//! while it runs; the final status is printed as JSON.
//!
//! Run it with `cargo run --example quickstart`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bursar::{Error, Governor};

const JOBS: u64 = 100;

/// The ways a simulated browser job can end.
#[derive(Debug)]
enum BrowserError {
    ConnectionClosed,
}

impl std::fmt::Display for BrowserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed while reading from the driver")
    }
}

/// One simulated browser job: every tenth loses its driver connection, three hang, two panic.
async fn browse(job: u64, latency: Duration) -> Result<String, BrowserError> {
    tokio::time::sleep(latency).await;
    match job {
        _ if job % 10 == 3 => Err(BrowserError::ConnectionClosed),
        _ if job % 33 == 5 => std::future::pending().await, // a hung page: the max task duration ends it
        _ if job % 45 == 20 => panic!("job {job}: the page script crashed the driver"),
        _ => Ok(format!("job {job}: page loaded")),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter("bursar=warn").with_target(false).with_ansi(colour).init();
    std::panic::set_hook(Box::new(|_| {})); // panics are reported by bursar; keep the output readable

    let gov = Governor::builder()
        .max_workers(10)
        .queue_limit(200)
        .max_task_duration(Duration::from_secs(3))
        .build()?;
    println!("bursar quickstart: {JOBS} browser jobs through {} workers\n", gov.status().workers.max_workers);

    let tally = Arc::new(Tally::default());
    let progress = tokio::spawn(print_progress(gov.clone(), Arc::clone(&tally)));
    let mut rng = XorShift(0x5eed_cafe);
    let mut jobs = tokio::task::JoinSet::new();
    for job in 0..JOBS {
        let (gov, tally) = (gov.clone(), Arc::clone(&tally));
        let latency = Duration::from_millis(100 + rng.next() % 600);
        jobs.spawn(async move {
            let result = gov.run(|| browse(job, latency)).await;
            tally.record(&result);
        });
    }
    while jobs.join_next().await.is_some() {}
    progress.abort();

    let report = gov.shutdown(Duration::from_secs(5)).await;
    println!("\n{}", tally.summary());
    println!(
        "shutdown: {} finished, {} cancelled in {:?}\n",
        report.finished, report.cancelled, report.elapsed
    );
    println!("status:\n{}", serde_json::to_string_pretty(&gov.status())?);
    let status = gov.status().workers;
    assert_eq!(status.completed + status.failed, JOBS, "every job is accounted for");
    Ok(())
}

/// Prints one progress line every half second.
async fn print_progress(gov: Governor, tally: Arc<Tally>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let workers = gov.status().workers;
        println!(
            "[{:>3}/{JOBS}] ok {:>3}  failed {:>3}  | active {:>2}  queued {:>3}",
            tally.done(),
            tally.ok.load(Ordering::Relaxed),
            tally.done() - tally.ok.load(Ordering::Relaxed),
            workers.active,
            workers.queued,
        );
    }
}

#[derive(Debug, Default)]
struct Tally {
    ok: AtomicU64,
    driver_errors: AtomicU64,
    timeouts: AtomicU64,
    panics: AtomicU64,
}

impl Tally {
    fn record(&self, result: &Result<String, Error<BrowserError>>) {
        let counter = match result {
            Ok(_) => &self.ok,
            Err(Error::Operation(_)) => &self.driver_errors,
            Err(Error::Timeout { .. }) => &self.timeouts,
            Err(_) => &self.panics,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn done(&self) -> u64 {
        [&self.ok, &self.driver_errors, &self.timeouts, &self.panics]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    fn summary(&self) -> String {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        format!(
            "summary\n  succeeded       {:>3}\n  driver errors   {:>3}\n  hung, timed out {:>3}\n  panicked        {:>3}\n  total           {:>3}",
            get(&self.ok),
            get(&self.driver_errors),
            get(&self.timeouts),
            get(&self.panics),
            self.done()
        )
    }
}

/// A tiny deterministic random source for latencies, so every run tells the same story.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

//! The main job: 100 browser-like jobs through one governor of 10 workers.
//!
//! Each job takes a pooled browser session (keyed by user, with a leased VNC and websocket
//! port) and loads a page: random latency, sometimes a dropped driver connection (transient:
//! the session is discarded and the job retried with backoff on a fresh one), a missing page
//! (permanent: not retried), now and then a hang (cut off by the max task duration) or a
//! panic (contained). Progress is printed while it runs; the final status is printed as JSON.
//!
//! Run it with `cargo run --example quickstart`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use bursar::health::HealthConfig;
use bursar::pool::{Lease, Manager, Pool};
use bursar::ports::PortLease;
use bursar::retry::{ExponentialBackoff, Jitter};
use bursar::{Error, Governor};

const JOBS: u64 = 100;

/// The ways a simulated browser job can fail.
#[derive(Debug)]
enum BrowserError {
    /// Transient: a fresh attempt usually works.
    ConnectionClosed,
    /// Permanent: trying again changes nothing.
    PageNotFound,
}

impl BrowserError {
    fn is_transient(&self) -> bool {
        matches!(self, BrowserError::ConnectionClosed)
    }
}

impl std::fmt::Display for BrowserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BrowserError::ConnectionClosed => "connection closed while reading from the driver",
            BrowserError::PageNotFound => "404: the page is gone",
        })
    }
}

/// A simulated browser session on its own VNC and websocket ports.
#[derive(Debug)]
struct Browser {
    vnc: u16,
    ws: u16,
}

/// Starts, checks and quits simulated browsers (a real one would start chromedriver on the
/// leased ports and open a WebDriver session).
struct Browsers;

impl Manager for Browsers {
    type Key = String;
    type Connection = Browser;
    type Error = std::io::Error;

    async fn create(&self, _user: &String, ports: &[PortLease]) -> Result<Browser, Self::Error> {
        tokio::time::sleep(Duration::from_millis(50)).await; // the browser starting
        Ok(Browser { vnc: ports[0].port(), ws: ports[1].port() })
    }

    async fn check(&self, _browser: &mut Browser) -> Result<(), Self::Error> {
        Ok(())
    }

    async fn destroy(&self, _browser: Browser) {}
}

/// One job attempt: a pooled session for the user, then the page.
async fn job_attempt(
    pool: &Pool<Browsers>,
    job: u64,
    attempt: u32,
    latency: Duration,
) -> Result<String, BrowserError> {
    let user = format!("user-{}", job % 12);
    let session = pool.get(user).await.map_err(|_| BrowserError::ConnectionClosed)?;
    let (vnc, ws) = (session.vnc, session.ws);
    let result = browse(job, attempt, latency).await;
    if let Err(BrowserError::ConnectionClosed) = result {
        Lease::discard(session); // a broken session is not given to the next job
    }
    result.map(|page| format!("{page} (browser on vnc {vnc}, ws {ws})"))
}

/// One attempt of a simulated browser job. Every fifth job loses its driver connection on
/// the first attempt (one in twenty on every attempt), one in eight pages is gone, three hang
/// and two panic.
async fn browse(job: u64, attempt: u32, latency: Duration) -> Result<String, BrowserError> {
    tokio::time::sleep(latency).await;
    match job {
        _ if job % 20 == 3 => Err(BrowserError::ConnectionClosed),
        _ if job % 5 == 1 && attempt == 1 => Err(BrowserError::ConnectionClosed),
        _ if job % 8 == 6 => Err(BrowserError::PageNotFound),
        _ if job % 33 == 5 => std::future::pending().await, // a hung page: the max task duration ends it
        _ if job % 45 == 20 => panic!("job {job}: the page script crashed the driver"),
        _ => Ok(format!("job {job}: page loaded after {attempt} attempt(s)")),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter("bursar=warn").with_target(false).with_ansi(colour).init();
    std::panic::set_hook(Box::new(|_| {})); // bursar reports the two panics; keep the output readable

    let gov = Governor::builder()
        .max_workers(10)
        .queue_limit(200)
        .max_task_duration(Duration::from_secs(8))
        .backoff(
            ExponentialBackoff::new()
                .with_initial_delay(Duration::from_millis(500))
                .with_jitter(Jitter::Full),
        )
        .health(quick_health())
        .build()?;
    println!("bursar quickstart: {JOBS} browser jobs through {} workers\n", gov.status().workers.max_workers);

    let mut pool_config = gov.pool_config();
    pool_config.ports = vec!["vnc".into(), "ws".into()];
    let browsers = gov.pool("browsers", Browsers).config(pool_config).build()?;
    let tally = Arc::new(Tally::default());
    let progress = tokio::spawn(print_progress(gov.clone(), Arc::clone(&tally)));
    let health = tokio::spawn(print_health_changes(gov.clone()));
    let mut rng = XorShift(0x5eed_cafe);
    let mut jobs = tokio::task::JoinSet::new();
    for job in 0..JOBS {
        let (gov, tally, browsers) = (gov.clone(), Arc::clone(&tally), browsers.clone());
        let latency = Duration::from_millis(100 + rng.next() % 600);
        jobs.spawn(async move {
            let attempts = AtomicU32::new(0);
            let result = gov
                .call(|| job_attempt(&browsers, job, attempts.fetch_add(1, Ordering::Relaxed) + 1, latency))
                .when(BrowserError::is_transient)
                .name("browse")
                .await;
            tally.record(&result);
        });
    }
    while jobs.join_next().await.is_some() {}
    progress.abort();
    health.abort();

    let report = gov.shutdown(Duration::from_secs(5)).await;
    println!("\n{}", tally.summary());
    println!(
        "shutdown: {} finished, {} cancelled in {:?}\n",
        report.finished, report.cancelled, report.elapsed
    );
    println!("status:\n{}", serde_json::to_string_pretty(&gov.status())?);
    let status = gov.status().workers;
    assert_eq!(status.completed + status.failed + status.rejected, JOBS, "every job is accounted for");
    Ok(())
}

/// The health monitor, sped up for a short demo: a sample every second, the error rate over
/// the last 5 s. The failures below push the error rate past 10 %: the level turns
/// `degraded` and the worker limit shrinks to 8 until it recovers.
fn quick_health() -> HealthConfig {
    let mut health = HealthConfig::default();
    health.interval = Duration::from_secs(1);
    health.error_window = Duration::from_secs(5);
    health.error_min_calls = 10;
    health
}

/// Prints a line whenever the health level changes.
async fn print_health_changes(gov: Governor) {
    let mut level = gov.watch_health();
    while level.changed().await.is_ok() {
        let now = *level.borrow_and_update();
        let workers = gov.status().workers;
        println!(
            "  >> health is now {now}: worker limit {} of {}",
            workers.effective_limit, workers.max_workers
        );
    }
}

/// Prints one progress line every half second.
async fn print_progress(gov: Governor, tally: Arc<Tally>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let workers = gov.status().workers;
        println!(
            "[{:>3}/{JOBS}] ok {:>3}  failed {:>3}  | active {:>2}/{:<2} queued {:>3}  retrying {:>2}  retries {:>3}  | sessions {:>2}  | health {}",
            tally.done(),
            tally.ok.load(Ordering::Relaxed),
            tally.done() - tally.ok.load(Ordering::Relaxed),
            workers.active,
            workers.effective_limit,
            workers.queued,
            workers.retrying,
            workers.retries,
            gov.status().pool.total_active_connections,
            gov.health_level(),
        );
    }
}

#[derive(Debug, Default)]
struct Tally {
    ok: AtomicU64,
    driver_errors: AtomicU64,
    missing_pages: AtomicU64,
    shed: AtomicU64,
    timeouts: AtomicU64,
    panics: AtomicU64,
}

impl Tally {
    fn record(&self, result: &Result<String, Error<BrowserError>>) {
        let counter = match result {
            Ok(_) => &self.ok,
            Err(Error::Operation(BrowserError::ConnectionClosed)) => &self.driver_errors,
            Err(Error::Operation(BrowserError::PageNotFound)) => &self.missing_pages,
            Err(Error::Timeout { .. }) => &self.timeouts,
            Err(Error::Rejected(_)) => &self.shed,
            Err(_) => &self.panics,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn done(&self) -> u64 {
        [&self.ok, &self.driver_errors, &self.missing_pages, &self.timeouts, &self.panics, &self.shed]
            .iter()
            .map(|counter| counter.load(Ordering::Relaxed))
            .sum()
    }

    fn summary(&self) -> String {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        format!(
            "summary\n  succeeded                 {:>3}\n  driver errors (3 tries)   {:>3}\n  page gone (not retried)   {:>3}\n  hung, timed out           {:>3}\n  panicked                  {:>3}\n  shed (health critical)    {:>3}\n  total                     {:>3}",
            get(&self.ok),
            get(&self.driver_errors),
            get(&self.missing_pages),
            get(&self.timeouts),
            get(&self.panics),
            get(&self.shed),
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

//! A worker: one replica of the service, a governor whose calls lease from the fleet.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bursar::Governor;
use bursar::fleet::{FencingToken, FleetBackend, FleetConfig, OnBackendDown, RedisBackend};
use bursar::health::HealthConfig;
use bursar::retry::ExponentialBackoff;

use super::{CAP, service};

/// Jobs each worker runs.
const JOBS: u32 = 16;
/// Local workers of each replica: together more than the fleet's cap.
const LOCAL_WORKERS: usize = 4;

/// Runs the jobs of worker `number`; prints `+`/`-` around each call's time under its lease, a
/// line per failed job, and a summary.
pub(crate) async fn run(number: &str) -> ExitCode {
    match jobs().await {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("worker {number} failed: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn jobs() -> Result<String, Box<dyn std::error::Error>> {
    let service: SocketAddr = std::env::var("SERVICE")?.parse()?;
    let backend = RedisBackend::open(&std::env::var("REDIS_URL")?)?;
    let fleet = FleetConfig::new("browsers", CAP)
        .lease_ttl(Duration::from_secs(3))
        .on_backend_down(OnBackendDown::FailClosed);
    let gov = Governor::builder()
        .max_workers(LOCAL_WORKERS)
        .max_attempts(4)
        .backoff(ExponentialBackoff::new().with_initial_delay(Duration::from_millis(50)))
        .health(HealthConfig::disabled())
        .fleet(fleet)
        .fleet_backend(Arc::new(backend) as Arc<dyn FleetBackend>)
        .build()?;
    let attempts = Arc::new(AtomicU32::new(0));
    let mut jobs = tokio::task::JoinSet::new();
    for job in 1..=JOBS {
        let (gov, attempts) = (gov.clone(), Arc::clone(&attempts));
        jobs.spawn(async move {
            let page = gov
                .run(|| {
                    attempts.fetch_add(1, Ordering::Relaxed);
                    leased(service, job)
                })
                .await;
            (job, page)
        });
    }
    let (mut ok, mut tokens) = (0, Vec::new());
    while let Some(done) = jobs.join_next().await {
        match done? {
            (_, Ok(token)) => {
                ok += 1;
                tokens.push(token);
            }
            (job, Err(error)) => println!("job {job} failed: {error}"),
        }
    }
    tokens.sort_unstable();
    let fleet = gov.status().fleet.ok_or("a fleet section")?;
    gov.shutdown(Duration::from_secs(5)).await;
    let retries = attempts.load(Ordering::Relaxed) - JOBS;
    Ok(format!(
        "{ok}/{JOBS} jobs ok; retries: {retries}; leases taken: {}; tokens {}..={}; live instances at the end: {}",
        fleet.acquired,
        tokens.first().copied().unwrap_or(0),
        tokens.last().copied().unwrap_or(0),
        fleet.live_instances.unwrap_or(0),
    ))
}

/// One attempt of a job, under its lease: fetches a page, and says when it held the lease.
async fn leased(service: SocketAddr, job: u32) -> Result<u64, std::io::Error> {
    let token = FencingToken::current().map_or(0, FencingToken::get);
    println!("+ {}", wall_ns());
    let page = service::fetch(service, job).await;
    println!("- {}", wall_ns());
    page.map(|()| token)
}

/// The wall clock in nanoseconds: one clock for the processes of one machine.
fn wall_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos())
}

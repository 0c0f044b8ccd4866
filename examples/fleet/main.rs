//! One cap across processes: three processes share a fleet-wide cap of 6 browsers on Redis.
//!
//! The example starts a small flaky HTTP service on 127.0.0.1 (slow, and now and then it drops
//! a connection mid-answer), then runs this program three more times as workers. Each worker
//! is a service replica: a governor of 4 workers whose calls take a lease on the fleet resource
//! `browsers`, capped at 6 across all of them — 12 local workers, 6 browsers at a time. Each
//! worker runs 16 jobs against the service; a dropped connection is retried with backoff.
//!
//! While they run, the parent prints who holds what, live, from the workers' own reports:
//! `w1 ██ w2 ██ w3 ██ = 6/6`. At the end it prints each worker's jobs, tokens and retries,
//! and the most leases held at once, fleet-wide (never more than 6).
//!
//! Redis: with `REDIS_URL` set (e.g. `redis://127.0.0.1:6379`) it uses that server; without
//! it, it starts a private `redis-server` (Debian: `apt-get install redis-server`; any Redis
//! 7 or later) on a free port, without persistence, and stops it at the end.
//!
//! Run it with `cargo run --features redis --example fleet` (a few seconds).

mod redis_server;
mod service;
mod worker;

use std::collections::BTreeMap;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

/// The environment variable that makes this program a worker, and its number.
const ROLE: &str = "BURSAR_FLEET_WORKER";
/// Processes sharing the cap.
const WORKERS: usize = 3;
/// The fleet-wide cap on browsers.
const CAP: u32 = 6;

#[tokio::main]
async fn main() -> ExitCode {
    if let Ok(number) = std::env::var(ROLE) {
        return worker::run(&number).await;
    }
    match run_fleet().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("fleet example: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Starts Redis (unless given), the service and the workers; follows them; true if the cap held.
async fn run_fleet() -> Result<bool, Box<dyn std::error::Error>> {
    let redis = redis_server::Redis::from_env_or_start().await?;
    let service = service::start().await?;
    println!("redis {}, flaky service on {service}, {WORKERS} workers sharing a cap of {CAP}", redis.url());
    let (reports, mut lines) = mpsc::unbounded_channel();
    let mut children = Vec::new();
    for number in 1..=WORKERS {
        let mut child = Command::new(std::env::current_exe()?)
            .env(ROLE, number.to_string())
            .env("REDIS_URL", redis.url())
            .env("SERVICE", service.to_string())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().ok_or("a piped stdout")?;
        let reports = reports.clone();
        tokio::spawn(async move {
            let mut stdout = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = stdout.next_line().await {
                let _ = reports.send((number, line));
            }
        });
        children.push(child);
    }
    drop(reports);
    let most = follow(&mut lines).await;
    let mut all_ok = true;
    for mut child in children {
        all_ok &= child.wait().await?.success();
    }
    println!("most leases held at once, fleet-wide: {most} (cap {CAP})");
    Ok(all_ok && most <= CAP as usize)
}

/// Prints the workers' lines as they come, and a live line of who holds what at each change;
/// returns the most leases held at once.
///
/// A worker says `+ <ns>` once its call holds a lease and `- <ns>` before it gives it back (the
/// wall clock's nanoseconds, one clock for every process of the machine). The live line follows
/// the lines as they arrive, three pipes apart, so it may lag; the figure returned is from the
/// instants, in order: it counts each interval inside its lease, so it cannot pass the cap
/// unless the leases did.
async fn follow(lines: &mut mpsc::UnboundedReceiver<(usize, String)>) -> usize {
    let mut holding: BTreeMap<usize, usize> = (1..=WORKERS).map(|number| (number, 0)).collect();
    let mut instants: Vec<(u128, i32)> = Vec::new();
    let mut last_shown = tokio::time::Instant::now() - Duration::from_secs(1);
    while let Some((number, line)) = lines.recv().await {
        let (change, at) = match line.split_once(' ') {
            Some(("+", at)) => (1, at),
            Some(("-", at)) => (-1, at),
            _ => {
                println!("w{number}: {line}");
                continue;
            }
        };
        if let Ok(at) = at.parse() {
            instants.push((at, change));
        }
        let held = holding.entry(number).or_default();
        *held = held.saturating_add_signed(change as isize);
        // At most ten live lines a second: a line per change would scroll past unread.
        if last_shown.elapsed() >= Duration::from_millis(100) {
            last_shown = tokio::time::Instant::now();
            let bars: Vec<String> =
                holding.iter().map(|(number, held)| format!("w{number} {:<4}", "█".repeat(*held))).collect();
            let total: usize = holding.values().sum();
            println!("{} = {total}/{CAP}", bars.join(" "));
        }
    }
    // Ends before starts at one instant: a lease given back and taken again is not two.
    instants.sort_unstable();
    let (mut now, mut most) = (0_i32, 0_i32);
    for (_, change) in instants {
        now += change;
        most = most.max(now);
    }
    most as usize
}

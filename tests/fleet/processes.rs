//! Several processes against one cap: never more leases than the cap at once, and the leases
//! of processes killed with SIGKILL freed within their TTL.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bursar::fleet::{FencingToken, FleetBackend, FleetConfig};

use crate::{child, governor, monotonic_ns, ms, role, run_children, setting, unique};

/// One operation, as a process logged it: its start and end on the machine's monotonic clock,
/// and its lease's token.
#[derive(Debug, Clone, Copy)]
struct Interval {
    start: u64,
    end: u64,
    token: u64,
}

const PROCESSES: usize = 8;
const CAP: u32 = 6;
/// Each process runs two calls at once: 16 want a lease of 6.
const WORKERS: usize = 2;

/// `FLEET_SECS` seconds (10 by default; `.ci/run` sets the 60) of 8 processes, 2 calls each,
/// on a cap of 6. Every operation's interval (inside its lease) is logged against
/// CLOCK_MONOTONIC; at no instant are more than 6 running.
#[test]
#[ignore = "needs redis-server (REDIS_URL)"]
fn the_cap_holds_across_processes() {
    if role().as_deref() == Some("saturate") {
        return saturate();
    }
    let seconds: u64 = std::env::var("FLEET_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let resource = unique("saturate");
    let settings = [("FLEET_RESOURCE", resource), ("FLEET_SECS", seconds.to_string())];
    let lines = run_children("processes::the_cap_holds_across_processes", "saturate", PROCESSES, &settings);
    let intervals: Vec<Interval> = lines.iter().filter_map(|line| parse(line)).collect();
    let report = sweep(&intervals);
    println!(
        "fleet saturation: {PROCESSES} processes x {WORKERS} calls, cap {CAP}, {seconds} s: {} operations, \
         peak {} at once, {} violations over the cap; operations used {:.1} % of the cap's time, \
         {:.1} % of the time at the full cap",
        intervals.len(),
        report.peak,
        report.violations,
        report.utilisation * 100.0,
        report.at_cap * 100.0
    );
    assert_eq!(report.violations, 0, "never more than the cap at once");
    assert_eq!(report.peak, CAP as usize, "the cap is reached");
    assert!(report.utilisation >= 0.9, "the cap is at least 90 % used: {:.3}", report.utilisation);
    let mut tokens: Vec<u64> = intervals.iter().map(|interval| interval.token).collect();
    tokens.sort_unstable();
    tokens.dedup();
    assert_eq!(tokens.len(), intervals.len(), "every lease has its own token");
}

/// A child: two calls at a time for `FLEET_SECS`, each printing its interval.
fn saturate() {
    let resource: String = setting("FLEET_RESOURCE");
    let seconds: u64 = setting("FLEET_SECS");
    let index: u64 = setting("FLEET_INDEX");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let gov = governor(FleetConfig::new(resource, CAP).lease_ttl(Duration::from_secs(2)), WORKERS);
        let until = Instant::now() + Duration::from_secs(seconds);
        let mut lanes = tokio::task::JoinSet::new();
        for lane in 0..WORKERS as u64 {
            let gov = gov.clone();
            lanes.spawn(async move {
                let mut lines = String::new();
                let mut round = 0_u64;
                while Instant::now() < until {
                    // 60 to 140 ms, varied by process, lane and round.
                    let hold = Duration::from_millis(60 + (index * 13 + lane * 29 + round * 17) % 81);
                    let interval = gov
                        .run(|| async {
                            let start = monotonic_ns();
                            let token = FencingToken::current().expect("under a lease").get();
                            tokio::time::sleep(hold).await;
                            Ok::<_, std::io::Error>(Interval { start, end: monotonic_ns(), token })
                        })
                        .await
                        .expect("every call gets its lease");
                    lines.push_str(&format!(
                        "interval {} {} {}\n",
                        interval.start, interval.end, interval.token
                    ));
                    round += 1;
                }
                lines
            });
        }
        let logged: Vec<String> = lanes.join_all().await;
        print!("{}", logged.concat());
    });
}

fn parse(line: &str) -> Option<Interval> {
    // The first line follows the test harness's `test … ... ` on the same line.
    let (_, logged) = line.split_once("interval ")?;
    let mut words = logged.split(' ').map(|word| word.parse::<u64>().ok());
    Some(Interval { start: words.next()??, end: words.next()??, token: words.next()?? })
}

struct Sweep {
    peak: usize,
    violations: usize,
    /// The operations' time over the cap's time, from the first start to the last end.
    utilisation: f64,
    /// The share of that time with the cap fully used.
    at_cap: f64,
}

/// Walks the starts and ends in time order (an end before a start at the same instant).
fn sweep(intervals: &[Interval]) -> Sweep {
    let mut events: Vec<(u64, i8)> = intervals.iter().flat_map(|i| [(i.start, 1), (i.end, -1)]).collect();
    events.sort_unstable();
    let (first, last) = (events.first().expect("operations ran").0, events.last().expect("operations ran").0);
    let (mut running, mut peak, mut violations, mut full_ns, mut previous) = (0_i64, 0, 0, 0_u64, first);
    for (at, change) in events {
        if running == i64::from(CAP) {
            full_ns += at - previous;
        }
        previous = at;
        running += i64::from(change);
        peak = peak.max(running as usize);
        if change == 1 && running > i64::from(CAP) {
            violations += 1;
        }
    }
    let busy: u64 = intervals.iter().map(|i| i.end - i.start).sum();
    let span = (last - first) as f64;
    Sweep {
        peak,
        violations,
        utilisation: busy as f64 / (span * f64::from(CAP)),
        at_cap: full_ns as f64 / span,
    }
}

const KILL_TTL: Duration = Duration::from_secs(1);
const BATCH: usize = 5;

/// For about 30 s: batches of 5 processes each take a lease (TTL 1 s), are killed with
/// SIGKILL at varied points of their renewal period, and the resource's live leases are read
/// every 5 ms until they are 0. Each batch's lease is freed within TTL + 250 ms of its kill.
#[test]
#[ignore = "needs redis-server (REDIS_URL)"]
fn leases_of_killed_processes_are_freed_within_their_ttl() {
    if role().as_deref() == Some("hold") {
        return hold();
    }
    let resource = unique("killed");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let backend = {
        let _inside = runtime.enter();
        crate::backend()
    };
    let live = || runtime.block_on(backend.live_leases(&resource)).expect("redis answers");
    let started = Instant::now();
    let (mut killed, mut worst, mut batches) = (0, Duration::ZERO, 0_u64);
    while started.elapsed() < Duration::from_secs(30) && killed < 100 {
        let mut holders: Vec<_> = (0..BATCH)
            .map(|_| {
                child("processes::leases_of_killed_processes_are_freed_within_their_ttl", "hold")
                    .env("FLEET_RESOURCE", &resource)
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("a child process")
            })
            .collect();
        for holder in &mut holders {
            // The test harness's own lines come first.
            let lines = BufReader::new(holder.stdout.take().expect("piped")).lines();
            let held = lines.map(|line| line.expect("reads")).find(|line| line.contains("held "));
            assert!(held.is_some(), "the child holds a lease");
        }
        assert_eq!(live(), BATCH as u64);
        // Killed at a varied point of the 333 ms renewal period.
        std::thread::sleep(Duration::from_millis(batches * 71 % 333));
        let killed_at = Instant::now();
        for holder in &mut holders {
            holder.kill().expect("SIGKILL");
        }
        for mut holder in holders {
            holder.wait().expect("reaped");
        }
        while live() > 0 {
            assert!(killed_at.elapsed() < Duration::from_secs(5), "the leases are never freed");
            std::thread::sleep(Duration::from_millis(5));
        }
        let freed = killed_at.elapsed();
        worst = worst.max(freed);
        killed += BATCH;
        batches += 1;
    }
    println!(
        "fleet kill -9: {killed} processes killed holding a lease (TTL {} ms) in {:.1} s; the worst was freed {:.0} ms after its kill",
        KILL_TTL.as_millis(),
        started.elapsed().as_secs_f64(),
        ms(worst)
    );
    assert!(worst <= KILL_TTL + Duration::from_millis(250), "worst {worst:?}");
    assert!(worst >= KILL_TTL - KILL_TTL / 3, "freed by expiry, not released: {worst:?}");
}

/// A child: takes one lease, says so with its token, and holds it until killed.
fn hold() {
    let resource: String = setting("FLEET_RESOURCE");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let gov = governor(FleetConfig::new(resource, 100).lease_ttl(KILL_TTL), 1);
        let _ = gov
            .run(|| async {
                let token = FencingToken::current().expect("under a lease");
                // After the test harness's `test … ... `, on its line.
                println!("held {token}");
                std::future::pending::<()>().await;
                Ok::<_, std::io::Error>(())
            })
            .await;
    });
}

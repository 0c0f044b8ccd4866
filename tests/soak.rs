//! The soak: a million governed calls on the multi-thread runtime, through retries, keyed
//! breakers and a keyed pool with leased ports, under chaos — failures, stalls, late answers,
//! panics — and random cancellations by the caller. At the end nothing is active, queued,
//! leased or leaked, every call is accounted for exactly once, and resident memory after the
//! first tenth of the calls has grown by less than 10 %.
//!
//! Real time, release mode, about two minutes on two cores:
//! `cargo test --release --test soak -- --ignored --nocapture` (`.ci/run` runs it).
#![cfg(feature = "chaos")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bursar::chaos::{Chaos, ChaosConfig};
use bursar::pool::{Lease, Manager, PoolConfig};
use bursar::ports::{PortLease, PortRange, PortsConfig};
use bursar::{Error, Governor};
use support::{Io, io_error};

const CALLS: u64 = 1_000_000;
const DRIVERS: u64 = 64;
/// The soak stops issuing calls after this long, whatever the count (the note reports it).
const TIME_LIMIT: Duration = Duration::from_secs(150);
const KEYS: u64 = 50;

/// Sessions that cost nothing to make, so the soak measures the governor and the pool.
#[derive(Debug, Default)]
struct Sessions {
    created: AtomicU64,
    destroyed: AtomicU64,
}

impl Manager for Sessions {
    type Key = u64;
    type Connection = (u16, u16);
    type Error = Io;

    async fn create(&self, _key: &u64, ports: &[PortLease]) -> Result<(u16, u16), Io> {
        self.created.fetch_add(1, Ordering::Relaxed);
        Ok((ports[0].port(), ports[1].port()))
    }

    async fn check(&self, _session: &mut (u16, u16)) -> Result<(), Io> {
        Ok(())
    }

    async fn destroy(&self, _session: (u16, u16)) {
        self.destroyed.fetch_add(1, Ordering::Relaxed);
    }
}

/// How the callers saw their calls end.
#[derive(Debug, Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
    cancelled_by_caller: AtomicU64,
    issued: AtomicU64,
}

/// Resident set size in bytes, from `/proc/self/statm` (0 where there is none).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|field| field.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// A small, seeded generator for the drivers' choices (xorshift64*).
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

fn governor() -> Governor {
    let mut ports = PortsConfig::default();
    ports.ranges = vec![PortRange::new("vnc", 20_000..=29_999), PortRange::new("ws", 30_000..=39_999)];
    ports.host_check = false;
    ports.quarantine = Duration::from_millis(100);
    let mut breaker = bursar::breaker::BreakerConfig::default();
    breaker.open_wait = Duration::from_millis(50);
    breaker.max_keys = 20; // fewer than the keys: the registry evicts all the time
    let mut retry = bursar::RetryConfig::default();
    retry.initial_delay = Duration::from_millis(1);
    retry.max_delay = Duration::from_millis(5);
    support::builder()
        .max_workers(32)
        .queue_limit(10_000)
        .ports(ports)
        .breaker(breaker)
        .retry(retry)
        .build()
        .expect("a valid governor")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a two-minute soak; run in release mode by .ci/run"]
async fn a_million_calls_under_chaos_leave_nothing_behind() {
    // A thousand injected panics would each print a message: keep the others.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"chaos: injected panic") {
            default_hook(info);
        }
    }));
    let gov = governor();
    let mut config: PoolConfig = gov.pool_config();
    config.ports = vec!["vnc".into(), "ws".into()];
    config.max_total = 20;
    config.max_per_key = 2;
    config.checkout_timeout = Duration::from_millis(50);
    let sessions = Arc::new(Sessions::default());
    let pool = gov.pool("sessions", Arc::clone(&sessions)).config(config).build().expect("a valid pool");
    let chaos = Arc::new(
        Chaos::new(ChaosConfig {
            seed: 2026,
            fail_rate: 0.10,
            stall_rate: 0.002,
            late_rate: 0.05,
            late_by: Duration::from_millis(1),
            panic_rate: 0.001,
        })
        .expect("valid rates"),
    );
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let baseline = Arc::new(AtomicU64::new(0));

    let mut drivers = tokio::task::JoinSet::new();
    for driver in 0..DRIVERS {
        let (gov, pool, chaos, tally, baseline) =
            (gov.clone(), pool.clone(), Arc::clone(&chaos), Arc::clone(&tally), Arc::clone(&baseline));
        drivers.spawn(async move {
            let mut rng = 0x9E37_79B9_7F4A_7C15 ^ (driver + 1);
            loop {
                let call = tally.issued.fetch_add(1, Ordering::Relaxed);
                if call >= CALLS || started.elapsed() > TIME_LIMIT {
                    tally.issued.fetch_sub(1, Ordering::Relaxed);
                    return;
                }
                if call == CALLS / 10 {
                    baseline.store(resident_bytes(), Ordering::Relaxed);
                }
                let key = next(&mut rng) % KEYS;
                let governed = gov
                    .call(|| async {
                        let session = pool.get(key).await.map_err(|error| io_error(&error.to_string()))?;
                        let result =
                            chaos.wrap(async { Ok::<_, Io>(session.0) }, || io_error("driver closed")).await;
                        if result.is_err() {
                            Lease::discard(session);
                        }
                        result
                    })
                    .key(format!("site-{key}"))
                    .timeout(Duration::from_millis(20))
                    .run();
                // One call in fifty is given up by its caller after a millisecond or two.
                let outcome = match next(&mut rng) % 50 {
                    0 => tokio::time::timeout(Duration::from_millis(1 + next(&mut rng) % 2), governed)
                        .await
                        .ok(),
                    _ => Some(governed.await),
                };
                let counter = match outcome {
                    None => &tally.cancelled_by_caller,
                    Some(Ok(_)) => &tally.ok,
                    Some(Err(Error::Rejected(_))) => &tally.rejected,
                    Some(Err(_)) => &tally.failed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while let Some(driver) = drivers.join_next().await {
        driver.expect("no driver panics: panics are contained by the governor");
    }
    let elapsed = started.elapsed();
    let resident_end = resident_bytes();

    let issued = tally.issued.load(Ordering::Relaxed);
    let (ok, failed, rejected, cancelled) = (
        tally.ok.load(Ordering::Relaxed),
        tally.failed.load(Ordering::Relaxed),
        tally.rejected.load(Ordering::Relaxed),
        tally.cancelled_by_caller.load(Ordering::Relaxed),
    );
    let status = gov.status();
    let workers = &status.workers;
    let faults = chaos.status();
    let stats = pool.status();
    let baseline = baseline.load(Ordering::Relaxed);
    let growth = resident_end as f64 / baseline.max(1) as f64 - 1.0;
    println!(
        "soak: {issued} calls in {:.1} s ({:.0}/s): {ok} ok, {failed} failed, {rejected} rejected, {cancelled} cancelled by the caller",
        elapsed.as_secs_f64(),
        issued as f64 / elapsed.as_secs_f64()
    );
    println!(
        "soak: faults drawn {} (failed {}, stalled {}, late {}, panicked {}); retries {}; governor: completed {}, failed {}, panicked {}, timed out {}, rejected {}, abandoned {}",
        faults.calls,
        faults.failed,
        faults.stalled,
        faults.late,
        faults.panicked,
        workers.retries,
        workers.completed,
        workers.failed,
        workers.panicked,
        workers.timed_out,
        workers.rejected,
        workers.abandoned
    );
    println!(
        "soak: pool created {}, destroyed {}, discarded {}, evicted {}, timeouts {}, leaks {}; breakers kept {}",
        stats.created,
        stats.destroyed,
        stats.discarded,
        stats.evicted,
        stats.timeouts,
        stats.leaks_reported,
        status.breakers.len()
    );
    println!(
        "soak: resident {:.1} MiB after 10 % of the calls, {:.1} MiB at the end ({:+.2} %)",
        baseline as f64 / 1048576.0,
        resident_end as f64 / 1048576.0,
        growth * 100.0
    );

    // Every call ended exactly one way, and the governor counted it the same way.
    assert_eq!(ok + failed + rejected + cancelled, issued);
    assert_eq!(
        (workers.completed, workers.failed, workers.rejected, workers.abandoned),
        (ok, failed, rejected, cancelled)
    );
    assert!(faults.panicked > 0 && workers.panicked > 0, "panics were injected and contained");
    assert!(cancelled > 0 && faults.failed > 0 && faults.stalled > 0, "every kind of trouble happened");
    // Nothing left running, waiting or held.
    assert_eq!((workers.active, workers.queued, workers.retrying, workers.in_flight), (0, 0, 0, 0));
    assert_eq!((stats.active, stats.waiting, stats.leaks_reported), (0, 0, 0));
    assert!(status.breakers.len() <= 21, "20 keyed breakers at most, and the default one");
    let report = gov.shutdown(Duration::from_secs(5)).await;
    assert_eq!((report.unfinished, report.pool_destroys_unfinished), (0, 0));
    tokio::time::sleep(Duration::from_millis(300)).await; // the ports' quarantine
    assert_eq!(sessions.created.load(Ordering::Relaxed), sessions.destroyed.load(Ordering::Relaxed));
    let ports = gov.status().ports;
    assert_eq!((ports["vnc"].leased, ports["ws"].leased), (0, 0));
    assert!(growth < 0.10, "resident memory grew {:.2} % after the first tenth", growth * 100.0);
}

//! Redis down and back, in each `on_backend_down` mode and each way down (SIGSTOP of the
//! server, SIGKILL and a restart without its data): the first fallback decision within 1 s of
//! the fault, the mode's decisions while it lasts, shared mode again once Redis answers, and no
//! lease counted in Redis that no running call holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use bursar::fleet::{FencingToken, FleetBackend, FleetConfig, OnBackendDown};
use bursar::{Error, Governor, Rejection};
use tokio::time::{Instant, sleep};

use crate::server::{Killed, Paused};
use crate::{backend, governed, ms, unique};

const CAP: u32 = 2;
/// One more lane than the cap: in shared mode one waits, under `local_share` one is refused.
const LANES: usize = 3;
const HOLD: Duration = Duration::from_millis(50);
/// Longer than the test's time after the fault, so that a lease nobody holds would still be
/// live in Redis when the test counts them.
const TTL: Duration = Duration::from_secs(3);
const OUTAGE: Duration = Duration::from_millis(1500);
/// Shared mode must be back this long after Redis is brought back (SIGCONT, or the start command).
const BACK_WITHIN: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
enum Way {
    Paused,
    Killed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Leased,
    Unleased,
    Refused,
}

/// One call as a lane saw it: when it was decided (its operation started, or it was refused)
/// and when it ended.
#[derive(Debug, Clone, Copy)]
struct Call {
    decided: Instant,
    ended: Instant,
    outcome: Outcome,
}

async fn one_call(gov: &Governor) -> Call {
    let asked = gov
        .run(|| async {
            let started = Instant::now();
            let leased = FencingToken::current().is_some();
            sleep(HOLD).await;
            Ok::<_, std::io::Error>((started, leased))
        })
        .await;
    match asked {
        Ok((decided, leased)) => Call {
            decided,
            ended: Instant::now(),
            outcome: if leased { Outcome::Leased } else { Outcome::Unleased },
        },
        Err(Error::Rejected(Rejection::FleetUnavailable)) => {
            let now = Instant::now();
            Call { decided: now, ended: now, outcome: Outcome::Refused }
        }
        Err(other) => panic!("a call failed otherwise: {other}"),
    }
}

/// Calls one after the other until `stop`, pausing 10 ms after a refusal.
async fn lane(gov: Governor, stop: Arc<AtomicBool>) -> Vec<Call> {
    let mut calls = Vec::new();
    while !stop.load(SeqCst) {
        let call = one_call(&gov).await;
        calls.push(call);
        if call.outcome == Outcome::Refused {
            sleep(Duration::from_millis(10)).await;
        }
    }
    calls
}

/// The most calls running at once among `calls`, from their decisions to their ends.
fn peak(calls: &[Call]) -> usize {
    let mut events: Vec<(Instant, i32)> = calls
        .iter()
        .filter(|call| call.outcome != Outcome::Refused)
        .flat_map(|call| [(call.decided, 1), (call.ended, -1)])
        .collect();
    events.sort_by_key(|&(at, change)| (at, change));
    let (mut running, mut most) = (0, 0);
    for (_, change) in events {
        running += change;
        most = most.max(running);
    }
    usize::try_from(most).expect("never below 0")
}

async fn outage(mode: OnBackendDown, way: Way) {
    let resource = unique(&format!("outage-{mode:?}-{way:?}"));
    let gov = governed(FleetConfig::new(&resource, CAP).lease_ttl(TTL).on_backend_down(mode), LANES);
    let stop = Arc::new(AtomicBool::new(false));
    let lanes: Vec<_> = (0..LANES).map(|_| tokio::spawn(lane(gov.clone(), Arc::clone(&stop)))).collect();
    sleep(Duration::from_millis(500)).await;

    // Redis may answer again from the instant the signal or the start command is sent: the
    // outage ends there.
    let fault = Instant::now();
    let resumed = match way {
        Way::Paused => {
            let paused = Paused::pause();
            sleep(OUTAGE).await;
            let resumed = Instant::now();
            drop(paused);
            resumed
        }
        Way::Killed => {
            let killed = Killed::kill();
            sleep(OUTAGE).await;
            let resumed = Instant::now();
            tokio::task::spawn_blocking(move || killed.start()).await.expect("started");
            resumed
        }
    };
    sleep(BACK_WITHIN + Duration::from_millis(200)).await;
    stop.store(true, SeqCst);
    let mut calls = Vec::new();
    for lane in lanes {
        calls.extend(lane.await.expect("a lane ran"));
    }
    // Each lease task counts its lease until the release is answered, one round trip after
    // its call ended.
    let ended = Instant::now();
    while gov.status().fleet.expect("a fleet section").leases_held > 0 {
        assert!(ended.elapsed() < Duration::from_millis(250), "released within the backend timeout");
        sleep(Duration::from_millis(1)).await;
    }
    let fleet = gov.status().fleet.expect("a fleet section");
    let in_redis = backend().live_leases(&resource).await.expect("redis answers");
    assert_eq!(
        (in_redis, fleet.leases_held, fleet.running_unleased),
        (0, 0, 0),
        "{:.0} ms after Redis was brought back, every call ended: no lease left in Redis",
        ms(Instant::now() - resumed)
    );
    let running = all_leased_at_once(&gov, &resource).await;

    let report = Report::of(&calls, fault, resumed);
    println!(
        "fleet outage ({mode:?}, {way:?} for {} ms): first fallback {:.0} ms after the fault; during it \
         {} leased, {} unleased, {} refused, at most {} running; shared mode {:.0} ms after the SIGCONT \
         or the start command; then 0 leases in Redis with every call ended, and {running} with {CAP} calls running",
        OUTAGE.as_millis(),
        ms(report.first_fallback - fault),
        report.during[0],
        report.during[1],
        report.during[2],
        report.peak_during,
        ms(report.first_leased_after - resumed),
    );
    report.check(mode, fault, resumed);
}

/// Runs `CAP` calls at once and, while all of them run, counts the live leases in Redis: as
/// many as the calls, each held by this governor, none run without one. Returns the count.
async fn all_leased_at_once(gov: &Governor, resource: &str) -> u64 {
    let started = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(tokio::sync::Notify::new());
    let calls: Vec<_> = (0..CAP)
        .map(|_| {
            let (gov, started, release) = (gov.clone(), Arc::clone(&started), Arc::clone(&release));
            tokio::spawn(async move {
                gov.run(|| async {
                    let leased = FencingToken::current().is_some();
                    let released = release.notified();
                    started.fetch_add(1, SeqCst);
                    released.await;
                    Ok::<_, std::io::Error>(leased)
                })
                .await
            })
        })
        .collect();
    while started.load(SeqCst) < CAP as usize {
        sleep(Duration::from_millis(1)).await;
    }
    let in_redis = backend().live_leases(resource).await.expect("redis answers");
    let fleet = gov.status().fleet.expect("a fleet section");
    assert_eq!((in_redis, fleet.leases_held, fleet.running_unleased), (u64::from(CAP), u64::from(CAP), 0));
    release.notify_waiters();
    for call in calls {
        assert!(call.await.expect("no panic").expect("ran"), "under a lease");
    }
    in_redis
}

/// The calls around the outage.
struct Report {
    first_fallback: Instant,
    /// Leased, unleased and refused decisions from the first fallback until Redis was brought back.
    during: [usize; 3],
    /// The most calls running at once among those decided in that time.
    peak_during: usize,
    first_leased_after: Instant,
    /// Decisions from `BACK_WITHIN` after Redis was brought back: each one leased.
    late_fallbacks: usize,
    before: Vec<Outcome>,
}

impl Report {
    fn of(calls: &[Call], fault: Instant, resumed: Instant) -> Self {
        let first_fallback = calls
            .iter()
            .filter(|call| call.outcome != Outcome::Leased && call.decided >= fault)
            .map(|call| call.decided)
            .min()
            .expect("a fallback decision after the fault");
        let outage: Vec<Call> =
            calls.iter().copied().filter(|call| (first_fallback..resumed).contains(&call.decided)).collect();
        let count = |outcome| outage.iter().filter(|call| call.outcome == outcome).count();
        Report {
            first_fallback,
            during: [Outcome::Leased, Outcome::Unleased, Outcome::Refused].map(count),
            peak_during: peak(&outage),
            first_leased_after: calls
                .iter()
                .filter(|call| call.outcome == Outcome::Leased && call.decided >= resumed)
                .map(|call| call.decided)
                .min()
                .expect("a leased call after Redis came back"),
            late_fallbacks: calls
                .iter()
                .filter(|call| call.decided >= resumed + BACK_WITHIN && call.outcome != Outcome::Leased)
                .count(),
            before: calls.iter().filter(|call| call.decided < fault).map(|call| call.outcome).collect(),
        }
    }

    fn check(&self, mode: OnBackendDown, fault: Instant, resumed: Instant) {
        assert!(!self.before.is_empty(), "calls ran before the fault");
        assert!(
            self.before.iter().all(|outcome| *outcome == Outcome::Leased),
            "shared mode before the fault"
        );
        let fallback_after = self.first_fallback - fault;
        assert!(fallback_after < Duration::from_secs(1), "fallback within 1 s: {fallback_after:?}");
        let [leased, unleased, refused] = self.during;
        assert_eq!(leased, 0, "no lease granted while Redis was down");
        match mode {
            OnBackendDown::FailClosed => assert!(unleased == 0 && refused > 0, "{:?}", self.during),
            OnBackendDown::FailOpen => assert!(unleased > 0 && refused == 0, "{:?}", self.during),
            _ => {
                assert!(unleased > 0 && refused > 0, "{:?}", self.during);
                assert!(
                    self.peak_during <= CAP as usize,
                    "this instance's share of {CAP}: {}",
                    self.peak_during
                );
            }
        }
        let back_after = self.first_leased_after - resumed;
        assert!(back_after < BACK_WITHIN, "shared mode again within {BACK_WITHIN:?}: {back_after:?}");
        assert_eq!(self.late_fallbacks, 0, "every call leased from {BACK_WITHIN:?} after Redis came back");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (REDIS_URL, REDIS_PIDFILE)"]
async fn fail_closed_when_redis_is_paused() {
    outage(OnBackendDown::FailClosed, Way::Paused).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (REDIS_URL, REDIS_PIDFILE, REDIS_START)"]
async fn fail_closed_when_redis_is_killed() {
    outage(OnBackendDown::FailClosed, Way::Killed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (REDIS_URL, REDIS_PIDFILE)"]
async fn local_share_when_redis_is_paused() {
    outage(OnBackendDown::LocalShare, Way::Paused).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (REDIS_URL, REDIS_PIDFILE, REDIS_START)"]
async fn local_share_when_redis_is_killed() {
    outage(OnBackendDown::LocalShare, Way::Killed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (REDIS_URL, REDIS_PIDFILE)"]
async fn fail_open_when_redis_is_paused() {
    outage(OnBackendDown::FailOpen, Way::Paused).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (REDIS_URL, REDIS_PIDFILE, REDIS_START)"]
async fn fail_open_when_redis_is_killed() {
    outage(OnBackendDown::FailOpen, Way::Killed).await;
}

//! Fleet-wide breakers: three governors (three instances) on one fake backend, the paused
//! clock, exact states, votes, epochs and probes.

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::fake::{FakeBackend, resource, settle};
use crate::breaker::BreakerState;
use crate::fleet::{
    Acquire, BackendFuture, FleetBackend, FleetBreakerConfig, FleetBreakerState, FleetBreakerStatus,
    LeaseRequest, Renewal,
};
use crate::{Error, Governor, GovernorConfig, Rejection};

const SYNC: Duration = Duration::from_secs(1);
const OPEN_WAIT: Duration = Duration::from_secs(10);
/// How often a test looks again for what it waits for.
const POLL: Duration = Duration::from_millis(10);
/// The instances are built this far apart, so that their syncs never coincide.
const STAGGER: Duration = Duration::from_millis(300);

/// An instance whose breaker opens after `failures` in a row.
fn instance_tripping_at(backend: &Arc<FakeBackend>, failures: u32) -> Governor {
    instance_with(backend, failures, 1)
}

/// An instance: its default breaker shared with quorum 2, opening for 10 s after `failures`
/// in a row, its own half-open state admitting `probes` at a time.
fn instance_with(backend: &Arc<FakeBackend>, failures: u32, probes: u32) -> Governor {
    let mut config = GovernorConfig::default();
    config.breaker.half_open_probes = probes;
    config.health.enabled = false;
    config.retry.max_attempts = 1;
    config.breaker.failure_threshold = failures;
    config.breaker.open_wait = OPEN_WAIT;
    let shared = FleetBreakerConfig::new(["default"])
        .quorum(2)
        .sync_every(SYNC)
        .probe_ttl(Duration::from_millis(4_500));
    crate::GovernorBuilder::from_config(config)
        .fleet(resource(100).breaker(shared))
        .fleet_backend(Arc::clone(backend) as Arc<dyn FleetBackend>)
        .build()
        .expect("a valid governor")
}

/// One call that takes `hold` and fails or succeeds.
async fn call(gov: &Governor, fails: bool, hold: Duration) -> Result<(), Error<std::io::Error>> {
    gov.run(move || async move {
        sleep(hold).await;
        if fails { Err(std::io::Error::other("sick")) } else { Ok(()) }
    })
    .await
}

fn rejected(answer: &Result<(), Error<std::io::Error>>) -> bool {
    matches!(answer, Err(Error::Rejected(Rejection::CircuitOpen { .. })))
}

fn shared(gov: &Governor) -> FleetBreakerStatus {
    gov.status().fleet.expect("a fleet section").breakers.remove(0)
}

fn local(gov: &Governor) -> BreakerState {
    gov.status().breakers["default"].state
}

/// Three instances built `STAGGER` apart.
async fn three(backend: &Arc<FakeBackend>) -> [Governor; 3] {
    three_of(backend, 1).await
}

/// Three instances built `STAGGER` apart, each breaker's own half-open state admitting
/// `probes` at a time.
async fn three_of(backend: &Arc<FakeBackend>, probes: u32) -> [Governor; 3] {
    let a = instance_with(backend, 1, probes);
    sleep(STAGGER).await;
    let b = instance_with(backend, 1, probes);
    sleep(STAGGER).await;
    let c = instance_with(backend, 1, probes);
    settle().await;
    [a, b, c]
}

/// Three instances; `a` and then `b` fail once each. Returns them and when `b` voted.
async fn opened_by_two(backend: &Arc<FakeBackend>) -> ([Governor; 3], Instant) {
    opened_by_two_of(backend, 1).await
}

/// As [`opened_by_two`], each breaker's own half-open state admitting `probes` at a time.
async fn opened_by_two_of(backend: &Arc<FakeBackend>, probes: u32) -> ([Governor; 3], Instant) {
    let instances = three_of(backend, probes).await;
    let [a, b, _] = &instances;
    assert!(matches!(call(a, true, Duration::ZERO).await, Err(Error::Operation(_))));
    settle().await;
    assert!(matches!(call(b, true, Duration::ZERO).await, Err(Error::Operation(_))));
    let voted = Instant::now();
    settle().await;
    (instances, voted)
}

/// Three instances whose fleet breaker opened, one sync after its open time ended: one of them
/// holds the probe lease.
async fn probing(backend: &Arc<FakeBackend>) -> [Governor; 3] {
    probing_of(backend, 1).await
}

/// As [`probing`], each breaker's own half-open state admitting `probes` at a time.
async fn probing_of(backend: &Arc<FakeBackend>, probes: u32) -> [Governor; 3] {
    let (instances, voted) = opened_by_two_of(backend, probes).await;
    sleep(OPEN_WAIT + SYNC - voted.elapsed()).await;
    settle().await;
    instances
}

#[tokio::test(start_paused = true)]
async fn one_voter_does_not_open_the_fleet_and_a_quorum_does_within_one_sync() {
    let backend = FakeBackend::new();
    let [a, b, c] = three(&backend).await;
    assert!(matches!(call(&a, true, Duration::ZERO).await, Err(Error::Operation(_))));
    settle().await;
    let one = shared(&a);
    assert_eq!((one.votes, one.state, one.epoch), (1, Some(FleetBreakerState::Closed), 0));
    assert_eq!(local(&a), BreakerState::Open, "the sick instance's own breaker opened");
    sleep(3 * SYNC).await;
    for gov in [&b, &c] {
        call(gov, false, Duration::ZERO).await.expect("one voter opens nothing");
        assert_eq!(shared(gov).state, Some(FleetBreakerState::Closed));
    }
    assert!(matches!(call(&b, true, Duration::ZERO).await, Err(Error::Operation(_))));
    let voted = Instant::now();
    settle().await;
    let two = shared(&b);
    assert_eq!((two.votes, two.state, two.epoch), (2, Some(FleetBreakerState::Open), 1));
    // `c` saw nothing fail: it rejects from its next sync on, within one sync of the vote.
    while !rejected(&call(&c, false, Duration::ZERO).await) {
        sleep(POLL).await;
    }
    let waited = voted.elapsed();
    assert!(waited <= SYNC + POLL, "{waited:?}");
    assert_eq!((local(&c), shared(&c).state), (BreakerState::Open, Some(FleetBreakerState::Open)));
    assert!(rejected(&call(&a, false, Duration::ZERO).await));
}

#[tokio::test(start_paused = true)]
async fn exactly_one_instance_probes_and_its_success_closes_the_fleet() {
    let backend = FakeBackend::new();
    let [a, b, c] = probing(&backend).await;
    assert_eq!(backend.breakers.lock().probes_granted, 1);
    let instances = [&a, &b, &c];
    let probers: Vec<_> = instances.iter().filter(|gov| shared(gov).probe_held).collect();
    assert_eq!(probers.len(), 1, "one probe lease fleet-wide");
    let prober = probers[0];
    assert_eq!(local(prober), BreakerState::HalfOpen);
    // Every instance is called at once: the prober's first call is the only one admitted.
    let calls = instances.map(|gov| {
        let gov = (*gov).clone();
        tokio::spawn(
            async move { [call(&gov, false, SYNC / 2).await, call(&gov, false, Duration::ZERO).await] },
        )
    });
    let mut ran = 0;
    for answers in calls {
        for answer in answers.await.expect("no panic") {
            ran += usize::from(answer.is_ok());
        }
    }
    // The prober's probe, then (closed by its success) its second call.
    assert_eq!(ran, 2);
    sleep(SYNC).await;
    settle().await;
    for gov in instances {
        assert_eq!((local(gov), shared(gov).state), (BreakerState::Closed, Some(FleetBreakerState::Closed)));
        call(gov, false, Duration::ZERO).await.expect("closed fleet-wide");
    }
    assert_eq!((shared(&a).votes, backend.breakers.lock().probes_granted), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn a_probe_of_an_old_epoch_cannot_close_the_fleet() {
    let backend = FakeBackend::new();
    let [a, b, c] = probing(&backend).await;
    let instances = [a, b, c];
    let first = instances.iter().position(|gov| shared(gov).probe_held).expect("a prober");
    let epoch = shared(&instances[first]).epoch;
    // The probe outlives its 4.5 s lease: another instance takes the next lease, epoch + 1,
    // and only then does the first probe succeed, before its instance's next sync.
    let finish = Arc::new(tokio::sync::Notify::new());
    let late = {
        let (gov, finished) = (instances[first].clone(), Arc::clone(&finish));
        tokio::spawn(async move {
            gov.run(move || {
                let finished = Arc::clone(&finished);
                async move {
                    finished.notified().await;
                    Ok::<_, std::io::Error>(())
                }
            })
            .await
        })
    };
    while backend.breakers.lock().probes_granted < 2 {
        sleep(POLL).await;
    }
    let second = instances.iter().position(|gov| shared(gov).probe_held).expect("a second prober");
    assert_ne!(first, second);
    assert_eq!(shared(&instances[second]).epoch, epoch + 1);
    finish.notify_one();
    late.await.expect("no panic").expect("the late probe succeeded");
    settle().await;
    assert_eq!(backend.breakers.lock().stale_outcomes, 1, "its outcome reached the backend");
    let after = shared(&instances[first]);
    assert_eq!((after.state, after.epoch), (Some(FleetBreakerState::Probing), epoch + 1), "not closed");
    assert!(rejected(&call(&instances[first], false, Duration::ZERO).await), "held open again");
    call(&instances[second], false, Duration::ZERO).await.expect("the current probe");
    settle().await;
    assert_eq!(shared(&instances[second]).state, Some(FleetBreakerState::Closed));
    assert_eq!(backend.breakers.lock().probes_granted, 2);
}

#[tokio::test(start_paused = true)]
async fn without_the_backend_every_breaker_is_local_until_it_answers() {
    let backend = FakeBackend::new();
    let ([a, _, _], voted) = opened_by_two(&backend).await;
    assert_eq!(local(&a), BreakerState::Open);
    backend.down.store(true, SeqCst);
    sleep(SYNC).await;
    settle().await;
    let down = shared(&a);
    assert!(down.local_only);
    // Let go, the local breaker ends its own wait and probes by itself.
    sleep(OPEN_WAIT - voted.elapsed()).await;
    call(&a, false, Duration::ZERO).await.expect("a local probe");
    assert_eq!(local(&a), BreakerState::Closed);
    backend.down.store(false, SeqCst);
    sleep(SYNC).await;
    settle().await;
    let back = shared(&a);
    assert!(!back.local_only, "shared again");
    // The fleet is still open past its time: `a` holds the probe or rejects for another's.
    assert_eq!(back.state, Some(FleetBreakerState::Probing));
    assert_ne!(local(&a), BreakerState::Closed);
}

/// The prober's sync fails once while it holds the probe lease: let go, its breaker follows its
/// own rules (three half-open slots). When the backend answers again, the fleet's probe is
/// steered again — one slot — and its success closes every instance.
#[tokio::test(start_paused = true)]
async fn a_probe_survives_a_failed_sync_of_its_prober() {
    let backend = FakeBackend::new();
    let instances = probing_of(&backend, 3).await;
    let prober = instances.iter().position(|gov| shared(gov).probe_held).expect("a prober");
    let (prober, other) = (&instances[prober], &instances[(prober + 1) % 3]);
    backend.failing_prober_syncs.store(1, SeqCst);
    sleep(SYNC).await;
    settle().await;
    assert_eq!(backend.failing_prober_syncs.load(SeqCst), 0, "the prober's sync failed");
    assert!(shared(prober).local_only);
    sleep(SYNC).await;
    settle().await;
    assert!(!shared(prober).local_only, "shared again");
    assert_eq!(local(prober), BreakerState::HalfOpen);
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let gov = prober.clone();
            tokio::spawn(async move { call(&gov, false, SYNC / 2).await })
        })
        .collect();
    let mut ran = 0;
    for answer in calls {
        let answer = answer.await.expect("no panic");
        assert!(answer.is_ok() || rejected(&answer), "{answer:?}");
        ran += usize::from(answer.is_ok());
    }
    assert_eq!(ran, 1, "the fleet's one probe");
    sleep(SYNC).await;
    settle().await;
    assert_eq!((local(other), shared(other).state), (BreakerState::Closed, Some(FleetBreakerState::Closed)));
    assert_eq!(backend.breakers.lock().probes_granted, 1);
}

/// Leases from the fake, and no breaker operations: the trait's defaults.
#[derive(Debug)]
struct LeasesOnly(Arc<FakeBackend>);

impl FleetBackend for LeasesOnly {
    fn acquire<'a>(&'a self, lease: LeaseRequest<'a>) -> BackendFuture<'a, Acquire> {
        self.0.acquire(lease)
    }
    fn renew<'a>(&'a self, lease: LeaseRequest<'a>) -> BackendFuture<'a, Renewal> {
        self.0.renew(lease)
    }
    fn release<'a>(&'a self, resource: &'a str, lease_id: &'a str) -> BackendFuture<'a, bool> {
        self.0.release(resource, lease_id)
    }
    fn live_leases<'a>(&'a self, resource: &'a str) -> BackendFuture<'a, u64> {
        self.0.live_leases(resource)
    }
    fn heartbeat<'a>(
        &'a self,
        resource: &'a str,
        instance: &'a str,
        ttl: Duration,
    ) -> BackendFuture<'a, u32> {
        self.0.heartbeat(resource, instance, ttl)
    }
    fn leave<'a>(&'a self, resource: &'a str, instance: &'a str) -> BackendFuture<'a, bool> {
        self.0.leave(resource, instance)
    }
}

#[tokio::test(start_paused = true)]
async fn a_backend_without_breaker_operations_keeps_the_breakers_local() {
    let mut config = GovernorConfig::default();
    config.health.enabled = false;
    config.retry.max_attempts = 1;
    config.breaker.failure_threshold = 1;
    let gov = crate::GovernorBuilder::from_config(config)
        .fleet(resource(4).breaker(FleetBreakerConfig::new(["default"])))
        .fleet_backend(Arc::new(LeasesOnly(FakeBackend::new())))
        .build()
        .expect("a valid governor");
    settle().await;
    let status = shared(&gov);
    assert_eq!((status.local_only, status.state, status.votes), (true, None, 0));
    assert!(matches!(call(&gov, true, Duration::ZERO).await, Err(Error::Operation(_))));
    assert_eq!(local(&gov), BreakerState::Open, "the local breaker works alone");
    assert_eq!(gov.status().fleet.expect("a fleet section").acquired, 1, "leases still work");
}

#[tokio::test(start_paused = true)]
async fn the_syncs_of_a_closed_fleet_leave_the_local_counts_alone() {
    let backend = FakeBackend::new();
    let gov = instance_tripping_at(&backend, 3);
    for _ in 0..2 {
        assert!(matches!(call(&gov, true, Duration::ZERO).await, Err(Error::Operation(_))));
        sleep(3 * SYNC).await;
    }
    assert_eq!(gov.status().breakers["default"].consecutive_failures, 2, "three syncs passed each");
    assert!(matches!(call(&gov, true, Duration::ZERO).await, Err(Error::Operation(_))));
    assert_eq!(local(&gov), BreakerState::Open, "the third failure in a row");
}

//! A fleet backend in memory, on tokio's clock: leases and instances expire as the paused clock
//! advances, and a test can take it down, make it hang, or make it lose every lease.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::fake_breakers::BreakerBook;
use crate::fleet::{
    Acquire, BackendFuture, BreakerKey, BreakerVote, FencingToken, FleetBackend, FleetBreakerView,
    FleetConfig, FleetError, LeaseRequest, PortClaim, ProbeOutcome, Renewal,
};
use crate::{Governor, GovernorConfig};

/// [`FakeBackend::panics`]: each operation panics before it returns its future.
pub(super) const PANICS_MAKING: u8 = 1;
/// [`FakeBackend::panics`]: each operation's future panics when polled.
pub(super) const PANICS_POLLED: u8 = 2;
/// [`FakeBackend::grants_then_fails`]: the connection drops before the answer.
pub(super) const DROPPED: u8 = 3;

#[derive(Debug, Default)]
pub(super) struct FakeBackend {
    leases: Mutex<HashMap<String, Instant>>,
    tokens: AtomicU64,
    pub(super) down: AtomicBool,
    pub(super) hang: AtomicBool,
    /// Where each operation panics: [`PANICS_MAKING`] or [`PANICS_POLLED`]; 0 nowhere.
    pub(super) panics: AtomicU8,
    /// Each operation takes effect at once but is answered a second later.
    pub(super) slow: AtomicBool,
    /// The next acquire grants its lease, then fails as this says: [`DROPPED`] or
    /// [`PANICS_POLLED`]; 0 not.
    pub(super) grants_then_fails: AtomicU8,
    /// The next this many releases fail, the backend unreachable.
    pub(super) failing_releases: AtomicU32,
    /// The next this many breaker syncs of a probe lease's holder take effect, but their
    /// answers are lost (the backend unreachable).
    pub(super) failing_prober_syncs: AtomicU32,
    /// Each instance's expiry, kept by its heartbeats.
    instances: Mutex<HashMap<String, Instant>>,
    pub(super) renewals: AtomicU64,
    pub(super) heartbeats: AtomicU64,
    pub(super) releases: AtomicU64,
    pub(super) breakers: Mutex<BreakerBook>,
    /// Each host's port plan: the claim that holds each port.
    pub(super) plans: Mutex<HashMap<(String, u16), String>>,
    /// The backend answers [`FleetError::Unsupported`] to the port plan's operations.
    pub(super) no_plans: AtomicBool,
    /// A claim answers the index just past its candidates: a wrong answer.
    pub(super) claims_past_the_end: AtomicBool,
}

impl FakeBackend {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(FakeBackend::default())
    }

    /// Keeps `instance` live for `ttl`; the live instances, `instance` included.
    fn keep_live(&self, instance: &str, ttl: Duration) -> u32 {
        self.instances.lock().insert(instance.to_owned(), Instant::now() + ttl);
        self.count_instances()
    }

    /// The live instances, once the expired ones are removed.
    fn count_instances(&self) -> u32 {
        let now = Instant::now();
        let mut instances = self.instances.lock();
        instances.retain(|_, expiry| *expiry > now);
        u32::try_from(instances.len()).expect("few instances")
    }

    /// The instances live now.
    pub(super) fn live_instances(&self) -> usize {
        let now = Instant::now();
        self.instances.lock().values().filter(|expiry| **expiry > now).count()
    }

    /// The leases live now.
    pub(super) fn live(&self) -> usize {
        let now = Instant::now();
        self.leases.lock().values().filter(|expiry| **expiry > now).count()
    }

    /// Forgets every lease, as a backend that restarted without its data.
    pub(super) fn lose_all(&self) {
        self.leases.lock().clear();
    }

    /// The answer of a backend that is down or hangs, if this one is.
    fn failure<T: Send + 'static>(&self) -> Option<BackendFuture<'static, T>> {
        match self.panics.load(SeqCst) {
            PANICS_MAKING => panic!("a bug in the backend's operation"),
            PANICS_POLLED => return Some(Box::pin(async { panic!("a bug in the backend's future") })),
            _ => {}
        }
        if self.hang.load(SeqCst) {
            return Some(Box::pin(std::future::pending()));
        }
        self.down.load(SeqCst).then(|| -> BackendFuture<'static, T> {
            Box::pin(async { Err(FleetError::Unreachable { reason: "connection refused".to_owned() }) })
        })
    }

    /// The ports of `host`'s plan and the claims that hold them, in port order.
    pub(super) fn plan(&self, host: &str) -> Vec<(u16, String)> {
        let plans = self.plans.lock();
        let mut plan: Vec<_> = plans
            .iter()
            .filter(|((of, _), _)| of == host)
            .map(|((_, port), claim)| (*port, claim.clone()))
            .collect();
        plan.sort();
        plan
    }

    fn is_live(&self, instance: &str) -> bool {
        self.instances.lock().get(instance).is_some_and(|expiry| *expiry > Instant::now())
    }

    fn unsupported<T: Send + 'static>(&self, operation: &'static str) -> Option<BackendFuture<'static, T>> {
        self.no_plans.load(SeqCst).then(|| -> BackendFuture<'static, T> {
            Box::pin(async move { Err(FleetError::Unsupported { operation }) })
        })
    }

    fn answer<T: Send + 'static>(&self, answer: T) -> BackendFuture<'static, T> {
        let delay = if self.slow.load(SeqCst) { Duration::from_secs(1) } else { Duration::ZERO };
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(answer)
        })
    }
}

impl FleetBackend for FakeBackend {
    fn acquire<'a>(&'a self, lease: LeaseRequest<'a>) -> BackendFuture<'a, Acquire> {
        if let Some(failed) = self.failure() {
            return failed;
        }
        let now = Instant::now();
        let live_instances = self.count_instances();
        let mut leases = self.leases.lock();
        leases.retain(|_, expiry| *expiry > now);
        let answer = if leases.len() < lease.cap as usize {
            leases.insert(lease.lease_id.to_owned(), now + lease.ttl);
            let token = FencingToken::new(self.tokens.fetch_add(1, SeqCst) + 1);
            Acquire::Granted { token, live_instances }
        } else {
            let earliest = leases.values().min().copied().unwrap_or(now);
            Acquire::Full { retry_in: earliest - now, live_instances }
        };
        drop(leases);
        match self.grants_then_fails.swap(0, SeqCst) {
            DROPPED => Box::pin(async {
                Err(FleetError::Unreachable { reason: "connection reset by peer".to_owned() })
            }),
            PANICS_POLLED => Box::pin(async { panic!("a bug in the backend's answer") }),
            _ => self.answer(answer),
        }
    }

    fn renew<'a>(&'a self, lease: LeaseRequest<'a>) -> BackendFuture<'a, Renewal> {
        self.renewals.fetch_add(1, SeqCst);
        if let Some(failed) = self.failure() {
            return failed;
        }
        let now = Instant::now();
        let live_instances = self.count_instances();
        let mut leases = self.leases.lock();
        let answer = match leases.get_mut(lease.lease_id) {
            Some(expiry) if *expiry > now => {
                *expiry = now + lease.ttl;
                Renewal::Renewed { live_instances }
            }
            _ => Renewal::Lost,
        };
        drop(leases);
        self.answer(answer)
    }

    fn release<'a>(&'a self, _resource: &'a str, lease_id: &'a str) -> BackendFuture<'a, bool> {
        self.releases.fetch_add(1, SeqCst);
        if let Some(failed) = self.failure() {
            return failed;
        }
        if self.failing_releases.fetch_update(SeqCst, SeqCst, |left| left.checked_sub(1)).is_ok() {
            return Box::pin(async {
                Err(FleetError::Unreachable { reason: "connection refused".to_owned() })
            });
        }
        let removed = self.leases.lock().remove(lease_id).is_some();
        self.answer(removed)
    }

    fn live_leases<'a>(&'a self, _resource: &'a str) -> BackendFuture<'a, u64> {
        if let Some(failed) = self.failure() {
            return failed;
        }
        self.answer(self.live() as u64)
    }

    fn heartbeat<'a>(
        &'a self,
        _resource: &'a str,
        instance: &'a str,
        ttl: Duration,
    ) -> BackendFuture<'a, u32> {
        self.heartbeats.fetch_add(1, SeqCst);
        if let Some(failed) = self.failure() {
            return failed;
        }
        self.answer(self.keep_live(instance, ttl))
    }

    fn leave<'a>(&'a self, _resource: &'a str, instance: &'a str) -> BackendFuture<'a, bool> {
        if let Some(failed) = self.failure() {
            return failed;
        }
        self.answer(self.instances.lock().remove(instance).is_some())
    }

    fn claim_port<'a>(&'a self, claim: PortClaim<'a>) -> BackendFuture<'a, Option<usize>> {
        if let Some(failed) = self.unsupported("claim_port").or_else(|| self.failure()) {
            return failed;
        }
        if self.claims_past_the_end.load(SeqCst) {
            return self.answer(Some(claim.candidates.len()));
        }
        self.keep_live(claim.instance, claim.instance_ttl);
        let free = |port: &u16| match self.plans.lock().get(&(claim.host.to_owned(), *port)) {
            None => true,
            Some(held) => {
                let holder = held.rsplit_once(':').map_or(held.as_str(), |(instance, _)| instance);
                holder == claim.instance || !self.is_live(holder)
            }
        };
        let index = claim.candidates.iter().position(free);
        if let Some(index) = index {
            let port = claim.candidates[index];
            self.plans.lock().insert((claim.host.to_owned(), port), claim.claim_id.to_owned());
        }
        self.answer(index)
    }

    fn release_ports<'a>(
        &'a self,
        _resource: &'a str,
        host: &'a str,
        claim_id: &'a str,
        ports: &'a [u16],
    ) -> BackendFuture<'a, u32> {
        if let Some(failed) = self.unsupported("release_ports").or_else(|| self.failure()) {
            return failed;
        }
        let mut plans = self.plans.lock();
        let mut released = 0;
        for port in ports {
            let key = (host.to_owned(), *port);
            if plans.get(&key).is_some_and(|held| held == claim_id) {
                plans.remove(&key);
                released += 1;
            }
        }
        drop(plans);
        self.answer(released)
    }

    fn breaker_vote<'a>(&'a self, vote: BreakerVote<'a>) -> BackendFuture<'a, FleetBreakerView> {
        self.failure().unwrap_or_else(|| self.answer(self.breakers.lock().vote(vote)))
    }

    fn breaker_sync<'a>(
        &'a self,
        key: BreakerKey<'a>,
        probe_ttl: Duration,
    ) -> BackendFuture<'a, FleetBreakerView> {
        self.failure().unwrap_or_else(|| {
            let view = self.breakers.lock().sync(key, probe_ttl);
            let failing = &self.failing_prober_syncs;
            if view.probe_is_mine && failing.fetch_update(SeqCst, SeqCst, |left| left.checked_sub(1)).is_ok()
            {
                return Box::pin(async {
                    Err(FleetError::Unreachable { reason: "connection reset by peer".to_owned() })
                });
            }
            self.answer(view)
        })
    }

    fn breaker_probe_ended<'a>(&'a self, outcome: ProbeOutcome<'a>) -> BackendFuture<'a, FleetBreakerView> {
        self.failure().unwrap_or_else(|| self.answer(self.breakers.lock().probe_ended(outcome)))
    }
}

/// A governor of `max_workers` whose fleet resource is `fleet`, on `backend`.
pub(super) fn governor(fleet: FleetConfig, backend: &Arc<FakeBackend>, max_workers: usize) -> Governor {
    let mut config = GovernorConfig::default();
    config.workers.max_workers = max_workers;
    config.health.enabled = false;
    config.retry.max_attempts = 1;
    crate::GovernorBuilder::from_config(config)
        .fleet(fleet)
        .fleet_backend(Arc::clone(backend) as Arc<dyn FleetBackend>)
        .build()
        .expect("a valid governor")
}

/// A resource of `cap` with a TTL of 3 s: renewed every second.
pub(super) fn resource(cap: u32) -> FleetConfig {
    FleetConfig::new("browsers", cap).lease_ttl(Duration::from_secs(3))
}

/// Lets the lease tasks run (release, the end of an unleased call) without moving the clock.
pub(super) async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

/// Runs `count` calls of one second at once while the backend is down: how many ran without a
/// lease, and how many were refused (anything else fails the test).
pub(super) async fn unleased_calls_of_a_second(gov: &Governor, count: usize) -> (usize, usize) {
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..count {
        let gov = gov.clone();
        calls.spawn(async move {
            gov.run(|| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok::<_, std::io::Error>(FencingToken::current())
            })
            .await
        });
    }
    let (mut ran, mut refused) = (0, 0);
    while let Some(result) = calls.join_next().await {
        match result.expect("no panic") {
            Ok(None) => ran += 1,
            Err(crate::Error::Rejected(crate::Rejection::FleetUnavailable)) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    (ran, refused)
}

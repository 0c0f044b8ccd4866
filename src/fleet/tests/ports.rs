//! Hosts' port plans: two governors of one host never lease the same port, a silent
//! instance's ports come back when it expires, a late release frees no later claim, a cut-off
//! claim gives its port back, and each `on_backend_down` mode — on the fake backend.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use tokio::time::{sleep, timeout};

use super::fake::{FakeBackend, PANICS_POLLED, resource, settle};
use crate::fleet::{FleetBackend, FleetConfig, OnBackendDown, PortClaim, PortPlanStatus};
use crate::pool::Manager;
use crate::ports::{PortError, PortLease, PortRange, PortsConfig};
use crate::{Governor, GovernorConfig};

const HOST: &str = "test-host";

/// A governor whose ports ("vnc", 5900–5905, resting 1 s) are claimed in `HOST`'s plan.
fn on_host(fleet: FleetConfig, backend: &Arc<FakeBackend>) -> Governor {
    let mut config = GovernorConfig::default();
    config.health.enabled = false;
    let ports = PortsConfig::default()
        .ranges(vec![PortRange::new("vnc", 5900..=5905)])
        .host_check(false)
        .quarantine(Duration::from_secs(1));
    crate::GovernorBuilder::from_config(config)
        .ports(ports)
        .fleet(fleet.host(HOST.to_owned()))
        .fleet_backend(Arc::clone(backend) as Arc<dyn FleetBackend>)
        .build()
        .expect("a valid governor")
}

fn plan(gov: &Governor) -> PortPlanStatus {
    gov.status().fleet.expect("a fleet section").ports.expect("a port plan")
}

async fn lease_all(gov: &Governor, count: usize) -> Vec<PortLease> {
    let mut leases = Vec::new();
    for _ in 0..count {
        leases.push(gov.ports().lease("vnc").await.expect("a port"));
    }
    leases
}

fn ports(leases: &[PortLease]) -> Vec<u16> {
    leases.iter().map(PortLease::port).collect()
}

#[tokio::test(start_paused = true)]
async fn two_governors_of_one_host_never_lease_the_same_port() {
    let backend = FakeBackend::new();
    let (first, second) = (on_host(resource(4), &backend), on_host(resource(4), &backend));
    settle().await;
    let mine = lease_all(&first, 3).await;
    let theirs = lease_all(&second, 3).await;
    assert_eq!(ports(&mine), [5900, 5901, 5902]);
    assert_eq!(ports(&theirs), [5903, 5904, 5905], "the first three are held by the first governor");
    assert!(mine.iter().chain(&theirs).all(PortLease::is_claimed));
    let refused = first.ports().lease("vnc").await.unwrap_err();
    let retry_after = Some(Duration::from_secs(1)); // the three found held rest their quarantine
    assert_eq!(
        refused,
        PortError::HeldOnHost { range: "vnc".into(), host: HOST.into(), held: 3, retry_after }
    );
    let expected = |held_elsewhere| PortPlanStatus {
        host: HOST.into(),
        held: 3,
        claimed: 3,
        held_elsewhere,
        unshared: 0,
        released: 0,
        unreleased: 0,
    };
    assert_eq!((plan(&first), plan(&second)), (expected(3), expected(3)));
    assert_eq!(backend.plan(HOST).len(), 6);
}

#[tokio::test(start_paused = true)]
async fn a_silent_instance_s_ports_come_back_when_it_expires() {
    let backend = FakeBackend::new();
    let gov = on_host(resource(4), &backend);
    settle().await;
    // A process killed with SIGKILL after it claimed three ports: it lives 2 s after that.
    let claim = PortClaim {
        resource: "browsers",
        host: HOST,
        instance: "killed",
        claim_id: "killed:0",
        instance_ttl: Duration::from_secs(2),
        candidates: &[5900],
    };
    for (n, port) in [5900, 5901, 5902].into_iter().enumerate() {
        let id = format!("killed:{n}");
        let claimed = backend.claim_port(PortClaim { claim_id: &id, candidates: &[port], ..claim }).await;
        assert_eq!(claimed.expect("the fake answers"), Some(0));
    }
    let first = gov.ports().lease("vnc").await.expect("a port");
    assert_eq!(first.port(), 5903);
    assert_eq!(plan(&gov).held_elsewhere, 3);
    sleep(Duration::from_millis(1999)).await;
    let mut leases = lease_all(&gov, 2).await;
    assert_eq!(ports(&leases), [5904, 5905]);
    assert_eq!(
        gov.ports().lease("vnc").await.unwrap_err(),
        PortError::HeldOnHost {
            range: "vnc".into(),
            host: HOST.into(),
            held: 3,
            retry_after: Some(Duration::from_secs(1))
        },
        "the killed instance is still live at 1.999 s"
    );
    // It expired at 2 s; its ports, asked for at 1.999 s, rest until 2.999 s here.
    sleep(Duration::from_millis(999)).await;
    assert_eq!(gov.ports().status()["vnc"].free, 0);
    sleep(Duration::from_millis(1)).await;
    leases.extend(lease_all(&gov, 3).await);
    assert_eq!(ports(&leases), [5904, 5905, 5900, 5901, 5902]);
    assert_eq!((plan(&gov).held, plan(&gov).claimed, plan(&gov).held_elsewhere), (6, 6, 6));
    drop(first);
}

#[tokio::test(start_paused = true)]
async fn a_released_port_is_free_on_the_host_and_a_late_release_frees_no_later_claim() {
    let backend = FakeBackend::new();
    let (first, second) = (on_host(resource(4), &backend), on_host(resource(4), &backend));
    settle().await;
    let lease = first.ports().lease("vnc").await.expect("a port");
    let claim = backend.plan(HOST)[0].1.clone();
    drop(lease);
    settle().await;
    assert_eq!(backend.plan(HOST), []);
    assert_eq!((plan(&first).held, plan(&first).released), (0, 1));
    let again = second.ports().lease("vnc").await.expect("a port");
    assert_eq!(again.port(), 5900, "released on the host: the second governor leases it");
    let late = backend.release_ports("browsers", HOST, &claim, &[5900]).await;
    assert_eq!(late.expect("the fake answers"), 0, "the first claim is over");
    assert_eq!(backend.plan(HOST).len(), 1);
}

/// A governor shut down (or dropped) while a port lease it gave — a connection it lent — is
/// still held keeps beating, so the port stays claimed on the host, and leaves once the lease
/// is dropped.
#[tokio::test(start_paused = true)]
async fn a_governor_that_stopped_keeps_counting_until_its_ports_are_dropped() {
    let backend = FakeBackend::new();
    let (shut_down, dropped, other) =
        (on_host(resource(4), &backend), on_host(resource(4), &backend), on_host(resource(4), &backend));
    settle().await;
    let (held, also_held) = (lease_all(&shut_down, 1).await, lease_all(&dropped, 1).await);
    assert_eq!((ports(&held), ports(&also_held)), (vec![5900], vec![5901]));
    shut_down.shutdown(Duration::from_secs(1)).await;
    drop(dropped);
    let heartbeats = backend.heartbeats.load(SeqCst);
    // Well past the 2 s an instance counts after its last heartbeat.
    sleep(Duration::from_secs(5)).await;
    settle().await;
    assert_eq!(backend.heartbeats.load(SeqCst) - heartbeats, 15, "all three beat at 1 s, … 5 s");
    assert_eq!(backend.live_instances(), 3);
    let theirs = lease_all(&other, 1).await;
    assert_eq!(ports(&theirs), [5902], "5900 and 5901 stay claimed");
    drop((held, also_held));
    settle().await;
    assert_eq!(backend.live_instances(), 1, "both left once their ports were dropped");
    let claimed: Vec<u16> = backend.plan(HOST).into_iter().map(|(port, _)| port).collect();
    assert_eq!(claimed, [5902]);
    let heartbeats = backend.heartbeats.load(SeqCst);
    sleep(Duration::from_secs(3)).await;
    settle().await;
    assert_eq!(backend.heartbeats.load(SeqCst) - heartbeats, 3, "only the one left beats");
}

/// A claim still on its way when the governor stops counts as held: the instance beats until
/// its lease is dropped. After that, a port lease makes no claim: the instance has left.
#[tokio::test(start_paused = true)]
async fn a_claim_on_its_way_at_the_shutdown_keeps_the_instance_and_later_leases_are_local() {
    let backend = FakeBackend::new();
    // A 9 s TTL: a beat every 3 s keeps the instance 6 s; a slow answer (1 s) is within 2 s.
    let fleet = resource(4).lease_ttl(Duration::from_secs(9)).backend_timeout(Duration::from_secs(2));
    let gov = on_host(fleet, &backend);
    settle().await;
    backend.slow.store(true, SeqCst);
    let claiming = tokio::spawn({
        let gov = gov.clone();
        async move { gov.ports().lease("vnc").await }
    });
    settle().await;
    backend.slow.store(false, SeqCst); // the claim's answer comes at 1 s
    gov.shutdown(Duration::from_secs(1)).await;
    let lease = claiming.await.expect("no panic").expect("a port");
    assert!(lease.is_claimed());
    sleep(Duration::from_secs(10)).await;
    settle().await;
    assert_eq!(backend.live_instances(), 1, "still beating at 10 s");
    drop(lease);
    settle().await;
    assert_eq!((backend.live_instances(), backend.plan(HOST)), (0, Vec::new()));
    let local = gov.ports().lease("vnc").await.expect("a port");
    assert!(!local.is_claimed(), "the instance has left: no claim");
    assert_eq!((backend.live_instances(), backend.plan(HOST).len()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_claim_cut_off_gives_its_ports_back_here_and_on_the_host() {
    let backend = FakeBackend::new();
    let gov = on_host(resource(4).backend_timeout(Duration::from_millis(900)), &backend);
    settle().await;
    // Each operation takes effect at once and is answered a second later.
    backend.slow.store(true, SeqCst);
    let cut = timeout(Duration::from_millis(100), gov.ports().lease("vnc")).await;
    assert!(cut.is_err(), "cut off before the answer");
    assert_eq!(gov.ports().status()["vnc"].free, 6, "every candidate back at once");
    assert_eq!(backend.plan(HOST).len(), 1, "the claim took effect");
    sleep(Duration::from_secs(1)).await;
    assert_eq!(backend.plan(HOST), [], "released from a task, at once");
    assert_eq!(plan(&gov).unreleased, 6, "its answer came after the 900 ms limit: all six candidates");
    backend.slow.store(false, SeqCst);
    let lease = gov.ports().lease("vnc").await.expect("a port");
    assert_eq!(lease.port(), 5900, "the same order as before the cut-off");
    // The slow backend cut the heartbeat of 1 s off at 1.9 s; the next, a quarter period later
    // at 2.15 s, asks again; nothing is left to release.
    sleep(Duration::from_millis(1049)).await;
    settle().await;
    assert_eq!(plan(&gov).unreleased, 6, "2.149 s: not yet");
    sleep(Duration::from_millis(1)).await;
    settle().await;
    let status = plan(&gov);
    assert_eq!((status.held, status.claimed, status.released, status.unreleased), (1, 1, 0, 0));
    assert_eq!(backend.plan(HOST).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_down_backend_refuses_ports_in_fail_closed_and_leases_them_unclaimed_otherwise() {
    for mode in [OnBackendDown::FailClosed, OnBackendDown::LocalShare, OnBackendDown::FailOpen] {
        let backend = FakeBackend::new();
        let gov = on_host(resource(4).on_backend_down(mode), &backend);
        settle().await;
        backend.down.store(true, SeqCst);
        let leased = gov.ports().lease("vnc").await;
        settle().await;
        let status = gov.status().fleet.expect("a fleet section");
        if mode == OnBackendDown::FailClosed {
            let refused = leased.unwrap_err();
            assert_eq!(refused, PortError::PlanUnavailable { range: "vnc".into(), host: HOST.into() });
            assert_eq!(gov.ports().status()["vnc"].free, 6, "{mode:?}");
        } else {
            let lease = leased.expect("a port");
            assert_eq!((lease.port(), lease.is_claimed()), (5900, false), "{mode:?}");
        }
        let unshared = u64::from(mode != OnBackendDown::FailClosed);
        let ports = status.ports.expect("a port plan");
        assert_eq!(
            (ports.unshared, ports.claimed, ports.unreleased),
            (unshared, 0, 6),
            "{mode:?}: six candidates"
        );
        assert_eq!(status.backend, crate::fleet::BackendState::Down, "{mode:?}");
        // The failed claim's release is tried again at the heartbeats, once the backend is up.
        backend.down.store(false, SeqCst);
        sleep(Duration::from_secs(1)).await;
        settle().await;
        assert_eq!(plan(&gov).unreleased, 0, "{mode:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_backend_without_port_plans_leases_locally_and_is_not_down() {
    let backend = FakeBackend::new();
    backend.no_plans.store(true, SeqCst);
    let gov = on_host(resource(4).on_backend_down(OnBackendDown::FailClosed), &backend);
    settle().await;
    let leases = lease_all(&gov, 2).await;
    assert_eq!(ports(&leases), [5900, 5901]);
    assert!(!leases.iter().any(PortLease::is_claimed));
    let status = gov.status().fleet.expect("a fleet section");
    assert_eq!(status.backend, crate::fleet::BackendState::Up);
    assert_eq!((status.backend_errors, status.ports.expect("a plan").unshared), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_claim_is_contained_counted_and_taken_as_the_backend_down() {
    let backend = FakeBackend::new();
    let gov = on_host(resource(4), &backend);
    settle().await;
    backend.panics.store(PANICS_POLLED, SeqCst);
    let lease = gov.ports().lease("vnc").await.expect("local_share: a port without a claim");
    assert!(!lease.is_claimed());
    backend.panics.store(0, SeqCst);
    let status = gov.status();
    assert_eq!(status.fleet.expect("a fleet section").ports.expect("a plan").unshared, 1);
    assert_eq!(status.callbacks.panics.get("fleet_backend"), Some(&1));
}

#[tokio::test(start_paused = true)]
async fn a_governor_that_shares_no_ports_leases_locally() {
    let backend = FakeBackend::new();
    let gov = on_host(resource(4).share_ports(false), &backend);
    let lease = gov.ports().lease("vnc").await.expect("a port");
    assert!(!lease.is_claimed());
    assert_eq!(gov.status().fleet.expect("a fleet section").ports, None);
    assert_eq!(backend.plan(HOST), []);
}

/// Connections that hold their ports and whose `destroy` takes this long (a browser's takes a
/// while).
struct Sessions(Duration);

impl Manager for Sessions {
    type Key = u8;
    type Connection = Vec<u16>;
    type Error = Infallible;

    async fn create(&self, _key: &u8, ports: &[PortLease]) -> Result<Vec<u16>, Infallible> {
        Ok(ports.iter().map(PortLease::port).collect())
    }

    async fn check(&self, _connection: &mut Vec<u16>) -> Result<(), Infallible> {
        Ok(())
    }

    async fn destroy(&self, _connection: Vec<u16>) {
        sleep(self.0).await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_pools_of_two_governors_on_one_host_hold_disjoint_ports() {
    let backend = FakeBackend::new();
    let (first, second) = (on_host(resource(4), &backend), on_host(resource(4), &backend));
    settle().await;
    let mut config = first.pool_config();
    config.ports = vec!["vnc".into()];
    let pools = [&first, &second]
        .map(|gov| gov.pool("browsers", Sessions(Duration::ZERO)).config(config.clone()).build());
    let [one, two] = pools.map(|pool| pool.expect("a valid pool"));
    let mut held = Vec::new();
    for key in 0..3 {
        held.push(one.get(key).await.expect("a session"));
        held.push(two.get(key).await.expect("a session"));
    }
    let ports: BTreeSet<u16> = held.iter().flat_map(|session| session.iter().copied()).collect();
    assert_eq!(ports.len(), 6, "six sessions, six ports: {ports:?}");
    let error = one.get(9).await.unwrap_err();
    // Of the second governor's three ports, two rest since the first was passed over them
    // while it created its sessions; the third is asked for and found held.
    let crate::pool::PoolError::Ports(error) = error else { panic!("{error:?}") };
    let retry_after = Some(Duration::from_secs(1));
    assert_eq!(error, PortError::HeldOnHost { range: "vnc".into(), host: HOST.into(), held: 1, retry_after });
}

/// A `get` whose range's free ports are all held by another process of the host evicts one
/// idle connection and waits for the port it freed (destroyed at 0.1 s, resting until 1.1 s).
/// The ports found held rest until 1 s, come due first and are found held again: that is no
/// reason to evict a second connection, whose port would rest as long.
#[tokio::test(start_paused = true)]
async fn a_get_short_of_ports_held_on_the_host_evicts_once_and_waits_for_the_port_it_freed() {
    let backend = FakeBackend::new();
    let (mine, theirs) = (on_host(resource(4), &backend), on_host(resource(4), &backend));
    settle().await;
    let held_elsewhere = lease_all(&theirs, 3).await;
    assert_eq!(ports(&held_elsewhere), [5900, 5901, 5902]);
    let mut config = mine.pool_config();
    config.ports = vec!["vnc".into()];
    let pool = mine
        .pool("browsers", Sessions(Duration::from_millis(100)))
        .config(config)
        .build()
        .expect("a valid pool");
    for key in 0..3 {
        assert_eq!(*pool.get(key).await.expect("a session"), [5903 + u16::from(key)]);
    }
    sleep(Duration::from_secs(2)).await; // the ports passed over are due again
    let started = tokio::time::Instant::now();
    let session = pool.get(9).await.expect("a session");
    assert_eq!((*session).clone(), [5903], "the least recently used one's port");
    assert_eq!(started.elapsed(), Duration::from_millis(1100));
    let status = pool.status();
    assert_eq!((status.evicted, status.idle, status.created), (1, 2, 4));
}

#[tokio::test(start_paused = true)]
async fn a_backend_that_claims_a_port_it_was_not_given_is_a_wrong_answer_not_a_panic() {
    let backend = FakeBackend::new();
    let gov = on_host(resource(4).on_backend_down(OnBackendDown::FailClosed), &backend);
    settle().await;
    backend.claims_past_the_end.store(true, SeqCst);
    let refused = gov.ports().lease("vnc").await.unwrap_err();
    assert_eq!(refused, PortError::PlanUnavailable { range: "vnc".into(), host: HOST.into() });
    let status = gov.status().fleet.expect("a fleet section");
    assert_eq!((status.backend, status.backend_errors), (crate::fleet::BackendState::Down, 1));
    assert_eq!(gov.ports().status()["vnc"].free, 6, "every candidate back");
}

//! Live instances: each governor's heartbeat every third of the TTL, its leaving when it
//! stops, a silent instance expiring at its TTL, and `local_share` dividing by the count.

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use tokio::time::sleep;

use super::fake::{FakeBackend, governor, resource, settle, unleased_calls_of_a_second};
use crate::Governor;
use crate::fleet::{FleetBackend, OnBackendDown};

fn live_instances(gov: &Governor) -> Option<u32> {
    gov.status().fleet.expect("a fleet section").live_instances
}

#[tokio::test(start_paused = true)]
async fn each_governor_beats_every_third_of_the_ttl_without_a_call() {
    let backend = FakeBackend::new();
    let first = governor(resource(4), &backend, 1);
    settle().await;
    assert_eq!((backend.heartbeats.load(SeqCst), live_instances(&first)), (1, Some(1)));
    let second = governor(resource(4), &backend, 1);
    settle().await;
    assert_eq!(backend.heartbeats.load(SeqCst), 2);
    assert_eq!((live_instances(&first), live_instances(&second)), (Some(1), Some(2)));
    // Both beat again at 1 s (a 3 s TTL): the first now counts the second too.
    sleep(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(backend.heartbeats.load(SeqCst), 4);
    assert_eq!((live_instances(&first), live_instances(&second)), (Some(2), Some(2)));
    sleep(Duration::from_secs(9)).await;
    settle().await;
    assert_eq!(backend.heartbeats.load(SeqCst), 22, "two governors, at 0 s, 1 s, … 10 s");
    assert_eq!((backend.live(), backend.live_instances()), (0, 2), "no lease taken");
}

/// A failed heartbeat is tried again a quarter period later, so the instance does not lapse if
/// the regular beat after it is late (a 3 s TTL: a beat every second keeps it 2 s); the regular
/// beats then go on from the one that landed.
#[tokio::test(start_paused = true)]
async fn a_failed_heartbeat_is_tried_again_a_quarter_period_later() {
    let backend = FakeBackend::new();
    let _gov = governor(resource(4), &backend, 1);
    let started = tokio::time::Instant::now();
    let heartbeats_at = async |ms: u64| {
        tokio::time::sleep_until(started + Duration::from_millis(ms)).await;
        settle().await;
        backend.heartbeats.load(SeqCst)
    };
    assert_eq!(heartbeats_at(0).await, 1);
    heartbeats_at(900).await;
    backend.down.store(true, SeqCst);
    assert_eq!(heartbeats_at(1100).await, 2, "the beat at 1 s failed");
    backend.down.store(false, SeqCst);
    assert_eq!(heartbeats_at(1249).await, 2);
    assert_eq!(heartbeats_at(1250).await, 3, "tried again at 1.25 s");
    assert_eq!(backend.live_instances(), 1);
    assert_eq!(heartbeats_at(2249).await, 3);
    assert_eq!(heartbeats_at(2250).await, 4, "a second after the one that landed");
    assert_eq!(heartbeats_at(3250).await, 5);
    assert_eq!(backend.live_instances(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_stopped_governor_leaves_and_a_silent_instance_expires_at_its_ttl() {
    let backend = FakeBackend::new();
    let stays = governor(resource(4), &backend, 1);
    let shut_down = governor(resource(4), &backend, 1);
    let dropped = governor(resource(4), &backend, 1);
    // An instance that beat once and went silent, as a process killed with SIGKILL.
    let silent = backend.heartbeat("browsers", "killed", Duration::from_secs(3)).await;
    assert_eq!(silent.expect("the fake answers"), 1, "the governors beat when the test yields");
    settle().await;
    assert_eq!(backend.live_instances(), 4);
    shut_down.shutdown(Duration::from_secs(1)).await;
    assert_eq!(backend.live_instances(), 3, "left at shutdown");
    drop(dropped);
    settle().await;
    assert_eq!(backend.live_instances(), 2, "left when its last handle was dropped");
    sleep(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(live_instances(&stays), Some(2), "the silent one lives until 3 s");
    sleep(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(live_instances(&stays), Some(1), "expired at 3 s, seen by the beat at 3 s");
    let heartbeats = backend.heartbeats.load(SeqCst);
    sleep(Duration::from_secs(3)).await;
    settle().await;
    assert_eq!(backend.heartbeats.load(SeqCst) - heartbeats, 3, "only the one left beats");
}

#[tokio::test(start_paused = true)]
async fn local_share_divides_the_cap_by_the_instances_the_heartbeats_count() {
    let backend = FakeBackend::new();
    let fleet = resource(8).on_backend_down(OnBackendDown::LocalShare);
    let governors: Vec<Governor> = (0..4).map(|_| governor(fleet.clone(), &backend, 8)).collect();
    // One beat each at 0 s; the second round, at 1 s, lets every one count all four.
    sleep(Duration::from_secs(1)).await;
    settle().await;
    assert!(governors.iter().all(|gov| live_instances(gov) == Some(4)));
    governors[3].shutdown(Duration::from_secs(1)).await;
    sleep(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(live_instances(&governors[0]), Some(3), "no call took a lease: the heartbeat told");
    backend.down.store(true, SeqCst);
    let (ran, refused) = unleased_calls_of_a_second(&governors[0], 3).await;
    assert_eq!((ran, refused), (2, 1), "8 / 3 live instances: a share of 2");
    let status = governors[0].status().fleet.expect("a fleet section");
    assert_eq!((status.acquired, status.fallbacks, status.refused), (0, 2, 1));
}

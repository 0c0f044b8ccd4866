//! `on_backend_down`: what a call does when the fake backend is down or hangs.

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::fake::{
    DROPPED, FakeBackend, PANICS_MAKING, PANICS_POLLED, governor, resource, settle,
    unleased_calls_of_a_second,
};
use crate::fleet::{BackendState, FencingToken, OnBackendDown};
use crate::{Error, Rejection};

async fn quick(gov: &crate::Governor) -> Result<Option<FencingToken>, Error<std::io::Error>> {
    gov.run(|| async { Ok(FencingToken::current()) }).await
}

#[tokio::test(start_paused = true)]
async fn fail_closed_refuses_while_the_backend_is_down() {
    let backend = FakeBackend::new();
    backend.down.store(true, SeqCst);
    let gov = governor(resource(4).on_backend_down(OnBackendDown::FailClosed), &backend, 2);
    let refused = quick(&gov).await;
    assert!(matches!(refused, Err(Error::Rejected(Rejection::FleetUnavailable))), "{refused:?}");
    settle().await;
    let status = gov.status();
    let fleet = status.fleet.expect("a fleet section");
    // The first heartbeat's failure, then the acquire's. The backend was down already, so
    // the give-back of whatever the acquire may have been granted waits for a heartbeat.
    assert_eq!(
        (fleet.backend, fleet.refused, fleet.fallbacks, fleet.backend_errors),
        (BackendState::Down, 1, 0, 2)
    );
    assert_eq!(status.workers.rejected, 1);
    backend.down.store(false, SeqCst);
    assert_eq!(quick(&gov).await.expect("back in shared mode"), Some(FencingToken::new(1)));
    assert_eq!(gov.status().fleet.expect("a fleet section").backend, BackendState::Up);
}

/// A backend's code is the user's when the backend is: its panics, whether it makes an
/// operation's future or its future panics when polled, are caught, counted as `fleet_backend`
/// and answered as the backend being down; the governor goes on.
#[tokio::test(start_paused = true)]
async fn a_panicking_backend_is_contained_counted_and_taken_as_down() {
    let backend = FakeBackend::new();
    backend.panics.store(PANICS_MAKING, SeqCst);
    let gov = governor(resource(4).on_backend_down(OnBackendDown::FailClosed), &backend, 2);
    let refused = quick(&gov).await;
    assert!(matches!(refused, Err(Error::Rejected(Rejection::FleetUnavailable))), "{refused:?}");
    backend.panics.store(PANICS_POLLED, SeqCst);
    let refused = quick(&gov).await;
    assert!(matches!(refused, Err(Error::Rejected(Rejection::FleetUnavailable))), "{refused:?}");
    settle().await;
    let status = gov.status();
    let fleet = status.fleet.expect("a fleet section");
    // The first heartbeat and the first acquire panicked making their futures, the second
    // acquire's future when polled (the give-backs wait for a heartbeat: the backend was down).
    assert_eq!((fleet.backend, fleet.refused, fleet.backend_errors), (BackendState::Down, 2, 3));
    assert_eq!(status.callbacks.panics.get("fleet_backend"), Some(&3));
    backend.panics.store(0, SeqCst);
    assert_eq!(quick(&gov).await.expect("back in shared mode"), Some(FencingToken::new(1)));
}

#[tokio::test(start_paused = true)]
async fn fail_open_runs_without_a_lease() {
    let backend = FakeBackend::new();
    backend.down.store(true, SeqCst);
    let gov = governor(resource(4).on_backend_down(OnBackendDown::FailOpen), &backend, 2);
    assert_eq!(quick(&gov).await.expect("runs"), None, "no lease, no token");
    settle().await;
    let fleet = gov.status().fleet.expect("a fleet section");
    assert_eq!((fleet.fallbacks, fleet.refused, fleet.running_unleased), (1, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn local_share_runs_the_cap_divided_by_the_live_instances() {
    let backend = FakeBackend::new();
    backend.down.store(true, SeqCst);
    let gov = governor(resource(4), &backend, 8);
    let refused = quick(&gov).await;
    assert!(
        matches!(refused, Err(Error::Rejected(Rejection::FleetUnavailable))),
        "no share known yet: {refused:?}"
    );
    // A second instance joins: the backend tells of 2 live ones, and this one's share of 4 is 2.
    backend.down.store(false, SeqCst);
    let _other = governor(resource(4), &backend, 8);
    // This one's first heartbeat failed: its second, at 1 s, counts it.
    sleep(Duration::from_secs(1)).await;
    quick(&gov).await.expect("leased");
    backend.down.store(true, SeqCst);
    let (ran, refused) = unleased_calls_of_a_second(&gov, 3).await;
    assert_eq!((ran, refused), (2, 1));
    settle().await;
    let fleet = gov.status().fleet.expect("a fleet section");
    assert_eq!(
        (fleet.fallbacks, fleet.refused, fleet.running_unleased, fleet.live_instances),
        (2, 2, 0, Some(2))
    );
}

#[tokio::test(start_paused = true)]
async fn a_hung_backend_counts_as_down_after_the_backend_timeout() {
    let backend = FakeBackend::new();
    backend.hang.store(true, SeqCst);
    let gov = governor(resource(4).on_backend_down(OnBackendDown::FailOpen), &backend, 2);
    let started = Instant::now();
    assert_eq!(quick(&gov).await.expect("runs"), None);
    assert_eq!(started.elapsed(), Duration::from_millis(250), "the default backend_timeout");
    assert_eq!(gov.status().fleet.expect("a fleet section").backend, BackendState::Down);
}

#[tokio::test(start_paused = true)]
async fn a_grant_answered_after_the_backend_timeout_is_given_back() {
    let backend = FakeBackend::new();
    let gov = governor(resource(4).on_backend_down(OnBackendDown::FailOpen), &backend, 2);
    settle().await;
    // The backend grants the lease at once, but its answer comes after the 250 ms limit.
    backend.slow.store(true, SeqCst);
    let started = Instant::now();
    assert_eq!(quick(&gov).await.expect("runs"), None, "given up: no lease, no token");
    assert_eq!(started.elapsed(), Duration::from_millis(250));
    settle().await;
    assert_eq!(
        (backend.live(), backend.releases.load(SeqCst)),
        (0, 1),
        "the grant nobody holds is given back, not left to its 3 s TTL"
    );
    let fleet = gov.status().fleet.expect("a fleet section");
    assert_eq!((fleet.fallbacks, fleet.running_unleased, fleet.leases_held, fleet.acquired), (1, 0, 0, 0));
}

/// A process cut off from the backend while the others reach it: its lease expires in the
/// backend one TTL after the acquire was sent, and another process may take the slot. Under
/// `fail_closed` the call ends then, though the last renewal's wait has not run out.
#[tokio::test(start_paused = true)]
async fn fail_closed_ends_a_call_whose_renewals_fail_at_the_lease_ttl() {
    let backend = FakeBackend::new();
    let gov = governor(resource(1).on_backend_down(OnBackendDown::FailClosed), &backend, 1);
    let started = Instant::now();
    let partitioned = {
        let backend = std::sync::Arc::clone(&backend);
        gov.run(move || {
            let backend = std::sync::Arc::clone(&backend);
            async move {
                // Once leased, renewals hang to the 250 ms limit: sent at 1 s and 2.25 s, the
                // next one not before 3.5 s.
                backend.hang.store(true, SeqCst);
                sleep(Duration::from_secs(60)).await;
                Ok::<_, std::io::Error>(())
            }
        })
        .await
    };
    assert!(matches!(partitioned, Err(Error::LeaseLost)), "{partitioned:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(3), "the acquire's send and the 3 s TTL");
    assert_eq!(backend.renewals.load(SeqCst), 2);
    let status = gov.status();
    assert_eq!((status.fleet.expect("a fleet section").lost, status.workers.failed), (1, 1));
}

/// An acquire the backend granted but whose answer was lost — the connection dropped, or the
/// backend's code panicked after granting — is given back as soon as the backend answers, not
/// left to its TTL.
#[tokio::test(start_paused = true)]
async fn a_grant_whose_answer_failed_is_given_back() {
    let backend = FakeBackend::new();
    let gov = governor(resource(1).on_backend_down(OnBackendDown::FailClosed), &backend, 2);
    settle().await;
    for (failure, token) in [(DROPPED, 2), (PANICS_POLLED, 4)] {
        backend.grants_then_fails.store(failure, SeqCst);
        let refused = quick(&gov).await;
        assert!(matches!(refused, Err(Error::Rejected(Rejection::FleetUnavailable))), "{refused:?}");
        settle().await;
        assert_eq!(backend.live(), 0, "the grant nobody holds is given back, not left to its 3 s TTL");
        let started = Instant::now();
        assert_eq!(quick(&gov).await.expect("granted"), Some(FencingToken::new(token)));
        assert_eq!(started.elapsed(), Duration::ZERO, "at once, with a cap of 1");
    }
    settle().await;
    let fleet = gov.status().fleet.expect("a fleet section");
    assert_eq!((fleet.refused, fleet.acquired, fleet.leases_held), (2, 2, 0));
    assert_eq!(backend.releases.load(SeqCst), 4, "two given back, two released");
}

/// A release the backend did not answer is sent again at the next heartbeat (every second
/// with a 3 s TTL), so the lease does not keep its slot until its TTL.
#[tokio::test(start_paused = true)]
async fn a_failed_release_is_retried_at_the_next_heartbeat() {
    let backend = FakeBackend::new();
    let gov = governor(resource(1), &backend, 1);
    backend.failing_releases.store(1, SeqCst);
    gov.run(|| async {
        sleep(Duration::from_millis(500)).await;
        Ok::<_, std::io::Error>(())
    })
    .await
    .expect("ran");
    settle().await;
    assert_eq!((backend.live(), backend.releases.load(SeqCst)), (1, 1), "the release failed");
    sleep(Duration::from_millis(500)).await;
    settle().await;
    assert_eq!((backend.live(), backend.releases.load(SeqCst)), (0, 2), "released by the heartbeat at 1 s");
    sleep(Duration::from_secs(1)).await;
    assert_eq!(backend.releases.load(SeqCst), 2, "released once: nothing left to retry");
}

/// Through an outage, what a failed acquire may have been granted is kept for the heartbeats to
/// give back — only a TTL's worth, the older having expired in the backend — and the first
/// heartbeat that lands gives all of it back.
#[tokio::test(start_paused = true)]
async fn the_give_backs_kept_through_an_outage_are_one_ttls_and_go_back_at_the_next_heartbeat() {
    let backend = FakeBackend::new();
    backend.down.store(true, SeqCst);
    let gov = governor(resource(4).on_backend_down(OnBackendDown::FailClosed), &backend, 2);
    // A refused call every 100 ms for 9 s, three TTLs of 3 s: at 9 s, those kept after 6 s.
    for _ in 0..90 {
        assert!(matches!(quick(&gov).await, Err(Error::Rejected(Rejection::FleetUnavailable))));
        sleep(Duration::from_millis(100)).await;
    }
    let to_release = || gov.status().fleet.expect("a fleet section").leases_to_release;
    assert_eq!((to_release(), backend.releases.load(SeqCst)), (29, 0));
    backend.down.store(false, SeqCst);
    sleep(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!((to_release(), backend.releases.load(SeqCst)), (0, 29));
}

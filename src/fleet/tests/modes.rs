//! `on_backend_down`: what a call does when the fake backend is down or hangs.

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::fake::{FakeBackend, governor, resource, settle};
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
    let status = gov.status();
    let fleet = status.fleet.expect("a fleet section");
    assert_eq!(
        (fleet.backend, fleet.refused, fleet.fallbacks, fleet.backend_errors),
        (BackendState::Down, 1, 0, 1)
    );
    assert_eq!(status.workers.rejected, 1);
    backend.down.store(false, SeqCst);
    assert_eq!(quick(&gov).await.expect("back in shared mode"), Some(FencingToken::new(1)));
    assert_eq!(gov.status().fleet.expect("a fleet section").backend, BackendState::Up);
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
    let gov = governor(resource(4), &backend, 8);
    backend.down.store(true, SeqCst);
    let refused = quick(&gov).await;
    assert!(
        matches!(refused, Err(Error::Rejected(Rejection::FleetUnavailable))),
        "no share known yet: {refused:?}"
    );
    // The backend tells of 2 live instances: this process's share of 4 is 2.
    backend.down.store(false, SeqCst);
    backend.instances.store(2, SeqCst);
    quick(&gov).await.expect("leased");
    backend.down.store(true, SeqCst);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let gov = gov.clone();
        calls.spawn(async move {
            gov.run(|| async {
                sleep(Duration::from_secs(1)).await;
                Ok::<_, std::io::Error>(FencingToken::current())
            })
            .await
        });
    }
    let (mut ran, mut refused) = (0, 0);
    while let Some(result) = calls.join_next().await {
        match result.expect("no panic") {
            Ok(None) => ran += 1,
            Err(Error::Rejected(Rejection::FleetUnavailable)) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
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

//! Leases on a fake backend: taken after the worker, renewed at a third of the TTL, released
//! however the call ends, and a lost one cancels its call.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::fake::{FakeBackend, governor, resource, settle};
use crate::Error;
use crate::fleet::{BackendState, FencingToken};

#[tokio::test(start_paused = true)]
async fn a_call_runs_under_a_lease_with_its_token_and_releases_it() {
    let backend = FakeBackend::new();
    let gov = governor(resource(2), &backend, 4);
    let live_inside = {
        let backend = Arc::clone(&backend);
        gov.run(move || {
            let backend = Arc::clone(&backend);
            async move { Ok::<_, std::io::Error>((FencingToken::current(), backend.live())) }
        })
        .await
        .expect("granted")
    };
    assert_eq!(live_inside, (Some(FencingToken::new(1)), 1));
    settle().await;
    assert_eq!((backend.live(), backend.releases.load(SeqCst)), (0, 1));
    let status = gov.status().fleet.expect("a fleet section");
    assert_eq!((status.acquired, status.leases_held, status.lost), (1, 0, 0));
    assert_eq!((status.backend, status.live_instances), (BackendState::Up, Some(1)));
    assert_eq!(FencingToken::current(), None, "only inside the operation");
}

#[tokio::test(start_paused = true)]
async fn the_cap_holds_across_the_workers_and_tokens_grow() {
    let backend = FakeBackend::new();
    let gov = governor(resource(2), &backend, 6);
    let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let started = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (gov, running, most) = (gov.clone(), Arc::clone(&running), Arc::clone(&most));
        calls.spawn(async move {
            gov.run(move || {
                let (running, most) = (Arc::clone(&running), Arc::clone(&most));
                async move {
                    most.fetch_max(running.fetch_add(1, SeqCst) + 1, SeqCst);
                    sleep(Duration::from_millis(100)).await;
                    running.fetch_sub(1, SeqCst);
                    Ok::<_, std::io::Error>(FencingToken::current().expect("leased").get())
                }
            })
            .await
        });
    }
    let mut tokens = Vec::new();
    while let Some(result) = calls.join_next().await {
        tokens.push(result.expect("no panic").expect("each call gets its lease"));
    }
    tokens.sort_unstable();
    assert_eq!(tokens, [1, 2, 3, 4, 5, 6]);
    assert_eq!(most.load(SeqCst), 2, "never more than the cap at once");
    // Three rounds of two 100 ms calls; a waiting call asks again every 10 ms, so each round
    // starts within 10 ms of the last one's end.
    let elapsed = started.elapsed();
    assert!((300..=330).contains(&elapsed.as_millis()), "{elapsed:?}");
    assert_eq!(gov.status().fleet.expect("a fleet section").acquired, 6);
}

#[tokio::test(start_paused = true)]
async fn a_long_call_keeps_its_lease_by_renewing_every_third_of_the_ttl() {
    let backend = FakeBackend::new();
    let gov = governor(resource(1), &backend, 1);
    let slept = gov
        .run(|| async {
            sleep(Duration::from_millis(9_500)).await;
            Ok::<_, std::io::Error>(FencingToken::current())
        })
        .await;
    assert_eq!(slept.expect("kept its lease"), Some(FencingToken::new(1)));
    // A 3 s TTL renewed at 1 s, 2 s, … 9 s: nine renewals, and the lease never expired.
    assert_eq!(backend.renewals.load(SeqCst), 9);
    assert_eq!(gov.status().fleet.expect("a fleet section").lost, 0);
}

#[tokio::test(start_paused = true)]
async fn a_lost_lease_cancels_the_call_at_the_next_renewal() {
    let backend = FakeBackend::new();
    let gov = governor(resource(1), &backend, 1);
    lose_all_at(&backend, Duration::from_millis(2_500));
    let started = Instant::now();
    let cancelled = gov
        .run(|| async {
            sleep(Duration::from_secs(60)).await;
            Ok::<_, std::io::Error>(())
        })
        .await;
    assert!(matches!(cancelled, Err(Error::LeaseLost)), "{cancelled:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(3), "the renewal after the loss");
    let status = gov.status();
    assert_eq!((status.fleet.expect("a fleet section").lost, status.workers.failed), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_and_a_panicked_one_release_their_leases() {
    let backend = FakeBackend::new();
    let gov = governor(resource(1), &backend, 2);
    let dropped = tokio::time::timeout(
        Duration::from_secs(5),
        gov.run(|| async {
            sleep(Duration::from_secs(60)).await;
            Ok::<_, std::io::Error>(())
        }),
    )
    .await;
    assert!(dropped.is_err(), "cut off by the caller");
    settle().await;
    assert_eq!((backend.live(), backend.releases.load(SeqCst)), (0, 1));
    let panicked = gov.run(|| async { panic!("the driver crashed") as Result<(), std::io::Error> }).await;
    assert!(matches!(panicked, Err(Error::Panicked { .. })), "{panicked:?}");
    settle().await;
    assert_eq!((backend.live(), backend.releases.load(SeqCst)), (0, 2));
    assert_eq!(gov.status().fleet.expect("a fleet section").leases_held, 0);
}

#[tokio::test(start_paused = true)]
async fn spawned_tasks_take_leases_within_the_cap_and_give_them_back() {
    let backend = FakeBackend::new();
    let gov = governor(resource(2), &backend, 6);
    let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let started = Instant::now();
    let mut handles = Vec::new();
    for queued in [false, false, false, true, true, true] {
        let (running, most) = (Arc::clone(&running), Arc::clone(&most));
        let task = async move {
            most.fetch_max(running.fetch_add(1, SeqCst) + 1, SeqCst);
            sleep(Duration::from_millis(100)).await;
            running.fetch_sub(1, SeqCst);
            Ok::<_, std::io::Error>(FencingToken::current().expect("leased").get())
        };
        handles.push(match queued {
            false => gov.spawn(task).expect("admitted"),
            true => gov.spawn_queued(task).await.expect("admitted"),
        });
    }
    let mut tokens = Vec::new();
    for handle in handles {
        tokens.push(handle.await.expect("each task gets its lease"));
    }
    tokens.sort_unstable();
    assert_eq!(tokens, [1, 2, 3, 4, 5, 6]);
    assert_eq!(most.load(SeqCst), 2, "six workers, a cap of two");
    // Three rounds of two. A task turned away by a full resource asks again every 10 ms: the
    // ask at 100 ms comes just before the first round's releases, so the second round starts
    // at 110 ms, and the third at 220 ms.
    assert_eq!(started.elapsed(), Duration::from_millis(320));
    settle().await;
    assert_eq!((backend.live(), backend.releases.load(SeqCst)), (0, 6));
    let status = gov.status().fleet.expect("a fleet section");
    assert_eq!((status.acquired, status.leases_held), (6, 0));
}

#[tokio::test(start_paused = true)]
async fn a_spawned_task_whose_lease_is_lost_ends_with_lease_lost() {
    let backend = FakeBackend::new();
    let gov = governor(resource(1), &backend, 1);
    lose_all_at(&backend, Duration::from_millis(2_500));
    let started = Instant::now();
    let handle = gov
        .spawn(async {
            sleep(Duration::from_secs(60)).await;
            Ok::<_, std::io::Error>(())
        })
        .expect("admitted");
    let ended = handle.await;
    assert!(matches!(ended, Err(Error::LeaseLost)), "{ended:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(3), "the renewal after the loss");
    let status = gov.status();
    assert_eq!((status.fleet.expect("a fleet section").lost, status.workers.failed), (1, 1));
}

/// Makes the backend forget every lease `after` from now.
fn lose_all_at(backend: &Arc<FakeBackend>, after: Duration) {
    let losing = Arc::clone(backend);
    tokio::spawn(async move {
        sleep(after).await;
        losing.lose_all();
    });
}

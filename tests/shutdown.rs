//! Shutdown: stop admitting, let work finish within the grace period, cancel the rest, count each.

mod support;

use std::pin::pin;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use bursar::{Error, Rejection};
use support::{DropCounter, Io, poll_once, sleep_secs, tracked_sleep, until};
use tokio::time::Instant;

async fn sleeper(secs: u64) -> Result<u64, Io> {
    sleep_secs(secs).await;
    Ok(secs)
}

#[tokio::test(start_paused = true)]
async fn work_inside_the_grace_period_finishes_the_rest_is_cancelled_and_each_is_counted() {
    let gov = support::builder().max_workers(3).build().unwrap();
    let quick = gov.spawn(sleeper(2)).unwrap();
    let also_quick = gov.spawn(sleeper(4)).unwrap();
    let dropped = DropCounter::default();
    let slow = gov.spawn(tracked_sleep(dropped.token(), 60)).unwrap();
    let queued = gov.spawn(sleeper(1)).unwrap();
    until(|| gov.status().workers.queued == 1).await;

    let started = Instant::now();
    let report = gov.shutdown(Duration::from_secs(5)).await;
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert_eq!(report.elapsed, Duration::from_secs(5));
    assert_eq!((report.finished, report.cancelled, report.rejected_waiting, report.unfinished), (2, 1, 1, 0));
    assert_eq!(report.blocking_still_running, 0);

    assert_eq!(quick.await.unwrap(), 2);
    assert_eq!(also_quick.await.unwrap(), 4);
    assert!(matches!(slow.await, Err(Error::Cancelled)));
    assert_eq!(dropped.drops(), 1, "the cancelled work was dropped");
    assert_eq!(queued.await.unwrap_err().rejection(), Some(Rejection::ShuttingDown));

    let status = gov.status().workers;
    assert_eq!((status.completed, status.cancelled, status.rejected_shutting_down), (2, 1, 1));
    assert_eq!((status.active, status.queued, status.in_flight), (0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn shutdown_returns_as_soon_as_everything_has_finished() {
    let gov = support::builder().build().unwrap();
    let calls: Vec<_> = (1..=3).map(|secs| gov.spawn(sleeper(secs)).unwrap()).collect();
    tokio::task::yield_now().await;
    let report = gov.shutdown(Duration::from_secs(30)).await;
    assert_eq!(report.elapsed, Duration::from_secs(3));
    assert_eq!((report.finished, report.cancelled, report.rejected_waiting), (3, 0, 0));
    for call in calls {
        call.await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_awaited_in_place_is_cancelled_too() {
    let gov = support::builder().build().unwrap();
    let caller = tokio::spawn({
        let gov = gov.clone();
        async move { gov.run(|| sleeper(600)).await }
    });
    until(|| gov.status().workers.active == 1).await;
    let report = gov.shutdown(Duration::from_secs(1)).await;
    assert_eq!((report.finished, report.cancelled), (0, 1));
    assert!(matches!(caller.await.unwrap(), Err(Error::Cancelled)));
}

#[tokio::test(start_paused = true)]
async fn after_shutdown_every_call_is_rejected() {
    let gov = support::builder().build().unwrap();
    let report = gov.shutdown(Duration::from_secs(1)).await;
    assert_eq!((report.finished, report.cancelled, report.elapsed), (0, 0, Duration::ZERO));

    let run = gov.run(|| async { Ok::<_, Io>(()) }).await;
    assert_eq!(run.unwrap_err().rejection(), Some(Rejection::ShuttingDown));
    assert_eq!(gov.spawn(async { Ok::<_, Io>(()) }).unwrap_err(), Rejection::ShuttingDown);
    assert_eq!(gov.spawn_blocking(|| Ok::<_, Io>(())).unwrap_err(), Rejection::ShuttingDown);
    assert_eq!(gov.status().workers.rejected_shutting_down, 3);

    let again = gov.shutdown(Duration::from_secs(1)).await;
    assert_eq!((again.finished, again.cancelled, again.rejected_waiting), (0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_future_nobody_polls_is_reported_unfinished() {
    let gov = support::builder().build().unwrap();
    let mut forgotten = pin!(gov.run(|| sleeper(600)));
    assert!(poll_once(forgotten.as_mut()).is_none());
    let report = gov.shutdown(Duration::from_secs(2)).await;
    assert_eq!((report.cancelled, report.unfinished), (0, 1));
    assert!(matches!(poll_once(forgotten.as_mut()), Some(Err(Error::Cancelled))));
    assert_eq!(gov.status().workers.in_flight, 0);
}

#[tokio::test]
async fn blocking_closures_still_running_are_reported_and_keep_their_place() {
    let gov = support::builder().blocking_threads(1).build().unwrap();
    let (release, gate) = mpsc::channel::<()>();
    let (entered, inside) = mpsc::channel::<()>();
    let gate = Arc::new(std::sync::Mutex::new(gate));
    let handle = gov
        .spawn_blocking(move || {
            entered.send(()).unwrap();
            gate.lock().unwrap().recv().unwrap();
            Ok::<_, Io>(())
        })
        .unwrap();
    tokio::task::spawn_blocking(move || inside.recv().unwrap()).await.unwrap();

    let report = gov.shutdown(Duration::from_millis(50)).await;
    assert_eq!((report.cancelled, report.blocking_still_running), (1, 1));
    assert!(matches!(handle.await, Err(Error::Cancelled)));
    assert_eq!(gov.status().workers.blocking.active, 1, "the thread keeps its place");

    release.send(()).unwrap();
    for _ in 0..500 {
        if gov.status().workers.blocking.active == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the blocking place was never released");
}

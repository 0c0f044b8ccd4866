//! The bounded worker pool: limits, queue, timeouts, panics, cancellation, resize.

mod support;

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bursar::{Error, Governor, Rejection};
use support::{DropCounter, Gauge, Io, io_error, poll_once, sleep_secs, tracked_sleep, until};
use tokio::sync::Semaphore;
use tokio::time::Instant;

fn governor(max_workers: usize, queue_limit: usize) -> Governor {
    support::builder().max_workers(max_workers).queue_limit(queue_limit).build().unwrap()
}

/// An operation that stays inside `gauge` until the test adds a permit to `gate`.
async fn hold(gauge: Arc<Gauge>, gate: Arc<Semaphore>) -> Result<(), Io> {
    let _inside = gauge.enter();
    gate.acquire().await.expect("the gate is never closed").forget();
    Ok(())
}

fn gate() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(0))
}

type Calls = tokio::task::JoinSet<Result<(), Error<Io>>>;

/// Starts `count` calls that each hold a worker until the returned gate gets a permit for it.
fn start_held(gov: &Governor, count: usize) -> (Arc<Gauge>, Arc<Semaphore>, Calls) {
    let (gauge, gate) = (Arc::new(Gauge::default()), gate());
    let mut calls = Calls::new();
    for _ in 0..count {
        let (gov, gauge, gate) = (gov.clone(), Arc::clone(&gauge), Arc::clone(&gate));
        calls.spawn(async move { gov.run(|| hold(Arc::clone(&gauge), Arc::clone(&gate))).await });
    }
    (gauge, gate, calls)
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_operations_through_ten_workers_never_exceed_ten() {
    let gov = governor(10, 10_000);
    let gauge = Arc::new(Gauge::default());
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..10_000u64 {
        let (gov, gauge) = (gov.clone(), Arc::clone(&gauge));
        calls.spawn(async move {
            gov.run(|| {
                let gauge = Arc::clone(&gauge);
                async move {
                    let _inside = gauge.enter();
                    tokio::time::sleep(Duration::from_millis(1 + i % 7)).await;
                    Ok::<_, Io>(i)
                }
            })
            .await
        });
    }
    let mut sum = 0;
    while let Some(joined) = calls.join_next().await {
        sum += joined.unwrap().unwrap();
    }
    assert_eq!(sum, (0..10_000u64).sum::<u64>());
    assert_eq!(gauge.peak(), 10);
    let status = gov.status().workers;
    assert_eq!((status.completed, status.failed, status.rejected), (10_000, 0, 0));
    assert_eq!((status.active, status.queued, status.in_flight), (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_holds_on_the_multi_thread_runtime() {
    let gov = governor(3, 10_000);
    let gauge = Arc::new(Gauge::default());
    // Until three calls have been inside at once, each call waits inside for company: so the
    // peak is exactly the limit — at least 3 because they wait for each other, at most 3
    // because the governor lets no fourth in while they wait.
    let full = Arc::new(AtomicBool::new(false));
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..2_000 {
        let (gov, gauge, full) = (gov.clone(), Arc::clone(&gauge), Arc::clone(&full));
        calls.spawn(async move {
            gov.run(|| {
                let (gauge, full) = (Arc::clone(&gauge), Arc::clone(&full));
                async move {
                    let _inside = gauge.enter();
                    while !full.load(Ordering::SeqCst) {
                        if gauge.current() == 3 {
                            full.store(true, Ordering::SeqCst);
                        }
                        tokio::task::yield_now().await;
                    }
                    tokio::task::yield_now().await;
                    Ok::<_, Io>(())
                }
            })
            .await
        });
    }
    let all_done = async {
        while let Some(joined) = calls.join_next().await {
            joined.unwrap().unwrap();
        }
    };
    // Fewer than three workers at once would leave the first calls waiting for company forever.
    let done = tokio::time::timeout(std::time::Duration::from_secs(60), all_done).await;
    assert!(done.is_ok(), "three calls never got inside together (peak {})", gauge.peak());
    assert_eq!(gauge.peak(), 3);
    let status = gov.status().workers;
    assert_eq!((status.completed, status.active, status.queued), (2_000, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_rejects_at_once_and_only_when_full() {
    let gov = governor(2, 3);
    let (gauge, gate, mut calls) = start_held(&gov, 5);
    until(|| gov.status().workers.queued == 3 && gauge.current() == 2).await;
    assert_eq!(gov.status().workers.active, 2);

    let started = Instant::now();
    let sixth = gov.run(|| async { Ok::<_, Io>(()) }).await;
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert!(matches!(sixth, Err(Error::Rejected(Rejection::QueueFull { limit: 3 }))));

    gate.add_permits(5);
    while let Some(joined) = calls.join_next().await {
        joined.unwrap().unwrap();
    }
    let status = gov.status().workers;
    assert_eq!((status.completed, status.rejected, status.rejected_queue_full), (5, 1, 1));
    assert_eq!((status.active, status.queued, status.in_flight), (0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_call_waiting_past_the_queue_timeout_is_rejected_exactly_then() {
    let gov = support::builder().max_workers(1).queue_timeout(Duration::from_secs(5)).build().unwrap();
    let busy = gov.spawn(async {
        sleep_secs(60).await;
        Ok::<_, Io>(())
    });
    until(|| gov.status().workers.active == 1).await;

    let started = Instant::now();
    let waited = gov.run(|| async { Ok::<_, Io>(()) }).await;
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    let expected = Rejection::QueueTimeout { waited: Duration::from_secs(5) };
    assert_eq!(waited.unwrap_err().rejection(), Some(expected));
    let status = gov.status().workers;
    assert_eq!((status.rejected_queue_timeout, status.queued, status.active), (1, 0, 1));
    busy.unwrap().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn work_past_the_max_task_duration_is_cancelled_exactly_then() {
    let gov = support::builder().max_task_duration(Duration::from_secs(10)).build().unwrap();
    let dropped = DropCounter::default();
    let started = Instant::now();
    let result = gov.run(|| tracked_sleep(dropped.token(), 60)).await;
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert!(matches!(result, Err(Error::Timeout { after }) if after == Duration::from_secs(10)));
    assert_eq!(dropped.drops(), 1, "the operation's future is dropped: the work is cancelled");
    let status = gov.status().workers;
    assert_eq!((status.failed, status.timed_out, status.active), (1, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_cut_off_counts_as_timed_out_and_an_attempt_timeout_apart() {
    let secs = Duration::from_secs;
    let hang = || async {
        sleep_secs(60).await;
        Ok::<_, Io>(())
    };
    let gov = support::builder().max_task_duration(secs(10)).max_attempts(1).build().unwrap();
    let cut_off = gov.run(hang).await;
    assert!(matches!(cut_off, Err(Error::Timeout { after }) if after == secs(10)));
    let status = gov.status().workers;
    assert_eq!((status.failed, status.timed_out, status.attempt_timeouts), (1, 1, 0));

    let attempt = gov.call(hang).timeout(secs(3)).await;
    assert!(matches!(attempt, Err(Error::AttemptTimeout { after }) if after == secs(3)));
    let status = gov.status().workers;
    assert_eq!((status.failed, status.timed_out, status.attempt_timeouts, status.retries), (2, 1, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn work_that_finishes_at_once_is_never_timed_out() {
    let gov = support::builder().max_task_duration(Duration::from_millis(1)).build().unwrap();
    for _ in 0..3 {
        assert_eq!(gov.run(|| async { Ok::<_, Io>(7) }).await.unwrap(), 7);
    }
    assert_eq!(gov.status().workers.timed_out, 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_call_while_it_waits_in_the_queue_leaves_nothing_behind() {
    let gov = governor(1, 4);
    let gate = gate();
    let running = gov.spawn(hold(Arc::new(Gauge::default()), Arc::clone(&gate))).unwrap();
    until(|| gov.status().workers.active == 1).await;

    let dropped = DropCounter::default();
    {
        let mut queued = pin!(gov.run(|| tracked_sleep(dropped.token(), 0)));
        assert!(poll_once(queued.as_mut()).is_none());
        assert_eq!(gov.status().workers.queued, 1);
    }
    assert_eq!(dropped.drops(), 0, "the operation never started");
    let status = gov.status().workers;
    assert_eq!((status.queued, status.active, status.abandoned, status.in_flight), (0, 1, 1, 1));

    gate.add_permits(1);
    running.await.expect("the held task completes");
    assert_eq!(gov.run(|| async { Ok::<_, Io>(1) }).await.unwrap(), 1, "the worker came back");
    let status = gov.status().workers;
    assert_eq!((status.queued, status.active, status.in_flight, status.completed), (0, 0, 0, 2));
}

#[tokio::test(start_paused = true)]
async fn dropping_a_running_call_cancels_its_work_and_frees_its_worker() {
    let gov = governor(1, 4);
    let dropped = DropCounter::default();
    {
        let mut running = pin!(gov.run(|| tracked_sleep(dropped.token(), 60)));
        assert!(poll_once(running.as_mut()).is_none());
        assert_eq!(gov.status().workers.active, 1);
    }
    assert_eq!(dropped.drops(), 1);
    let status = gov.status().workers;
    assert_eq!((status.active, status.queued, status.in_flight, status.abandoned), (0, 0, 0, 1));
    assert_eq!((status.completed, status.failed), (0, 0), "a dropped call is neither");
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_the_operation_becomes_an_error_and_releases_the_worker() {
    let gov = governor(1, 4);
    let result = gov
        .run(|| async {
            tokio::task::yield_now().await;
            panic!("driver exploded");
            #[allow(unreachable_code)]
            Ok::<(), Io>(())
        })
        .await;
    assert!(matches!(&result, Err(Error::Panicked { message }) if message == "driver exploded"));

    let early: Result<(), Error<Io>> =
        gov.run(|| -> std::future::Ready<Result<(), Io>> { panic!("{}", 42) }).await;
    assert!(matches!(&early, Err(Error::Panicked { message }) if message == "42"));

    assert_eq!(gov.run(|| async { Ok::<_, Io>("still working") }).await.unwrap(), "still working");
    let status = gov.status().workers;
    assert_eq!((status.panicked, status.failed, status.completed, status.active), (2, 2, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn the_operations_own_error_is_kept_as_it_is() {
    let gov = governor(2, 4);
    let error = gov.run(|| async { Err::<(), _>(io_error("connection closed")) }).await.unwrap_err();
    assert_eq!(error.to_string(), "connection closed");
    let io = error.into_operation().expect("the operation's error");
    assert_eq!(io.kind(), std::io::ErrorKind::Other);
    assert_eq!(gov.status().workers.failed, 1);
}

#[tokio::test(start_paused = true)]
async fn shrinking_the_limit_under_load_retires_workers_as_they_finish() {
    let gov = governor(4, 100);
    let (gauge, gate, mut calls) = start_held(&gov, 10);
    until(|| gov.status().workers.active == 4).await;
    gov.set_max_workers(2).unwrap();
    let status = gov.status().workers;
    assert_eq!((status.effective_limit, status.active, status.queued), (2, 4, 6));

    gate.add_permits(4);
    until(|| gauge.current() == 2).await;
    assert_eq!(gov.status().workers.active, 2, "the two extra workers retired");
    gov.set_max_workers(5).unwrap();
    until(|| gauge.current() == 5).await;
    assert_eq!(gov.status().workers.active, 5);
    gate.add_permits(6);
    while let Some(joined) = calls.join_next().await {
        joined.unwrap().unwrap();
    }
    assert_eq!(gov.status().workers.active, 0);
    assert_eq!(gauge.peak(), 5);
}

#[tokio::test(start_paused = true)]
async fn time_in_the_queue_does_not_count_against_the_max_task_duration() {
    let gov = support::builder().max_workers(1).max_task_duration(Duration::from_secs(10)).build().unwrap();
    let hog = gov.spawn(async {
        sleep_secs(9).await;
        Ok::<_, Io>(())
    });
    until(|| gov.status().workers.active == 1).await;
    let started = Instant::now();
    let waited = gov.run(|| tracked_sleep(DropCounter::default().token(), 8)).await;
    assert_eq!(waited.unwrap(), 8, "9 s queued + 8 s running: only the 8 s count against 10 s");
    assert_eq!(started.elapsed(), Duration::from_secs(17));
    hog.unwrap().await.unwrap();
    assert_eq!(gov.status().workers.timed_out, 0);
}

//! Spawned and blocking work: tracked, bounded, and never silent.

mod support;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use bursar::{Error, Rejection};
use support::{Gauge, Io, capture_events, io_error, sleep_secs, until};

#[tokio::test(start_paused = true)]
async fn spawned_tasks_share_the_worker_limit() {
    let gov = support::builder().max_workers(3).build().unwrap();
    let gauge = Arc::new(Gauge::default());
    let handles: Vec<_> = (0..30)
        .map(|i| {
            let gauge = Arc::clone(&gauge);
            gov.spawn(async move {
                let _inside = gauge.enter();
                sleep_secs(1).await;
                Ok::<_, Io>(i)
            })
            .unwrap()
        })
        .collect();
    assert_eq!(gov.status().workers.queued, 27);
    let mut total = 0;
    for handle in handles {
        total += handle.await.unwrap();
    }
    assert_eq!((total, gauge.peak()), ((0..30).sum(), 3));
    assert_eq!(gov.status().workers.completed, 30);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_rejects_a_spawn_at_once() {
    let gov = support::builder().max_workers(1).queue_limit(1).build().unwrap();
    let first = spawn_sleeping(&gov, 5, ());
    let second = gov.spawn(async { Ok::<_, Io>(()) }).unwrap();
    let third = gov.spawn(async { Ok::<_, Io>(()) });
    assert_eq!(third.unwrap_err(), Rejection::QueueFull { limit: 1 });
    first.await.unwrap();
    second.await.unwrap();
    let status = gov.status().workers;
    assert_eq!((status.completed, status.rejected_queue_full, status.in_flight), (2, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_failing_spawned_task_is_a_warning_and_a_counter() {
    let (_guard, events) = capture_events();
    let gov = support::builder().build().unwrap();
    let handle = gov.spawn(async { Err::<(), _>(io_error("driver went away")) }).unwrap();
    handle.await.unwrap_err();
    let warnings = events.lines_with("spawned work failed");
    assert_eq!(warnings.len(), 1, "{}", events.text());
    assert!(warnings[0].contains("WARN") && warnings[0].contains("driver went away"), "{}", warnings[0]);
    assert_eq!(gov.status().workers.failed, 1);
}

#[tokio::test(start_paused = true)]
async fn a_detached_panicking_task_is_logged_counted_and_releases_its_worker() {
    let (_guard, events) = capture_events();
    let gov = support::builder().max_workers(1).build().unwrap();
    drop(gov.spawn(async {
        tokio::task::yield_now().await;
        panic!("bad selector");
        #[allow(unreachable_code)]
        Ok::<(), Io>(())
    }));
    until(|| gov.status().workers.panicked == 1).await;
    let errors = events.lines_with("work panicked");
    assert_eq!(errors.len(), 1, "{}", events.text());
    assert!(errors[0].contains("ERROR") && errors[0].contains("bad selector"), "{}", errors[0]);
    assert_eq!(gov.run(|| async { Ok::<_, Io>(1) }).await.unwrap(), 1, "the worker came back");
    let status = gov.status().workers;
    assert_eq!((status.panicked, status.failed, status.active, status.in_flight), (1, 1, 0, 0));
}

/// Work that finishes at once and panics when dropped.
struct PanicsWhenDropped;

impl Future for PanicsWhenDropped {
    type Output = Result<(), Io>;

    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        panic!("closing the session failed");
    }
}

/// A task's work that panics as it is dropped, after it finished, panicked like one that
/// panics while it runs: the handle says so, the task counts as panicked (not abandoned) and
/// its worker comes back.
#[tokio::test(start_paused = true)]
async fn a_task_whose_finished_work_panics_when_dropped_counts_as_panicked() {
    let (_guard, events) = capture_events();
    let gov = support::builder().max_workers(1).build().unwrap();
    let handle = gov.spawn(PanicsWhenDropped).unwrap();
    let ended = handle.await;
    assert!(
        matches!(&ended, Err(Error::Panicked { message }) if message.contains("closing the session failed")),
        "{ended:?}"
    );
    assert_eq!(events.lines_with("work panicked").len(), 1, "{}", events.text());
    let status = gov.status().workers;
    assert_eq!(
        (status.panicked, status.failed, status.abandoned, status.active, status.in_flight),
        (1, 1, 0, 0, 0)
    );
}

#[tokio::test]
async fn blocking_work_runs_on_its_own_bounded_lane() {
    let gov = support::builder().max_workers(1).blocking_threads(2).build().unwrap();
    let (release, gate) = mpsc::channel::<()>();
    let gate = Arc::new(std::sync::Mutex::new(gate));
    let gauge = Arc::new(Gauge::default());
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let (gate, gauge) = (Arc::clone(&gate), Arc::clone(&gauge));
            gov.spawn_blocking(move || {
                let _inside = gauge.enter();
                gate.lock().unwrap().recv().unwrap();
                Ok::<_, Io>(i)
            })
            .unwrap()
        })
        .collect();
    until_real(|| gauge.current() == 2).await;
    let status = gov.status().workers;
    assert_eq!((status.blocking.queued, status.active), (4, 0), "the async lane is untouched");
    for _ in 0..6 {
        release.send(()).unwrap();
    }
    let mut total = 0;
    for handle in handles {
        total += handle.await.unwrap();
    }
    assert_eq!((total, gauge.peak()), (15, 2));
    assert_eq!(gov.status().workers.blocking.active, 0);
}

#[tokio::test]
async fn a_panic_in_blocking_work_becomes_an_error() {
    let (_guard, events) = capture_events();
    let gov = support::builder().build().unwrap();
    let handle = gov.spawn_blocking(|| -> Result<(), Io> { panic!("parser blew up") }).unwrap();
    assert!(matches!(handle.await, Err(Error::Panicked { message }) if message == "parser blew up"));
    let status = gov.status().workers;
    assert_eq!((status.panicked, status.failed, status.completed, status.blocking.active), (1, 1, 0, 0));
    let errors = events.lines_with("work panicked");
    assert_eq!(errors.len(), 1, "{}", events.text());
    assert!(errors[0].contains("ERROR") && errors[0].contains("parser blew up"), "{}", errors[0]);
}

#[tokio::test(start_paused = true)]
async fn aborting_a_task_releases_its_worker_and_counts_it_abandoned() {
    let gov = support::builder().max_workers(1).build().unwrap();
    let handle = spawn_sleeping(&gov, 60, ());
    tokio::task::yield_now().await;
    handle.abort();
    assert!(matches!(handle.await, Err(Error::Aborted)));
    let status = gov.status().workers;
    assert_eq!((status.active, status.in_flight, status.abandoned), (0, 0, 1));
}

#[tokio::test(start_paused = true)]
async fn aborting_a_queued_task_frees_its_queue_place_for_the_next_spawn() {
    let gov = support::builder().max_workers(1).queue_limit(1).build().unwrap();
    let running = spawn_sleeping(&gov, 5, "first");
    let queued = gov.spawn(async { Ok::<_, Io>("never runs") }).unwrap();
    tokio::task::yield_now().await;
    assert_eq!(gov.spawn(async { Ok::<_, Io>("") }).unwrap_err(), Rejection::QueueFull { limit: 1 });
    queued.abort();
    assert!(matches!(queued.await, Err(Error::Aborted)));
    let status = gov.status().workers;
    assert_eq!((status.active, status.queued, status.abandoned), (1, 0, 1));
    let next = gov.spawn(async { Ok::<_, Io>("next") }).unwrap();
    assert_eq!((running.await.unwrap(), next.await.unwrap()), ("first", "next"));
    let status = gov.status().workers;
    assert_eq!((status.active, status.queued, status.in_flight, status.completed), (0, 0, 0, 2));
}

#[tokio::test(start_paused = true)]
async fn a_task_aborted_before_it_first_runs_gives_its_worker_back() {
    let gov = support::builder().max_workers(1).build().unwrap();
    let never_polled = gov.spawn(async { Ok::<_, Io>("never runs") }).unwrap();
    assert_eq!(gov.status().workers.active, 1);
    never_polled.abort();
    assert!(matches!(never_polled.await, Err(Error::Aborted)));
    let status = gov.status().workers;
    assert_eq!((status.active, status.in_flight, status.abandoned), (0, 0, 1));
    assert_eq!(gov.spawn(async { Ok::<_, Io>(7) }).unwrap().await.unwrap(), 7);
}

#[test]
fn tasks_dropped_unrun_with_their_runtime_hold_no_worker_or_queue_place() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let gov = runtime.block_on(async { support::builder().max_workers(2).queue_limit(10).build().unwrap() });
    for _ in 0..5 {
        drop(gov.spawn(async { Ok::<_, Io>(()) }).unwrap());
    }
    let status = gov.status().workers;
    assert_eq!((status.active, status.queued, status.in_flight), (2, 3, 5));
    drop(runtime);
    let status = gov.status().workers;
    assert_eq!((status.active, status.queued, status.in_flight, status.abandoned), (0, 0, 0, 5));
}

/// Spawns a task that holds its worker for `secs` seconds, then returns `value`.
fn spawn_sleeping<T: Send + 'static>(
    gov: &bursar::Governor,
    secs: u64,
    value: T,
) -> bursar::TaskHandle<T, Io> {
    gov.spawn(async move {
        sleep_secs(secs).await;
        Ok(value)
    })
    .unwrap()
}

/// Waits on real time for blocking threads to reach a state: up to 30 s, so a busy two-core
/// CI machine does not flake.
async fn until_real(mut done: impl FnMut() -> bool) {
    for _ in 0..3_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition never held");
}

#[tokio::test(start_paused = true)]
async fn spawn_queued_paces_a_loop_of_100_000_tasks_and_rejects_none() {
    let gov = support::builder().max_workers(4).queue_limit(8).build().unwrap();
    let gauge = Arc::new(Gauge::default());
    let started = tokio::time::Instant::now();
    let mut handles = Vec::new();
    for i in 0..100_000u64 {
        let gauge = Arc::clone(&gauge);
        let task = async move {
            let _inside = gauge.enter();
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok::<_, Io>(i)
        };
        handles.push(gov.spawn_queued(task).await.unwrap());
        // Never more than the workers plus the queue are spawned and unfinished.
        assert!(handles.len() as u64 - gov.status().workers.completed <= 12);
    }
    let mut total = 0;
    for handle in handles {
        total += handle.await.unwrap();
    }
    let workers = gov.status().workers;
    assert_eq!((total, gauge.peak()), ((0..100_000).sum(), 4));
    assert_eq!((workers.completed, workers.rejected, workers.abandoned), (100_000, 0, 0));
    // 100,000 tasks of 10 ms, 4 at a time.
    assert_eq!(started.elapsed(), Duration::from_millis(250_000));
}

#[tokio::test(start_paused = true)]
async fn spawn_queued_waiting_for_a_place_ends_at_shutdown_and_a_dropped_one_is_abandoned() {
    let gov = support::builder().max_workers(1).queue_limit(1).build().unwrap();
    let running = (spawn_sleeping(&gov, 60, ()), spawn_sleeping(&gov, 60, ())); // a worker, the queue
    let waiting = tokio::spawn({
        let gov = gov.clone();
        async move { gov.spawn_queued(async { Ok::<_, Io>(()) }).await.map(drop) }
    });
    let dropped =
        tokio::time::timeout(Duration::from_secs(1), gov.spawn_queued(async { Ok::<_, Io>(()) })).await;
    assert!(dropped.is_err(), "no place within 1 s");
    assert_eq!(gov.status().workers.abandoned, 1);
    let report = gov.shutdown(Duration::from_secs(1)).await;
    assert!(matches!(waiting.await.unwrap(), Err(Rejection::ShuttingDown)));
    let workers = gov.status().workers;
    // The waiting spawner and the task that held the queue place.
    assert_eq!((workers.rejected_shutting_down, workers.rejected_queue_full), (2, 0), "{report:?}");
    drop(running);
}

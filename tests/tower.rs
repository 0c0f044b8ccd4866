//! The `tower` layer: a tower service behind the governor's call path, readiness that
//! reserves a worker, retries of `Clone` requests, and errors that downcast to bursar's.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bursar::tower::{BoxError, GovernedError, GovernorLayer};
use bursar::{Error, Governor, Rejection};
use support::abandoned::{AtAbandoned, at_abandoned};
use support::{Io, io_error, poll_once};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

fn governor(max_workers: usize, queue_limit: usize) -> Governor {
    support::builder().max_workers(max_workers).queue_limit(queue_limit).build().unwrap()
}

fn poll_ready<S: Service<R>, R>(service: &mut S) -> Poll<Result<(), S::Error>> {
    service.poll_ready(&mut Context::from_waker(Waker::noop()))
}

/// The bursar error inside a governed service's boxed error.
fn governed(error: &BoxError) -> &GovernedError {
    error.downcast_ref::<GovernedError>().expect("a governed service fails with a bursar error")
}

/// A service that answers with the request's length and counts its calls.
fn counting(
    calls: &Arc<AtomicUsize>,
) -> impl Service<String, Response = usize, Error = Io, Future: Send> + Clone + use<> {
    let calls = Arc::clone(calls);
    service_fn(move |request: String| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, Io>(request.len()) }
    })
}

#[tokio::test(start_paused = true)]
async fn service_builder_calls_run_under_the_governor() {
    let gov = governor(4, 10);
    let calls = Arc::new(AtomicUsize::new(0));
    let service = ServiceBuilder::new().layer(GovernorLayer::new(&gov)).service(counting(&calls));
    for request in ["a", "bb", "ccc"] {
        assert_eq!(service.clone().oneshot(request.to_owned()).await.unwrap(), request.len());
    }
    let workers = gov.status().workers;
    assert_eq!((workers.completed, workers.failed, workers.active, workers.in_flight), (3, 0, 0, 0));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn readiness_reserves_a_worker_that_the_call_then_uses() {
    let gov = governor(1, 10);
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = GovernorLayer::new(&gov);
    let mut first = ServiceBuilder::new().layer(layer.clone()).service(counting(&calls));
    let mut second = first.clone();

    assert!(matches!(poll_ready(&mut first), Poll::Ready(Ok(()))));
    assert_eq!((gov.status().workers.active, gov.status().workers.queued), (1, 0));
    // The only worker is reserved: the second service waits in the queue for it.
    assert!(poll_ready(&mut second).is_pending());
    assert_eq!((gov.status().workers.active, gov.status().workers.queued), (1, 1));

    let mut answer = std::pin::pin!(first.call("abcd".to_owned()));
    assert_eq!(poll_once(answer.as_mut()).unwrap().unwrap(), 4);
    // The worker went back: the second service's reservation takes it.
    assert!(matches!(poll_ready(&mut second), Poll::Ready(Ok(()))));
    assert_eq!((gov.status().workers.active, gov.status().workers.queued), (1, 0));
    assert_eq!(second.call("xy".to_owned()).await.unwrap(), 2);

    let workers = gov.status().workers;
    assert_eq!((workers.completed, workers.active, workers.in_flight, workers.abandoned), (2, 0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_reservation_dropped_unused_frees_its_worker_and_counts_as_abandoned() {
    let gov = governor(1, 10);
    let calls = Arc::new(AtomicUsize::new(0));
    let mut service = ServiceBuilder::new().layer(GovernorLayer::new(&gov)).service(counting(&calls));
    assert!(matches!(poll_ready(&mut service), Poll::Ready(Ok(()))));
    assert_eq!(gov.status().workers.active, 1);
    drop(service);
    let workers = gov.status().workers;
    assert_eq!((workers.active, workers.in_flight, workers.abandoned, workers.completed), (0, 0, 1, 0));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

/// A service whose `Clone` panics while `explode` is true.
struct Exploding {
    explode: Arc<AtomicBool>,
}

impl Clone for Exploding {
    fn clone(&self) -> Self {
        assert!(!self.explode.load(Ordering::SeqCst), "the inner service's clone panicked");
        Exploding { explode: Arc::clone(&self.explode) }
    }
}

impl Service<()> for Exploding {
    type Response = ();
    type Error = Io;
    type Future = std::future::Ready<Result<(), Io>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Io>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (): ()) -> Self::Future {
        std::future::ready(Ok(()))
    }
}

/// `call` clones the inner service (user code) before it takes the reserved worker: a clone
/// that panics leaves the reservation in the service, which gives it back when dropped.
#[tokio::test(start_paused = true)]
async fn a_call_whose_inner_clone_panics_leaves_the_reservation_to_the_service() {
    let gov = governor(1, 10);
    let explode = Arc::new(AtomicBool::new(false));
    let mut service = GovernorLayer::new(&gov).layer(Exploding { explode: Arc::clone(&explode) });
    assert!(matches!(poll_ready(&mut service), Poll::Ready(Ok(()))));
    assert_eq!((gov.status().workers.active, gov.status().workers.in_flight), (1, 1));
    explode.store(true, Ordering::SeqCst);
    let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(service.call(()))));
    assert!(called.is_err(), "the clone's panic reaches the caller of `call`");
    assert_eq!((gov.status().workers.active, gov.status().workers.in_flight), (1, 1), "still reserved");
    drop(service);
    let workers = gov.status().workers;
    assert_eq!((workers.active, workers.in_flight, workers.abandoned, workers.completed), (0, 0, 1, 0));
}

/// A service that is ready only while `ready` is true.
#[derive(Clone)]
struct Gated {
    ready: Arc<AtomicBool>,
}

impl Service<()> for Gated {
    type Response = &'static str;
    type Error = Io;
    type Future = std::future::Ready<Result<&'static str, Io>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Io>> {
        if self.ready.load(Ordering::SeqCst) { Poll::Ready(Ok(())) } else { Poll::Pending }
    }

    fn call(&mut self, (): ()) -> Self::Future {
        std::future::ready(Ok("served"))
    }
}

#[tokio::test(start_paused = true)]
async fn a_service_that_is_not_ready_holds_no_worker_and_no_queue_place() {
    let gov = governor(1, 1);
    let ready = Arc::new(AtomicBool::new(false));
    let mut service = GovernorLayer::new(&gov).layer(Gated { ready: Arc::clone(&ready) });
    assert!(poll_ready(&mut service).is_pending());
    let workers = gov.status().workers;
    assert_eq!((workers.active, workers.queued, workers.in_flight), (0, 0, 0));
    // The one worker is free for other work meanwhile.
    assert_eq!(gov.run(|| async { Ok::<_, Io>(7) }).await.unwrap(), 7);

    ready.store(true, Ordering::SeqCst);
    assert!(matches!(poll_ready(&mut service), Poll::Ready(Ok(()))));
    assert_eq!(gov.status().workers.active, 1);
    assert_eq!(service.call(()).await.unwrap(), "served");
    assert_eq!(gov.status().workers.completed, 2);
}

#[tokio::test(start_paused = true)]
async fn a_service_that_stops_being_ready_gives_its_worker_back() {
    let gov = governor(1, 1);
    let ready = Arc::new(AtomicBool::new(true));
    let mut service = GovernorLayer::new(&gov).layer(Gated { ready: Arc::clone(&ready) });
    assert!(matches!(poll_ready(&mut service), Poll::Ready(Ok(()))));
    assert_eq!(gov.status().workers.active, 1);
    ready.store(false, Ordering::SeqCst);
    assert!(poll_ready(&mut service).is_pending());
    let workers = gov.status().workers;
    assert_eq!((workers.active, workers.queued, workers.in_flight, workers.abandoned), (0, 0, 0, 1));
    ready.store(true, Ordering::SeqCst);
    assert_eq!(service.ready().await.unwrap().call(()).await.unwrap(), "served");
    assert_eq!(gov.status().workers.completed, 1);
}

/// A `tracing` subscriber that panics at the event of a reservation given back unused finds
/// it counted out already: the service's drop does not count it out a second time.
#[tokio::test(start_paused = true)]
async fn a_subscriber_panicking_as_a_reservation_is_given_back_leaves_it_counted_out_once() {
    let gov = governor(1, 1);
    let ready = Arc::new(AtomicBool::new(true));
    let mut service = GovernorLayer::new(&gov).layer(Gated { ready: Arc::clone(&ready) });
    assert!(matches!(poll_ready(&mut service), Poll::Ready(Ok(()))));
    ready.store(false, Ordering::SeqCst);
    let given_back = {
        let _watching = at_abandoned(AtAbandoned::Panic);
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_ready(&mut service)))
    };
    assert!(given_back.is_err(), "the subscriber panicked at the event");
    drop(service);
    let workers = gov.status().workers;
    assert_eq!((workers.active, workers.in_flight, workers.abandoned), (0, 0, 1));
    // The drain counts a call running now as the one in flight: nothing was counted out twice.
    let gate = Arc::new(tokio::sync::Notify::new());
    let running = Arc::clone(&gate);
    let mut call = Box::pin(gov.run(move || {
        let running = Arc::clone(&running);
        async move {
            running.notified().await;
            Ok::<_, Io>(())
        }
    }));
    assert!(poll_once(call.as_mut()).is_none());
    assert_eq!((gov.status().workers.active, gov.status().workers.in_flight), (1, 1));
    gate.notify_one();
    call.await.unwrap();
}

/// Three services of a governor with one worker: the first holds the worker, the second a
/// queue place, the third is not polled yet (turned away when the queue has one place).
fn worker_and_queue_taken(
    gov: &Governor,
    calls: &Arc<AtomicUsize>,
) -> [impl Service<String, Response = usize, Error = BoxError, Future: Send> + Clone + use<>; 3] {
    let mut holder = GovernorLayer::new(gov).layer(counting(calls));
    let (mut queued, turned_away) = (holder.clone(), holder.clone());
    assert!(matches!(poll_ready(&mut holder), Poll::Ready(Ok(()))));
    assert!(poll_ready(&mut queued).is_pending());
    [holder, queued, turned_away]
}

#[tokio::test(start_paused = true)]
async fn a_reservation_dropped_while_it_waits_leaves_the_queue_and_counts_as_abandoned() {
    let gov = governor(1, 10);
    let calls = Arc::new(AtomicUsize::new(0));
    let [mut holder, waiting, _] = worker_and_queue_taken(&gov, &calls);
    let workers = gov.status().workers;
    assert_eq!((workers.active, workers.queued, workers.in_flight), (1, 1, 2));

    drop(waiting);
    let workers = gov.status().workers;
    assert_eq!((workers.active, workers.queued, workers.in_flight, workers.abandoned), (1, 0, 1, 1));
    // The worker is still the holder's, and nobody waits for it after the holder's call.
    assert_eq!(holder.call("abc".to_owned()).await.unwrap(), 3);
    let workers = gov.status().workers;
    assert_eq!((workers.active, workers.queued, workers.in_flight), (0, 0, 0));
    assert_eq!((workers.abandoned, workers.completed), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_call_made_while_its_reservation_waits_gives_the_place_back_and_queues_anew() {
    let gov = governor(1, 10);
    let calls = Arc::new(AtomicUsize::new(0));
    let [mut holder, mut waiting, _] = worker_and_queue_taken(&gov, &calls);

    // Not ready, called all the same: the reservation's place is given back (its call counted
    // as abandoned), and the call takes the plain path, which queues it anew.
    let mut late = std::pin::pin!(waiting.call("xy".to_owned()));
    assert!(poll_once(late.as_mut()).is_none());
    let workers = gov.status().workers;
    assert_eq!((workers.active, workers.queued, workers.in_flight, workers.abandoned), (1, 1, 2, 1));

    assert_eq!(holder.call("abc".to_owned()).await.unwrap(), 3);
    assert_eq!(late.await.unwrap(), 2);
    let workers = gov.status().workers;
    assert_eq!((workers.active, workers.queued, workers.in_flight), (0, 0, 0));
    assert_eq!((workers.abandoned, workers.completed), (1, 2));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_is_the_calls_answer_and_the_service_stays_usable() {
    let gov = governor(1, 1);
    let calls = Arc::new(AtomicUsize::new(0));
    let [mut holder, mut queued, mut turned_away] = worker_and_queue_taken(&gov, &calls);

    // No worker and no queue place: readiness is not an error, the call is.
    assert!(matches!(poll_ready(&mut turned_away), Poll::Ready(Ok(()))));
    let error = turned_away.call("x".to_owned()).await.unwrap_err();
    assert!(matches!(governed(&error), Error::Rejected(Rejection::QueueFull { limit: 1 })));
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    assert_eq!(holder.call("abc".to_owned()).await.unwrap(), 3);
    assert_eq!(queued.ready().await.unwrap().call("abcd".to_owned()).await.unwrap(), 4);
    // The same service that was turned away, ready again, now gets the free worker.
    assert_eq!(turned_away.ready().await.unwrap().call("ab".to_owned()).await.unwrap(), 2);
    let workers = gov.status().workers;
    assert_eq!((workers.completed, workers.rejected, workers.rejected_queue_full), (3, 1, 1));
    assert_eq!((workers.active, workers.queued, workers.in_flight), (0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_fails_fast_without_reserving_a_worker() {
    let gov = governor(1, 10);
    let calls = Arc::new(AtomicUsize::new(0));
    let mut service = GovernorLayer::new(&gov).key("search").layer(counting(&calls));
    gov.breaker_for("search").force_open();

    assert!(matches!(poll_ready(&mut service), Poll::Ready(Ok(()))));
    assert_eq!((gov.status().workers.active, gov.status().workers.in_flight), (0, 0));
    let error = service.call("x".to_owned()).await.unwrap_err();
    assert!(matches!(governed(&error), Error::Rejected(Rejection::CircuitOpen { .. })));
    assert_eq!(governed(&error).retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(gov.status().workers.rejected_circuit_open, 1);
    // The default breaker is another breaker: it stayed closed.
    assert_eq!(gov.breaker().state(), bursar::breaker::BreakerState::Closed);
}

/// A service that fails its first `failures` calls, then answers with the call's number.
fn flaky(
    failures: usize,
    calls: &Arc<AtomicUsize>,
) -> impl Service<String, Response = usize, Error = Io, Future: Send> + Clone + use<> {
    let calls = Arc::clone(calls);
    service_fn(move |_request: String| {
        let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
        async move { if call <= failures { Err(io_error("connection closed while reading")) } else { Ok(call) } }
    })
}

#[tokio::test(start_paused = true)]
async fn retrying_sends_clones_of_the_request_on_the_governors_backoff() {
    let gov = governor(2, 10);
    let calls = Arc::new(AtomicUsize::new(0));
    let service = GovernorLayer::new(&gov).retry().layer(flaky(2, &calls));
    let started = Instant::now();
    assert_eq!(service.oneshot("page".to_owned()).await.unwrap(), 3);
    // The default schedule: 2 s, then 4 s.
    assert_eq!(started.elapsed(), Duration::from_secs(6));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let workers = gov.status().workers;
    assert_eq!((workers.completed, workers.failed, workers.retries, workers.active), (1, 0, 2, 0));
}

#[tokio::test(start_paused = true)]
async fn retrying_stops_at_its_attempts_and_at_errors_it_is_told_not_to_retry() {
    let gov = governor(2, 10);
    let calls = Arc::new(AtomicUsize::new(0));
    let twice = GovernorLayer::new(&gov).retry().attempts(2).layer(flaky(5, &calls));
    let error = twice.oneshot("page".to_owned()).await.unwrap_err();
    assert!(matches!(governed(&error), Error::Operation(_)));
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let permanent = |error: &BoxError| !error.to_string().contains("closed");
    let never = GovernorLayer::new(&gov).retry().when(permanent).layer(flaky(5, &calls));
    never.oneshot("page".to_owned()).await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(gov.status().workers.retries, 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_is_sent_once_and_the_inner_error_downcasts_back() {
    let gov = governor(2, 10);
    let calls = Arc::new(AtomicUsize::new(0));
    let service = GovernorLayer::new(&gov).layer(flaky(1, &calls));
    let error = service.oneshot("page".to_owned()).await.unwrap_err();
    assert_eq!(error.to_string(), "connection closed while reading");
    let Error::Operation(inner) = governed(&error) else { panic!("not the service's error: {error}") };
    assert_eq!(inner.downcast_ref::<Io>().unwrap().kind(), std::io::ErrorKind::Other);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let workers = gov.status().workers;
    assert_eq!((workers.failed, workers.retries), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn an_attempt_past_its_timeout_is_cancelled() {
    let gov = governor(2, 10);
    let slow = service_fn(|_: ()| async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok::<_, Io>(())
    });
    let service = GovernorLayer::new(&gov).timeout(Duration::from_secs(1)).layer(slow);
    let started = Instant::now();
    let error = service.oneshot(()).await.unwrap_err();
    assert!(matches!(governed(&error), Error::AttemptTimeout { after } if *after == Duration::from_secs(1)));
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert_eq!((gov.status().workers.failed, gov.status().workers.active), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_service_releases_its_worker() {
    let gov = governor(1, 10);
    let panics = service_fn(|_: ()| async {
        if true {
            panic!("the driver crashed");
        }
        Ok::<(), Io>(())
    });
    let error = GovernorLayer::new(&gov).layer(panics).oneshot(()).await.unwrap_err();
    assert!(matches!(governed(&error), Error::Panicked { message } if message == "the driver crashed"));
    let workers = gov.status().workers;
    assert_eq!((workers.panicked, workers.failed, workers.active, workers.in_flight), (1, 1, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_response_future_dropped_mid_call_leaves_every_count_exact() {
    let gov = governor(1, 10);
    let slow = service_fn(|_: ()| async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok::<_, Io>(())
    });
    let mut service = GovernorLayer::new(&gov).layer(slow);
    {
        let mut answer = std::pin::pin!(service.ready().await.unwrap().call(()));
        assert!(poll_once(answer.as_mut()).is_none());
        assert_eq!(gov.status().workers.active, 1);
    }
    let workers = gov.status().workers;
    assert_eq!((workers.active, workers.in_flight, workers.abandoned, workers.failed), (0, 0, 1, 0));
    assert_eq!(gov.breaker().status().failure_rate, 0.0);
}

/// A service whose readiness fails: with an error, or (`Broken(true)`) with a panic.
#[derive(Clone)]
struct Broken(bool);

impl Service<()> for Broken {
    type Response = ();
    type Error = Io;
    type Future = std::future::Ready<Result<(), Io>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Io>> {
        if self.0 {
            panic!("the inner service broke");
        }
        Poll::Ready(Err(io_error("driver gone")))
    }

    fn call(&mut self, (): ()) -> Self::Future {
        std::future::ready(Ok(()))
    }
}

#[tokio::test(start_paused = true)]
async fn the_inner_services_readiness_error_is_a_bursar_operation_error() {
    let gov = governor(1, 10);
    let mut service = GovernorLayer::new(&gov).layer(Broken(false));
    let Poll::Ready(Err(error)) = poll_ready(&mut service) else { panic!("readiness should fail") };
    assert!(matches!(governed(&error), Error::Operation(inner) if inner.to_string() == "driver gone"));
    assert_eq!((gov.status().workers.active, gov.status().workers.in_flight), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn errors_the_breaker_is_told_to_ignore_do_not_open_it() {
    let mut breaker = bursar::breaker::BreakerConfig::default();
    breaker.failure_threshold = 2;
    let gov = support::builder().breaker(breaker).build().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let not_found = GovernorLayer::new(&gov).failure_when(|_| false).layer(flaky(10, &calls));
    for _ in 0..3 {
        not_found.clone().oneshot("missing".to_owned()).await.unwrap_err();
    }
    assert_eq!(gov.breaker().state(), bursar::breaker::BreakerState::Closed);
    let counted = GovernorLayer::new(&gov).layer(flaky(10, &calls));
    for _ in 0..2 {
        counted.clone().oneshot("down".to_owned()).await.unwrap_err();
    }
    assert_eq!(gov.breaker().state(), bursar::breaker::BreakerState::Open);
}

#[test]
fn governed_services_and_their_errors_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<bursar::tower::Governed<Gated>>();
    send_sync::<bursar::tower::Governed<Gated, bursar::tower::Retrying>>();
    send_sync::<GovernedError>();
    send_sync::<GovernorLayer>();
}

#[tokio::test(start_paused = true)]
async fn readiness_after_the_circuit_closes_again_holds_a_worker() {
    let gov = governor(1, 10);
    let calls = Arc::new(AtomicUsize::new(0));
    let mut service = GovernorLayer::new(&gov).key("search").layer(counting(&calls));
    gov.breaker_for("search").force_open();
    assert!(matches!(poll_ready(&mut service), Poll::Ready(Ok(()))));
    assert_eq!(gov.status().workers.active, 0, "an open circuit reserves nothing");

    gov.breaker_for("search").reset();
    assert!(matches!(poll_ready(&mut service), Poll::Ready(Ok(()))));
    assert_eq!(gov.status().workers.active, 1, "ready again: the service holds the worker");
    // So a plain call now queues behind it instead of taking the worker from under it.
    let mut plain = std::pin::pin!(gov.run(|| async { Ok::<_, Io>(()) }));
    assert!(poll_once(plain.as_mut()).is_none());
    assert_eq!(gov.status().workers.queued, 1);
    assert_eq!(service.call("abc".to_owned()).await.unwrap(), 3);
    plain.await.unwrap();
    let workers = gov.status().workers;
    assert_eq!((workers.completed, workers.active, workers.in_flight), (2, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_rejection_met_at_readiness_does_not_answer_a_late_call() {
    let gov = governor(1, 1);
    let calls = Arc::new(AtomicUsize::new(0));
    let [holder, queued, mut turned_away] = worker_and_queue_taken(&gov, &calls);
    assert!(matches!(poll_ready(&mut turned_away), Poll::Ready(Ok(()))), "turned away: queue full");

    // The worker and the queue place are given back; the call comes two seconds later.
    drop((holder, queued));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(turned_away.call("ab".to_owned()).await.unwrap(), 2, "asked again, and served");
    let workers = gov.status().workers;
    assert_eq!((workers.completed, workers.rejected_queue_full, workers.in_flight), (1, 1, 0));

    // Polled ready again after a rejection, the service asks again too.
    let [holder, queued, _] = worker_and_queue_taken(&gov, &calls);
    assert!(matches!(poll_ready(&mut turned_away), Poll::Ready(Ok(()))), "turned away again");
    drop((holder, queued));
    assert!(matches!(poll_ready(&mut turned_away), Poll::Ready(Ok(()))));
    assert_eq!(gov.status().workers.active, 1, "the re-asked readiness holds the free worker");
    assert_eq!(turned_away.call("abc".to_owned()).await.unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn an_inner_service_whose_readiness_panics_is_contained_and_counted() {
    let gov = governor(1, 10);
    let mut service = GovernorLayer::new(&gov).layer(Broken(true));
    let Poll::Ready(Err(error)) = poll_ready(&mut service) else { panic!("readiness fails") };
    assert!(
        matches!(governed(&error), Error::Panicked { message } if message.contains("the inner service broke"))
    );
    assert_eq!(gov.status().callbacks.panics.get("tower_service"), Some(&1));
    let workers = gov.status().workers;
    assert_eq!((workers.active, workers.in_flight), (0, 0), "nothing reserved");
}

/// The response future reaches the default breaker through the governor it owns, and keeps a
/// handle of it from its first half-open probe's permit on: dropped at any point as the probe,
/// it gives the probe's slot back; run to the end, the probe closes the circuit.
#[tokio::test(start_paused = true)]
async fn a_response_future_dropped_as_the_default_breakers_probe_gives_its_slot_back() {
    let gov = support::builder().max_workers(1).max_attempts(1).build().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    // Fails five times, then answers after a second.
    let inner = service_fn(move |_: ()| {
        let call = counted.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if call <= 5 {
                return Err(io_error("connection closed while reading"));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, Io>(call)
        }
    });
    let service = GovernorLayer::new(&gov).layer(inner);
    for _ in 0..5 {
        let error = service.clone().oneshot(()).await.unwrap_err();
        assert!(matches!(governed(&error), Error::Operation(_)));
    }
    assert_eq!(gov.breaker().state(), bursar::breaker::BreakerState::Open);
    tokio::time::advance(Duration::from_secs(120)).await;

    let mut dropped = 0;
    let finished_at = support::cancel_at_every_await(
        || service.clone().oneshot(()),
        Duration::from_millis(100),
        |_, finished| {
            if !finished {
                dropped += 1;
                // The dropped probe's slot is free again: the breaker admits the next probe.
                let probe = gov.breaker().try_acquire().expect("a probe slot is free");
                assert!(probe.is_probe());
                drop(probe);
            }
        },
    )
    .await;
    assert_eq!((finished_at, dropped), (11, 11), "polled once, then ten steps of 100 ms");
    assert_eq!(
        gov.breaker().state(),
        bursar::breaker::BreakerState::Closed,
        "the probe that finished closed it"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 5 + 11, "five failures, ten probes dropped, one that finished");
    let workers = gov.status().workers;
    // The future dropped before its first poll was never admitted.
    assert_eq!((workers.active, workers.in_flight, workers.abandoned), (0, 0, 10));
}

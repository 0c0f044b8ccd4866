//! The circuit breaker in the call path: fail fast before queueing, exact half-open probing,
//! keyed breakers, and how each kind of outcome counts.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bursar::breaker::{BreakerConfig, BreakerState};
use bursar::{Error, Governor, Rejection};
use support::{Io, io_error, poll_once, until};
use tokio::sync::Semaphore;
use tokio::time::Instant;

const fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

fn governor() -> Governor {
    support::builder().max_attempts(1).build().unwrap()
}

async fn fail(gov: &Governor) -> Error<Io> {
    gov.run(|| async { Err::<(), _>(io_error("connection refused")) }).await.unwrap_err()
}

async fn succeed(gov: &Governor) -> Result<(), Error<Io>> {
    gov.run(|| async { Ok::<_, Io>(()) }).await
}

fn circuit_open(error: &Error<Io>) -> Option<Duration> {
    match error.rejection() {
        Some(Rejection::CircuitOpen { retry_after }) => Some(retry_after),
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn five_failures_open_it_a_probe_at_120_s_closes_it_and_a_failed_probe_reopens_it() {
    let gov = governor();
    for _ in 0..4 {
        assert!(matches!(fail(&gov).await, Error::Operation(_)));
    }
    assert_eq!(gov.breaker().state(), BreakerState::Closed);
    fail(&gov).await;
    assert_eq!(gov.breaker().state(), BreakerState::Open);

    assert_eq!(circuit_open(&succeed(&gov).await.unwrap_err()), Some(secs(120)));
    tokio::time::advance(secs(30)).await;
    assert_eq!(circuit_open(&succeed(&gov).await.unwrap_err()), Some(secs(90)), "counts down");
    tokio::time::advance(secs(90)).await;
    assert!(matches!(fail(&gov).await, Error::Operation(_)), "the probe runs, and fails");
    assert_eq!(gov.breaker().state(), BreakerState::Open);
    assert_eq!(circuit_open(&succeed(&gov).await.unwrap_err()), Some(secs(120)));
    tokio::time::advance(secs(120)).await;
    succeed(&gov).await.unwrap();
    assert_eq!(gov.breaker().state(), BreakerState::Closed);
    let status = gov.status();
    assert_eq!(status.workers.rejected_circuit_open, 3);
    assert_eq!(status.breakers["default"].state, BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn the_open_wait_grows_when_configured() {
    let mut breaker = BreakerConfig::default();
    breaker.open_wait_multiplier = 2.0;
    let gov = support::builder().max_attempts(1).breaker(breaker).build().unwrap();
    for _ in 0..5 {
        fail(&gov).await;
    }
    let mut waits = Vec::new();
    for _ in 0..3 {
        let wait = circuit_open(&succeed(&gov).await.unwrap_err()).unwrap();
        waits.push(wait);
        tokio::time::advance(wait).await;
        fail(&gov).await; // the probe fails
    }
    assert_eq!(waits, [secs(120), secs(240), secs(480)]);
}

#[tokio::test(start_paused = true)]
async fn a_hundred_racing_callers_in_half_open_let_exactly_one_probe_through() {
    let gov = governor();
    for _ in 0..5 {
        fail(&gov).await;
    }
    tokio::time::advance(secs(120)).await;
    let (entered, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(Semaphore::new(0)));
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (gov, entered, gate) = (gov.clone(), Arc::clone(&entered), Arc::clone(&gate));
        calls.spawn(async move {
            gov.run(|| {
                entered.fetch_add(1, Ordering::SeqCst);
                let gate = Arc::clone(&gate);
                async move { gate.acquire().await.map(|permit| permit.forget()).map_err(|_| io_error("closed")) }
            })
            .await
        });
    }
    until(|| gov.status().workers.rejected_circuit_open == 99).await;
    assert_eq!(entered.load(Ordering::SeqCst), 1);
    gate.add_permits(1);
    let mut outcomes = (0, 0);
    while let Some(result) = calls.join_next().await {
        match result.unwrap() {
            Ok(()) => outcomes.0 += 1,
            Err(error) => {
                assert_eq!(circuit_open(&error), Some(Duration::ZERO), "probe slots are taken");
                outcomes.1 += 1;
            }
        }
    }
    assert_eq!(outcomes, (1, 99));
    assert_eq!(gov.breaker().state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_probe_gives_its_slot_back() {
    let gov = governor();
    for _ in 0..5 {
        fail(&gov).await;
    }
    tokio::time::advance(secs(120)).await;
    {
        let mut probe = std::pin::pin!(gov.run(std::future::pending::<Result<(), Io>>));
        assert!(poll_once(probe.as_mut()).is_none());
        assert_eq!(gov.breaker().state(), BreakerState::HalfOpen);
        assert_eq!(circuit_open(&succeed(&gov).await.unwrap_err()), Some(Duration::ZERO));
    }
    succeed(&gov).await.expect("the slot came back: this call is the probe");
    assert_eq!(gov.breaker().state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_fails_fast_without_taking_a_queue_place() {
    let gov = support::builder().max_workers(1).queue_limit(1).max_attempts(1).build().unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let holder = Arc::clone(&gate);
    let running = gov.spawn(async move { holder.acquire().await.map(drop).map_err(|_| io_error("closed")) });
    let queued = gov.spawn(async { Ok::<_, Io>(()) });
    assert_eq!(gov.status().workers.queued, 1, "the worker is busy and the queue full");

    gov.breaker().force_open();
    let started = Instant::now();
    let error = succeed(&gov).await.unwrap_err();
    assert_eq!((started.elapsed(), circuit_open(&error).is_some()), (Duration::ZERO, true));
    gov.breaker().reset();
    let full = succeed(&gov).await.unwrap_err();
    assert_eq!(full.rejection(), Some(Rejection::QueueFull { limit: 1 }), "checked after the breaker");

    gate.add_permits(1);
    running.unwrap().await.unwrap();
    queued.unwrap().await.unwrap();
    let status = gov.status().workers;
    assert_eq!((status.rejected_circuit_open, status.rejected_queue_full, status.queued), (1, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_retry_loop_that_meets_an_open_circuit_stops_at_once() {
    let gov = support::builder().max_attempts(10).build().unwrap();
    let start = Instant::now();
    let mut attempts = 0;
    let error = gov
        .run(|| {
            attempts += 1;
            async { Err::<(), _>(io_error("connection reset")) }
        })
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Operation(_)), "the last error, not a rejection");
    assert_eq!(attempts, 5, "the fifth failure opened the circuit");
    assert_eq!(start.elapsed(), secs(2 + 4 + 8 + 16), "no sleep after the circuit opened");
    assert_eq!(gov.status().workers.retries, 4);
}

#[tokio::test(start_paused = true)]
async fn keyed_breakers_open_alone_and_show_in_the_status() {
    let gov = governor();
    for _ in 0..5 {
        let _ = gov.call(|| async { Err::<(), _>(io_error("502")) }).key("jobs.example.com").await;
    }
    let blocked = gov.call(|| async { Ok::<_, Io>(()) }).key("jobs.example.com").await;
    assert!(circuit_open(&blocked.unwrap_err()).is_some());
    gov.call(|| async { Ok::<_, Io>(()) }).key("careers.example.org").await.unwrap();
    succeed(&gov).await.unwrap();
    let breakers = gov.status().breakers;
    assert_eq!(breakers.len(), 3);
    assert_eq!(breakers["jobs.example.com"].state, BreakerState::Open);
    assert_eq!(breakers["careers.example.org"].state, BreakerState::Closed);
    assert_eq!(breakers["default"].state, BreakerState::Closed);
    assert_eq!(gov.breaker_for("jobs.example.com").state(), BreakerState::Open);
}

/// A governor whose registry holds at most two keyed breakers.
fn two_keys() -> Governor {
    let mut breaker = BreakerConfig::default();
    breaker.max_keys = 2;
    support::builder().max_attempts(1).breaker(breaker).build().unwrap()
}

async fn keyed(gov: &Governor, key: &str) {
    gov.call(|| async { Ok::<_, Io>(()) }).key(key).await.unwrap();
}

fn keys(gov: &Governor) -> Vec<String> {
    gov.status().breakers.into_keys().filter(|key| key != "default").collect()
}

#[tokio::test(start_paused = true)]
async fn a_threads_last_key_is_not_used_once_its_breaker_was_evicted() {
    let gov = two_keys();
    for _ in 0..3 {
        let _ = gov.call(|| async { Err::<(), _>(io_error("502")) }).key("a").await;
    }
    // Every breaker held, so none is idle: the oldest, "a", is evicted for "c" though alive.
    let held = ["a", "b", "c"].map(|key| gov.breaker_for(key));
    assert_eq!(keys(&gov), ["b", "c"]);
    // This thread's last keyed call had "a": the next one gets the registry's new "a".
    let _ = gov.call(|| async { Err::<(), _>(io_error("502")) }).key("a").await;
    assert_eq!(gov.status().breakers["a"].consecutive_failures, 1);
    assert_eq!(held[0].status().consecutive_failures, 3, "the evicted one counts nothing more");
}

#[tokio::test(start_paused = true)]
async fn a_key_used_again_without_the_registry_is_not_the_one_evicted() {
    let mut config = BreakerConfig::default();
    config.max_keys = 3;
    let gov = support::builder().max_attempts(1).breaker(config).build().unwrap();
    keyed(&gov, "a").await;
    drop((gov.breaker_for("x"), gov.breaker_for("b"))); // the registry's order: "a", "x", "b"
    keyed(&gov, "a").await; // this thread's last key: found without the registry
    keyed(&gov, "b").await; // order "a", "x", "b"; the thread now holds "b", no longer "a"
    let b = gov.breaker_for("b"); // the newest already: the order stays
    assert_eq!(Arc::strong_count(&b), 3, "the registry's, this one and the thread's spare");
    drop(b);
    keyed(&gov, "c").await; // full: "a" is the oldest and held by no one, but was used since
    assert_eq!(keys(&gov), ["a", "b", "c"], "\"x\" was evicted in its place");
}

#[tokio::test(start_paused = true)]
async fn calls_with_one_key_at_once_on_one_thread_share_its_breaker() {
    let gov = two_keys();
    keyed(&gov, "site").await;
    let site = gov.breaker_for("site");
    assert_eq!(Arc::strong_count(&site), 3, "the registry's, this one and the thread's spare");
    let gate = Arc::new(Semaphore::new(0));
    let failing = || {
        let gate = Arc::clone(&gate);
        move || {
            let gate = Arc::clone(&gate);
            async move {
                let _open = gate.acquire().await;
                Err::<(), _>(io_error("502"))
            }
        }
    };
    let first = gov.call(failing()).key("site");
    assert_eq!(Arc::strong_count(&site), 3, "the first call was lent the thread's spare");
    let second = gov.call(failing()).key("site");
    assert_eq!(Arc::strong_count(&site), 4, "the spare was out: the second took a handle of its own");
    gate.add_permits(2);
    let (first, second) = tokio::join!(async { first.await }, async { second.await });
    assert!(first.is_err() && second.is_err());
    assert_eq!(site.status().consecutive_failures, 2, "both counted on the key's one breaker");
    assert_eq!(Arc::strong_count(&site), 3, "one handle went back as the spare, the other was dropped");
    assert_eq!(keys(&gov), ["site"]);
}

#[tokio::test(start_paused = true)]
async fn a_threads_last_key_keeps_its_breaker_but_not_the_callback_alive() {
    let transitions = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&transitions);
    let gov = support::builder()
        .on_breaker_transition(move |_, _| {
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    keyed(&gov, "site").await;
    keyed(&gov, "site").await;
    let site = gov.breaker_for("site");
    assert_eq!(Arc::strong_count(&site), 3, "the registry's, this one and the thread's spare");
    // The breaker's own transitions reach the callback while the governor lives.
    site.force_open();
    site.reset();
    assert_eq!(transitions.load(Ordering::SeqCst), 2);
    drop(gov);
    tokio::task::yield_now().await;
    assert_eq!(Arc::strong_count(&site), 2, "this one and the thread's spare");
    assert_eq!(Arc::strong_count(&transitions), 1, "the callback went with the governor");
    // A breaker kept past its governor still works; its transitions reach no one.
    site.force_open();
    assert_eq!((site.state(), transitions.load(Ordering::SeqCst)), (BreakerState::ForcedOpen, 2));
}

#[tokio::test(start_paused = true)]
async fn each_kind_of_outcome_counts_as_the_contract_says() {
    let gov = governor();
    let consecutive = |gov: &Governor| gov.status().breakers["default"].consecutive_failures;

    // Errors `failure_when` rejects count as successes: the dependency answered.
    for _ in 0..6 {
        let _ = gov
            .call(|| async { Err::<(), _>(io_error("404")) })
            .failure_when(|e: &Io| e.to_string() != "404")
            .await;
    }
    assert_eq!((consecutive(&gov), gov.breaker().state()), (0, BreakerState::Closed));

    // Attempt timeouts and panics are failures.
    let _ = gov.call(std::future::pending::<Result<(), Io>>).timeout(secs(1)).await;
    let _ = gov.run(|| -> std::future::Ready<Result<(), Io>> { panic!("driver crashed") }).await;
    assert_eq!(consecutive(&gov), 2);

    // Calls cancelled by their caller are ignored.
    for _ in 0..10 {
        let mut call = std::pin::pin!(gov.run(std::future::pending::<Result<(), Io>>));
        assert!(poll_once(call.as_mut()).is_none());
    }
    assert_eq!(consecutive(&gov), 2);

    // Cut off by the max task duration: a failure.
    let short = support::builder().max_attempts(1).max_task_duration(secs(1)).build().unwrap();
    let _ = short.run(std::future::pending::<Result<(), Io>>).await;
    assert_eq!(consecutive(&short), 1);
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_degrades_health() {
    let mut health = bursar::health::HealthConfig::default();
    health.interval = secs(10);
    struct Calm;
    impl bursar::health::Sampler for Calm {
        async fn sample(&mut self) -> bursar::health::Readings {
            bursar::health::Readings::new(5.0, 5.0, 4)
        }
    }
    let gov = Governor::builder().max_attempts(1).health(health).sampler(Calm).build().unwrap();
    tokio::time::sleep(secs(5)).await;
    assert_eq!(gov.health_level(), bursar::health::HealthLevel::Healthy);
    gov.breaker().force_open();
    tokio::time::sleep(secs(10)).await;
    assert_eq!(gov.health_level(), bursar::health::HealthLevel::Degraded);
    let check =
        gov.status().health.checks.into_iter().find(|check| check.name == "circuit breakers").unwrap();
    assert_eq!(check.check.message, "1 circuit breaker is open");
}

#[tokio::test(start_paused = true)]
async fn every_transition_reaches_the_governors_callback_with_the_breakers_name() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let gov = support::builder()
        .max_attempts(1)
        .on_breaker_transition(move |name, transition| {
            log.lock().unwrap().push(format!("{name}: {} -> {}", transition.from, transition.to));
        })
        .build()
        .unwrap();
    for _ in 0..5 {
        let _ = gov.call(|| async { Err::<(), _>(io_error("502")) }).key("site").await;
    }
    tokio::time::advance(secs(120)).await;
    gov.call(|| async { Ok::<_, Io>(()) }).key("site").await.unwrap();
    gov.breaker().force_open();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            "site: closed -> open",
            "site: open -> half_open",
            "site: half_open -> closed",
            "default: closed -> forced_open"
        ]
    );
}

/// One worker, held by a spawned call until `gate` gets a permit.
async fn hold_the_only_worker(
    gov: &Governor,
) -> (Arc<Semaphore>, tokio::task::JoinHandle<Result<(), Error<Io>>>) {
    let gate = Arc::new(Semaphore::new(0));
    let holder = {
        let (gov, gate) = (gov.clone(), Arc::clone(&gate));
        tokio::spawn(async move {
            gov.run(|| async {
                gate.acquire().await.map(|permit| permit.forget()).map_err(|_| io_error("closed"))
            })
            .await
        })
    };
    until(|| gov.status().workers.active == 1).await;
    (gate, holder)
}

#[tokio::test(start_paused = true)]
async fn a_call_queued_while_the_circuit_opens_is_rejected_when_its_worker_comes() {
    let gov = support::builder().max_workers(1).max_attempts(1).build().unwrap();
    let (gate, holder) = hold_the_only_worker(&gov).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let queued = {
        let (gov, runs) = (gov.clone(), Arc::clone(&runs));
        tokio::spawn(async move {
            gov.run(|| async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Io>(())
            })
            .await
        })
    };
    until(|| gov.status().workers.queued == 1).await;
    gov.breaker().force_open();
    gate.add_permits(1);
    holder.await.unwrap().unwrap();
    let error = queued.await.unwrap().unwrap_err();
    assert_eq!(circuit_open(&error), Some(secs(120)), "the dead dependency is not called: {error}");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    let workers = gov.status().workers;
    assert_eq!(
        (workers.completed, workers.rejected_circuit_open, workers.active, workers.in_flight),
        (1, 1, 0, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_queued_past_the_open_wait_is_the_probe() {
    let gov = support::builder().max_workers(1).max_attempts(1).build().unwrap();
    let (gate, holder) = hold_the_only_worker(&gov).await;
    let queued = {
        let gov = gov.clone();
        tokio::spawn(async move { gov.run(|| async { Ok::<_, Io>("probed") }).await })
    };
    until(|| gov.status().workers.queued == 1).await;
    // Five failures reported straight to the breaker open it while the call queues.
    for _ in 0..5 {
        gov.breaker().try_acquire().unwrap().failure();
    }
    assert_eq!(gov.breaker().state(), BreakerState::Open);
    tokio::time::advance(secs(120)).await; // the open wait ends while the call still queues
    gate.add_permits(1);
    holder.await.unwrap().unwrap();
    assert_eq!(queued.await.unwrap().unwrap(), "probed");
    assert_eq!(gov.breaker().state(), BreakerState::Closed, "its success closed the circuit");
    assert_eq!(gov.status().workers.rejected_circuit_open, 0);
}

/// Calls that queued while the circuit opened do not flood the dependency when it half-opens:
/// the first to get a worker is the probe, the next is turned away while the probe runs.
#[tokio::test(start_paused = true)]
async fn calls_queued_while_the_circuit_opens_make_one_probe_when_it_half_opens() {
    let gov = support::builder().max_workers(2).max_attempts(1).build().unwrap();
    let (held, probe_gate) = (Arc::new(Semaphore::new(0)), Arc::new(Semaphore::new(0)));
    let runs = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let wait = |gate: &Arc<Semaphore>| {
        let gate = Arc::clone(gate);
        async move { gate.acquire().await.map(|permit| permit.forget()).map_err(|_| io_error("closed")) }
    };
    let mut holders = Vec::new();
    for _ in 0..2 {
        let (gov, held) = (gov.clone(), Arc::clone(&held));
        holders.push(tokio::spawn(async move { gov.run(|| wait(&held)).await }));
    }
    until(|| gov.status().workers.active == 2).await;
    let mut queued = Vec::new();
    for call in 0..2 {
        let (caller, runs, probe_gate) = (gov.clone(), Arc::clone(&runs), Arc::clone(&probe_gate));
        queued.push(tokio::spawn(async move {
            caller
                .run(|| {
                    runs[call].fetch_add(1, Ordering::SeqCst);
                    let probe_gate = Arc::clone(&probe_gate);
                    async move { if call == 0 { wait(&probe_gate).await } else { Ok(()) } }
                })
                .await
        }));
        until(|| gov.status().workers.queued == call + 1).await;
    }
    for _ in 0..5 {
        gov.breaker().try_acquire().unwrap().failure();
    }
    tokio::time::advance(secs(120)).await; // the open wait ends while both calls queue
    held.add_permits(1);
    until(|| gov.breaker().state() == BreakerState::HalfOpen).await;
    assert_eq!(runs[0].load(Ordering::SeqCst), 1, "the first queued call is the probe");
    held.add_permits(1);
    let second = queued.pop().unwrap().await.unwrap().unwrap_err();
    assert_eq!(circuit_open(&second), Some(Duration::ZERO), "turned away while the probe runs: {second}");
    assert_eq!(runs[1].load(Ordering::SeqCst), 0, "the half-open dependency got one call");
    probe_gate.add_permits(1);
    queued.pop().unwrap().await.unwrap().unwrap();
    assert_eq!(gov.breaker().state(), BreakerState::Closed);
    for holder in holders {
        holder.await.unwrap().unwrap();
    }
    let workers = gov.status().workers;
    assert_eq!((workers.completed, workers.rejected_circuit_open, workers.in_flight), (3, 1, 0));
}

/// A half-open probe that has to wait for a worker holds no probe slot while it waits: a call
/// arriving meanwhile queues too instead of being turned away, and the first to run probes.
#[tokio::test(start_paused = true)]
async fn a_probe_waiting_for_a_worker_holds_no_probe_slot() {
    let gov = support::builder().max_workers(1).max_attempts(1).build().unwrap();
    let (gate, holder) = hold_the_only_worker(&gov).await;
    for _ in 0..5 {
        gov.breaker().try_acquire().unwrap().failure();
    }
    tokio::time::advance(secs(120)).await;
    let mut queued = Vec::new();
    for call in 0..2 {
        let caller = gov.clone();
        queued.push(tokio::spawn(async move { caller.run(|| async move { Ok::<_, Io>(call) }).await }));
        until(|| gov.status().workers.queued == call + 1).await;
    }
    assert_eq!(gov.breaker().state(), BreakerState::HalfOpen, "the first arrival was admitted as the probe");
    gate.add_permits(1);
    holder.await.unwrap().unwrap();
    for (call, handle) in queued.into_iter().enumerate() {
        assert_eq!(handle.await.unwrap().unwrap(), call);
    }
    assert_eq!(gov.breaker().state(), BreakerState::Closed, "the first to run probed and closed it");
    let workers = gov.status().workers;
    assert_eq!((workers.completed, workers.rejected_circuit_open, workers.in_flight), (3, 0, 0));
}

/// Under a slow-call rule a governed call is timed from the start of its attempt: a success
/// slower than the threshold counts as a failure, while time spent waiting for a worker does not.
#[tokio::test(start_paused = true)]
async fn a_slow_attempt_counts_as_a_failure_but_the_wait_for_a_worker_does_not() {
    let mut breaker = BreakerConfig::default();
    breaker.failure_threshold = 2;
    breaker.slow_call = Some(bursar::breaker::SlowCall::new(secs(1)));
    let gov = support::builder().max_attempts(1).max_workers(1).breaker(breaker).build().unwrap();
    let slow = || async {
        tokio::time::sleep(secs(2)).await;
        Ok::<_, Io>(())
    };
    // Queued 5 s behind a busy worker, then done at once: not slow.
    let busy = gov.spawn(async {
        tokio::time::sleep(secs(5)).await;
        Ok::<_, Io>(())
    });
    until(|| gov.status().workers.active == 1).await;
    let started = Instant::now();
    assert!(succeed(&gov).await.is_ok());
    assert_eq!(started.elapsed(), secs(5));
    busy.unwrap().await.unwrap();
    assert_eq!(gov.breaker().status().consecutive_failures, 0, "the wait was not the call's");

    // Two successes of 2 s each are two slow calls: the second opens the circuit.
    assert!(gov.run(slow).await.is_ok());
    assert_eq!(gov.breaker().status().consecutive_failures, 1);
    assert!(gov.run(slow).await.is_ok());
    assert_eq!(gov.breaker().state(), BreakerState::Open);
}

/// The max task duration reached while a retry waits for a worker cuts off no attempt: the
/// breaker hears only of the attempt that ran, as when the duration ends during the backoff.
#[tokio::test(start_paused = true)]
async fn a_call_cut_off_while_its_retry_waits_for_a_worker_blames_the_breaker_for_no_attempt() {
    let mut breaker = BreakerConfig::default();
    breaker.failure_threshold = 2;
    let builder = support::builder().max_workers(1).max_attempts(3).max_task_duration(secs(5));
    let gov = builder.breaker(breaker).build().unwrap();
    let attempts = Arc::new(AtomicUsize::new(0));
    let call = {
        let (gov, attempts) = (gov.clone(), Arc::clone(&attempts));
        tokio::spawn(async move {
            gov.run(|| {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(io_error("503")) }
            })
            .await
        })
    };
    until(|| gov.status().workers.retrying == 1).await;
    // The only worker taken for a minute while the call backs off (2 s): its retry waits.
    let _busy = gov.spawn(async {
        tokio::time::sleep(secs(60)).await;
        Ok::<_, Io>(())
    });
    until(|| gov.status().workers.active == 1).await;
    let started = Instant::now();
    assert!(matches!(call.await.unwrap(), Err(Error::Timeout { .. })));
    assert_eq!((started.elapsed(), attempts.load(Ordering::SeqCst)), (secs(5), 1));
    let failures = gov.breaker().status().consecutive_failures;
    assert_eq!((gov.breaker().state(), failures), (BreakerState::Closed, 1));
}

//! Memory-aware admission (issue 21): calls with a cost and a pool's creates wait while the
//! available memory, less what admitted work reserved, would fall below the floor.

mod support;

use std::future::IntoFuture;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bursar::health::{HealthConfig, Readings, Sampler};
use bursar::pool::{Manager, PoolError};
use bursar::ports::PortLease;
use bursar::{BuildError, Error, Governor, Rejection};
use support::{Gauge, Io, capture_events, poll_once, until};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep};

const MB: u64 = 1 << 20;
const GB: u64 = 1 << 30;
/// 10 GB of memory, a floor of 10 % (1 GB) and 3 GB available with nothing running: 2 GB
/// above the floor, room for 6 pieces of work of 300 MB (1800 MB) and not for 7 (2100 MB).
const TOTAL: u64 = 10 * GB;
const IDLE_AVAILABLE: u64 = 3 * GB;
const COST: u64 = 300 * MB;

/// Held by every test here: the one that captures events must not share `tracing`'s callsites
/// with another test's thread while it registers them (a race that can leave an event unseen).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A machine whose available memory falls by what the running work uses.
#[derive(Debug, Clone, Default)]
struct Machine {
    used: Arc<AtomicU64>,
}

impl Machine {
    /// Uses `bytes` while the guard lives.
    fn uses(&self, bytes: u64) -> Using {
        self.used.fetch_add(bytes, Ordering::SeqCst);
        Using(Arc::clone(&self.used), bytes)
    }
}

struct Using(Arc<AtomicU64>, u64);

impl Drop for Using {
    fn drop(&mut self) {
        self.0.fetch_sub(self.1, Ordering::SeqCst);
    }
}

impl Sampler for Machine {
    async fn sample(&mut self) -> Readings {
        let mut readings = Readings::new(10.0, 50.0, 8);
        readings.memory_available = Some(IDLE_AVAILABLE - self.used.load(Ordering::SeqCst));
        readings.memory_total = Some(TOTAL);
        readings
    }
}

/// A governor sampling `machine` every second, with a floor of 10 % and room for 100 workers.
fn governor(machine: &Machine, queue_timeout: Option<Duration>) -> Governor {
    let health = HealthConfig::default().interval(Duration::from_secs(1)).memory_floor(10.0);
    let builder = Governor::builder().health(health).sampler(machine.clone()).max_workers(100);
    let builder = match queue_timeout {
        Some(timeout) => builder.queue_timeout(timeout),
        None => builder,
    };
    builder.build().expect("a valid governor")
}

/// A call of cost 300 MB that uses it for 400 ms inside `gauge`.
async fn costly_call(gov: &Governor, machine: &Machine, gauge: &Arc<Gauge>) -> Result<(), Error<Io>> {
    gov.call(|| async {
        let (_inside, _using) = (gauge.enter(), machine.uses(COST));
        sleep(Duration::from_millis(400)).await;
        Ok::<_, Io>(())
    })
    .cost(COST)
    .name("browse")
    .await
}

/// `count` costly calls at once, each on a task of its own; their results.
async fn all(
    count: usize,
    gov: &Governor,
    machine: &Machine,
    gauge: &Arc<Gauge>,
) -> Vec<Result<(), Error<Io>>> {
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..count {
        let (gov, machine, gauge) = (gov.clone(), machine.clone(), Arc::clone(gauge));
        calls.spawn(async move { costly_call(&gov, &machine, &gauge).await });
    }
    calls.join_all().await
}

/// The test. The sample at 0 s reads 3 GB: 6 calls are admitted at 0.5 s, 6 more when
/// they end at 0.9 s. The sample at 1 s reads 1.2 GB while 1.8 GB is reserved, so the calls that
/// end at 1.3 s free nothing the gate can give (it counts a reservation in full until its work
/// ends, whatever the reading shows of it); the sample at 2 s reads 3 GB again: 6 calls at 2.0,
/// 2.4 and 2.8 s, and so on every two seconds — 100 calls done at 11.2 s, never more than 6 at
/// once, none rejected.
#[tokio::test(start_paused = true)]
async fn a_hundred_calls_of_300_mb_with_2_gb_above_the_floor_run_at_most_6_at_once() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let machine = Machine::default();
    let gov = governor(&machine, None);
    sleep(Duration::from_millis(500)).await; // the first sample, at 0 s
    let gauge = Arc::new(Gauge::default());
    let started = Instant::now();
    let results = all(100, &gov, &machine, &gauge).await;
    assert_eq!(started.elapsed(), Duration::from_millis(10_700));
    assert!(results.iter().all(Result::is_ok), "every call completed");
    assert_eq!(gauge.peak(), 6);
    let status = gov.status().workers;
    assert_eq!((status.completed, status.rejected, status.failed), (100, 0, 0));
    assert_eq!((status.memory.reserved, status.memory.floor, status.memory.waiting), (0, Some(GB), 0));
}

#[tokio::test(start_paused = true)]
async fn a_call_waiting_longer_than_the_queue_timeout_for_memory_is_rejected_and_logged() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let (_events, events) = capture_events();
    let machine = Machine::default();
    let gov = governor(&machine, Some(Duration::from_millis(300)));
    sleep(Duration::from_millis(500)).await;
    let gauge = Arc::new(Gauge::default());
    let results = all(7, &gov, &machine, &gauge).await;
    let rejected: Vec<_> = results.iter().filter_map(|result| result.as_ref().err()).collect();
    assert_eq!(rejected.len(), 1, "the seventh waits 300 ms; the first six end at 400 ms");
    assert_eq!(rejected[0].rejection(), Some(Rejection::QueueTimeout { waited: Duration::from_millis(300) }));
    let status = gov.status().workers;
    assert_eq!((status.completed, status.rejected_queue_timeout, status.memory.reserved), (6, 1, 0));
    assert_eq!(events.lines_with("admission waits for memory").len(), 1);
    assert_eq!(events.lines_with("no memory for the work within the queue timeout").len(), 1);
}

/// A call of `cost` that runs `ms`, awaited on a task of its own; its result and when it
/// ended, from `started`.
fn spawn_call(
    gov: &Governor,
    cost: u64,
    ms: u64,
    started: Instant,
) -> JoinHandle<(Result<(), Error<Io>>, Duration)> {
    let gov = gov.clone();
    tokio::spawn(async move {
        let call = gov.call(|| async move {
            sleep(Duration::from_millis(ms)).await;
            Ok::<_, Io>(())
        });
        (call.cost(cost).await, started.elapsed())
    })
}

/// Two workers, a queue timeout of 300 ms. At 0 ms one worker is held for a second and the
/// other by a call of 1.9 GB for 200 ms; a call without a cost queues for a worker; a call of
/// 300 MB waits for memory (2.2 GB would pass the 2 GB above the floor). At 200 ms the queued
/// call takes the freed worker and the 300 MB are reserved: the call of 300 MB waited 200 ms of
/// its 300 for memory, so it waits 100 ms for a worker and is turned away at 300 ms, not 500.
#[tokio::test(start_paused = true)]
async fn the_waits_for_memory_and_for_a_worker_share_one_queue_timeout() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let machine = Machine::default();
    let health = HealthConfig::default().interval(Duration::from_secs(1)).memory_floor(10.0);
    let gov = Governor::builder()
        .health(health)
        .sampler(machine.clone())
        .max_workers(2)
        .queue_timeout(Duration::from_millis(300))
        .build()
        .expect("a valid governor");
    sleep(Duration::from_millis(500)).await; // the first sample, at 0 s
    let started = Instant::now();
    let holder = spawn_call(&gov, 0, 1000, started);
    let big = spawn_call(&gov, 1900 * MB, 200, started);
    let queued = spawn_call(&gov, 0, 1000, started);
    let costly = spawn_call(&gov, COST, 100, started);
    let (result, ended) = costly.await.expect("the call's task");
    assert_eq!(
        result.unwrap_err().rejection(),
        Some(Rejection::QueueTimeout { waited: Duration::from_millis(300) })
    );
    assert_eq!(ended, Duration::from_millis(300));
    let mut ends = Vec::new();
    for task in [holder, big, queued] {
        let (result, ended) = task.await.expect("a call's task");
        ends.push((result.is_ok(), ended.as_millis()));
    }
    assert_eq!(ends, [(true, 1000), (true, 200), (true, 1200)]);
    let status = gov.status().workers;
    assert_eq!((status.completed, status.rejected_queue_timeout, status.memory.reserved), (3, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiting_call_reserves_nothing_and_a_running_one_gives_its_cost_back() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let machine = Machine::default();
    let gov = governor(&machine, None);
    sleep(Duration::from_millis(500)).await;
    // 1800 MB reserved by a call that never ends until dropped.
    let mut holder = Box::pin(gov.call(std::future::pending::<Result<(), Io>>).cost(1800 * MB).run());
    assert!(poll_once(holder.as_mut()).is_none());
    assert_eq!(gov.status().workers.memory.reserved, 1800 * MB);
    {
        let mut waiting = pin!(gov.call(|| async { Ok::<_, Io>(()) }).cost(COST).run());
        assert!(poll_once(waiting.as_mut()).is_none());
        let memory = gov.status().workers.memory;
        assert_eq!((memory.reserved, memory.waiting), (1800 * MB, 1));
    }
    let status = gov.status().workers;
    assert_eq!(
        (status.memory.reserved, status.memory.waiting, status.abandoned, status.in_flight),
        (1800 * MB, 0, 1, 1)
    );
    // A call without a cost is not held back by the memory held.
    assert_eq!(gov.run(|| async { Ok::<_, Io>(7) }).await.unwrap(), 7);
    let mut cheap = pin!(gov.call(|| async { Ok::<_, Io>(()) }).cost(200 * MB).run());
    assert!(matches!(poll_once(cheap.as_mut()), Some(Ok(()))), "200 MB still fits above the floor");
    drop(holder);
    let status = gov.status().workers;
    assert_eq!((status.memory.reserved, status.abandoned, status.in_flight), (0, 2, 0));
}

/// A shutdown turns away a call waiting for memory as it does one waiting for a worker: at
/// once, counted as rejected while waiting, not left to wait for a reading that the stopped
/// health monitor will never take.
#[tokio::test(start_paused = true)]
async fn a_shutdown_rejects_a_call_waiting_for_memory_at_once() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let machine = Machine::default();
    let gov = governor(&machine, None);
    sleep(Duration::from_millis(500)).await;
    // Another program takes all but 100 MB of the memory: only a new reading could let the
    // call in, and the health monitor stops at the shutdown.
    let _other_program = machine.uses(IDLE_AVAILABLE - 100 * MB);
    sleep(Duration::from_secs(1)).await;
    let waiting = {
        let gov = gov.clone();
        tokio::spawn(async move { gov.call(|| async { Ok::<_, Io>(()) }).cost(COST).await })
    };
    until(|| gov.status().workers.memory.waiting == 1).await;
    let started = Instant::now();
    let report = gov.shutdown(Duration::from_secs(5)).await;
    assert_eq!((report.finished, report.cancelled, report.rejected_waiting, report.unfinished), (0, 0, 1, 0));
    assert_eq!(started.elapsed(), Duration::ZERO, "nothing left to wait for");
    let rejected = tokio::time::timeout(Duration::from_secs(3600), waiting).await.expect("the call ended");
    assert!(matches!(rejected.unwrap(), Err(Error::Rejected(Rejection::ShuttingDown))));
    let workers = gov.status().workers;
    assert_eq!((workers.memory.reserved, workers.memory.waiting, workers.in_flight), (0, 0, 0));
}

/// A cost above the machine's memory less the floor (9 GB here) can never be admitted: the call
/// is refused at once, with no queue timeout to end its wait, and its operation never runs. A
/// cost of exactly 9 GB waits, as it could run on an otherwise idle machine.
#[tokio::test(start_paused = true)]
async fn a_call_costing_more_than_the_memory_less_the_floor_is_refused_at_once_and_logged() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let (_events, events) = capture_events();
    let machine = Machine::default();
    let gov = governor(&machine, None);
    sleep(Duration::from_millis(500)).await;
    let ran = Arc::new(AtomicUsize::new(0));
    let operation = || async {
        ran.fetch_add(1, Ordering::SeqCst);
        Ok::<_, Io>(())
    };
    let started = Instant::now();
    let refused = gov.call(operation).cost(9 * GB + 1024).await; // costs count in whole KiB
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(
        refused.unwrap_err().rejection(),
        Some(Rejection::CostTooHigh { cost: 9 * GB + 1024, most: 9 * GB })
    );
    let mut fits_on_an_idle_machine = pin!(gov.call(operation).cost(9 * GB).into_future());
    assert!(poll_once(fits_on_an_idle_machine.as_mut()).is_none());
    let workers = gov.status().workers;
    assert_eq!((workers.rejected, workers.rejected_cost_too_high), (1, 1));
    assert_eq!((workers.memory.reserved, workers.memory.waiting, ran.load(Ordering::SeqCst)), (0, 1, 0));
    assert_eq!(events.lines_with("the work costs more memory than the floor ever admits").len(), 1);
    assert_eq!(events.lines_with("admission waits for memory").len(), 1, "the one that waits");
}

/// A pool whose `create_cost` is above the machine's memory less the floor fails its `get` at
/// once, naming both figures, and calls no `create`.
#[tokio::test(start_paused = true)]
async fn a_create_costing_more_than_the_memory_less_the_floor_fails_the_get_at_once() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let (_events, events) = capture_events();
    let machine = Machine::default();
    let gov = governor(&machine, None);
    let browsers = Browsers { machine: machine.clone(), creating: Arc::default(), created: Arc::default() };
    let config = gov.pool_config().create_cost(9 * GB + 1);
    let pool = gov.pool("browsers", browsers.clone()).config(config).build().expect("a valid pool");
    sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let failed = pool.get(1).await.map(drop);
    assert_eq!(started.elapsed(), Duration::ZERO);
    let Err(PoolError::CreateCostTooHigh { cost, most }) = failed else {
        panic!("the create cost must be refused: {failed:?}");
    };
    assert_eq!((cost, most), (9 * GB + 1, 9 * GB));
    assert_eq!((browsers.creating.peak(), browsers.created.load(Ordering::SeqCst)), (0, 0));
    let (memory, pool_status) = (gov.status().workers.memory, pool.status());
    assert_eq!(
        (memory.reserved, memory.waiting, pool_status.connections, pool_status.timeouts),
        (0, 0, 0, 0)
    );
    assert_eq!(events.lines_with("the create cost is more memory than the floor ever admits").len(), 1);
}

/// A call's retry deadline counts its wait for memory, as it counts its wait for a worker.
#[tokio::test(start_paused = true)]
async fn the_retry_deadline_counts_the_wait_for_memory() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let machine = Machine::default();
    let gov = governor(&machine, None);
    sleep(Duration::from_millis(500)).await;
    // Memory taken by another program: the call waits for the sample after its end.
    let other_program = machine.uses(IDLE_AVAILABLE - 100 * MB);
    sleep(Duration::from_secs(1)).await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let call = {
        let (gov, attempts) = (gov.clone(), Arc::clone(&attempts));
        tokio::spawn(async move {
            gov.call(|| {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(support::io_error("503")) }
            })
            .cost(COST)
            .attempts(5)
            .deadline(Duration::from_secs(3))
            .await
        })
    };
    until(|| gov.status().workers.memory.waiting == 1).await;
    let started = Instant::now();
    sleep(Duration::from_secs(1)).await;
    drop(other_program);
    assert!(call.await.unwrap().is_err());
    // Admitted by the sample 1.5 s after the call started and failed at once: the retry, due
    // 2 s later, would start 3.5 s after the call did, past its 3 s deadline.
    assert_eq!((started.elapsed(), attempts.load(Ordering::SeqCst)), (Duration::from_millis(1500), 1));
}

/// Browsers that each take 300 MB from `create` until destroyed.
#[derive(Debug, Clone)]
struct Browsers {
    machine: Machine,
    creating: Arc<Gauge>,
    created: Arc<AtomicUsize>,
}

impl Manager for Browsers {
    type Key = u32;
    type Connection = Using;
    type Error = Io;

    async fn create(&self, _user: &u32, _ports: &[PortLease]) -> Result<Using, Io> {
        let _creating = self.creating.enter();
        let using = self.machine.uses(COST);
        sleep(Duration::from_millis(400)).await;
        self.created.fetch_add(1, Ordering::SeqCst);
        Ok(using)
    }

    async fn check(&self, _browser: &mut Using) -> Result<(), Io> {
        Ok(())
    }

    async fn destroy(&self, _browser: Using) {}
}

impl std::fmt::Debug for Using {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Using").field(&self.1).finish()
    }
}

/// Ten creates of 300 MB, ten at a time by the launch control: the gate lets 6 start at 0.5 s,
/// the other 4 wait; the 6 return at 0.9 s and give their reservations back (`create_cost`
/// covers the create, and the next sample reads what the browsers then hold), so the 4 are
/// created by 1.3 s.
#[tokio::test(start_paused = true)]
async fn a_pools_creates_reserve_their_create_cost_until_create_returns() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let machine = Machine::default();
    let gov = governor(&machine, None);
    let browsers = Browsers { machine: machine.clone(), creating: Arc::default(), created: Arc::default() };
    let config = gov.pool_config().max_total(10).max_per_key(10).max_concurrent_creates(10).create_cost(COST);
    let pool = gov.pool("browsers", browsers.clone()).config(config).build().expect("a valid pool");
    sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let mut gets = tokio::task::JoinSet::new();
    for user in 0..10 {
        let pool = pool.clone();
        gets.spawn(async move { pool.get(user).await.map(drop) });
    }
    until(|| browsers.creating.current() == 6).await;
    let memory = gov.status().workers.memory;
    assert_eq!((memory.reserved, memory.waiting), (6 * COST, 4));
    let done: Vec<Result<(), PoolError<Io>>> = gets.join_all().await;
    assert!(done.iter().all(Result::is_ok));
    assert_eq!(started.elapsed(), Duration::from_millis(800));
    assert_eq!((browsers.creating.peak(), browsers.created.load(Ordering::SeqCst)), (6, 10));
    assert_eq!(gov.status().workers.memory.reserved, 0);
}

#[tokio::test]
async fn the_floor_and_the_create_cost_are_validated_naming_their_fields() {
    let _serial = ONE_AT_A_TIME.lock().await;
    for floor in [0.0, 100.0, -5.0, f64::NAN, f64::INFINITY] {
        let health = HealthConfig::default().memory_floor(floor);
        let Err(BuildError::Invalid { field, rule, .. }) = Governor::builder().health(health).build() else {
            panic!("a floor of {floor} must be refused");
        };
        assert_eq!((field, rule), ("health.memory_floor", "must be above 0 and below 100 (percent)"));
    }
    assert_eq!(HealthConfig::default().memory_floor(0.5).validate(), Ok(()));
    let gov = support::builder().build().expect("a valid governor");
    let config = gov.pool_config().create_cost(0);
    let browsers =
        Browsers { machine: Machine::default(), creating: Arc::default(), created: Arc::default() };
    let Err(BuildError::Invalid { field, rule, .. }) = gov.pool("browsers", browsers).config(config).build()
    else {
        panic!("a create cost of 0 must be refused");
    };
    assert_eq!((field, rule), ("pool.create_cost", "must be at least 1"));
}

//! Dropping a governed call at every await point leaves every count exact: no worker, queue
//! place, probe slot or backoff sleep outlives the call, and every call is accounted for once.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bursar::breaker::BreakerState;
use bursar::{Governor, WorkerStatus};
use support::{Io, cancel_at_every_await, io_error};

const STEP: Duration = Duration::from_millis(250);

/// Every call ended exactly one way.
fn accounted(status: &WorkerStatus) -> u64 {
    status.completed + status.failed + status.cancelled + status.abandoned + status.rejected
}

/// An operation that fails `failures` times, then succeeds after a short wait.
fn flaky(failures: usize) -> impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = Result<(), Io>> + Send>> {
    let attempts = Arc::new(AtomicUsize::new(0));
    move || {
        let attempt = attempts.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if attempt < failures { Err(io_error("connection closed")) } else { Ok(()) }
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_in_the_queue_while_running_or_while_backing_off_leaves_nothing() {
    let gov = support::builder().max_workers(1).build().unwrap();
    gov.breaker().disable(); // earlier iterations' failures must not open it
    // A neighbour holds the only worker for the first second: the call waits in the queue.
    let mut calls = 0;
    let finished_at = cancel_at_every_await(
        || {
            calls += 1;
            let neighbour = gov.spawn(async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok::<_, Io>(())
            });
            let gov = gov.clone();
            async move {
                let result = gov.run(flaky(2)).await;
                drop(neighbour);
                result
            }
        },
        STEP,
        |_, _| {},
    )
    .await;
    // Let every neighbour finish (each holds the only worker for a second), then everything
    // must be back.
    tokio::time::sleep(Duration::from_secs(calls as u64 + 1)).await;
    let status = gov.status().workers;
    assert_eq!((status.active, status.queued, status.retrying, status.in_flight), (0, 0, 0, 0));
    // At n = 0 the call's future is never polled, so it never starts: one call fewer.
    assert_eq!(accounted(&status), 2 * calls as u64 - 1, "each neighbour and each started call once");
    assert_eq!(status.completed, calls as u64 + 1, "every neighbour and the one call that finished");
    assert!(finished_at > 20, "the harness reached the backoff sleeps ({finished_at} polls)");
    assert_eq!(gov.run(flaky(0)).await.unwrap(), (), "the worker is free");
}

#[tokio::test(start_paused = true)]
async fn a_half_open_probe_dropped_anywhere_gives_its_slot_back() {
    let gov = support::builder().max_attempts(1).build().unwrap();
    let key = "jobs.example.com";
    for _ in 0..5 {
        let _ = gov.call(|| async { Err::<(), _>(io_error("502")) }).key(key).await;
    }
    assert_eq!(gov.breaker_for(key).state(), BreakerState::Open);
    tokio::time::advance(Duration::from_secs(120)).await;

    cancel_at_every_await(
        || gov.call(flaky(0)).key(key).run(),
        STEP,
        |_, finished| {
            if !finished {
                // The dropped probe's slot is free again: the breaker admits the next probe.
                let breaker = gov.breaker_for(key);
                let probe = breaker.try_acquire().expect("a probe slot is free");
                drop(probe);
            }
        },
    )
    .await;
    assert_eq!(gov.breaker_for(key).state(), BreakerState::Closed, "the probe that finished closed it");
    let status = gov.status().workers;
    assert_eq!((status.active, status.in_flight), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn shutdown_in_the_middle_of_dropped_calls_still_reports_exactly() {
    let gov: Governor = support::builder().max_workers(2).build().unwrap();
    cancel_at_every_await(|| gov.run(flaky(1)), STEP, |_, _| {}).await;
    let report = gov.shutdown(Duration::from_secs(1)).await;
    assert_eq!((report.finished, report.cancelled, report.unfinished), (0, 0, 0));
    let status = gov.status().workers;
    assert_eq!((status.active, status.queued, status.in_flight, status.retrying), (0, 0, 0, 0));
}

/// A browser session manager whose `create` and `check` each take a while, so a `get` can be
/// dropped in the middle of either; it counts every create and destroy.
#[derive(Debug, Default, Clone)]
struct SlowSessions {
    created: Arc<AtomicUsize>,
    destroyed: Arc<AtomicUsize>,
}

impl bursar::pool::Manager for SlowSessions {
    type Key = &'static str;
    type Connection = (u16, u16);
    type Error = Io;

    async fn create(
        &self,
        _user: &&'static str,
        ports: &[bursar::ports::PortLease],
    ) -> Result<(u16, u16), Io> {
        tokio::time::sleep(Duration::from_millis(600)).await;
        self.created.fetch_add(1, Ordering::SeqCst);
        Ok((ports[0].port(), ports[1].port()))
    }

    async fn check(&self, _session: &mut (u16, u16)) -> Result<(), Io> {
        tokio::time::sleep(Duration::from_millis(400)).await;
        Ok(())
    }

    async fn destroy(&self, _session: (u16, u16)) {
        self.destroyed.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn a_governed_pool_get_dropped_while_creating_or_checking_leaks_no_session_or_port() {
    let mut ports = bursar::ports::PortsConfig::default();
    ports.ranges = vec![
        bursar::ports::PortRange::new("vnc", 45900..=45909),
        bursar::ports::PortRange::new("ws", 46900..=46909),
    ];
    ports.host_check = false;
    let gov = support::builder().ports(ports).build().unwrap();
    let mut config = gov.pool_config();
    config.ports = vec!["vnc".into(), "ws".into()];
    let manager = SlowSessions::default();
    let pool = gov.pool("sessions", manager.clone()).config(config).build().unwrap();
    // An idle session to begin with, so the first calls are dropped in its check.
    drop(pool.get("alice").await.unwrap());

    let finished_at = cancel_at_every_await(
        || {
            gov.call(|| async {
                let session = pool.get("alice").await.map_err(|error| io_error(&error.to_string()))?;
                tokio::time::sleep(Duration::from_millis(300)).await; // the job's own work
                drop(session);
                Ok::<_, Io>(())
            })
            .run()
        },
        STEP,
        |polls, _| {
            let stats = pool.status();
            let alive = manager.created.load(Ordering::SeqCst) - manager.destroyed.load(Ordering::SeqCst);
            assert_eq!((stats.active, stats.waiting), (0, 0), "after {polls} polls");
            assert_eq!(stats.connections, alive, "after {polls} polls: every live session is counted");
            assert!(alive <= 1, "after {polls} polls: {alive} sessions for one sequential user");
            assert_eq!(gov.status().ports["vnc"].leased, alive, "after {polls} polls: ports follow sessions");
        },
    )
    .await;
    let stats = pool.status();
    // 1 poll: dropped in the check of the first session, which is destroyed (it may be
    // mid-request); 2 and 3: dropped while creating its replacement; 4: the replacement is
    // created and the call dropped in its own work, so the session goes back idle; 5: checked,
    // used, finished.
    assert_eq!(finished_at, 5);
    assert_eq!((stats.created, stats.destroyed, stats.check_failed, stats.idle), (2, 1, 0, 1), "{stats:?}");

    let report = gov.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report.pool_destroys_unfinished, 0);
    assert_eq!(manager.created.load(Ordering::SeqCst), manager.destroyed.load(Ordering::SeqCst));
    let status = gov.status();
    assert_eq!((status.ports["vnc"].leased, status.ports["ws"].leased), (0, 0));
    assert_eq!((status.workers.active, status.workers.in_flight), (0, 0));
}

/// A call dropped while it holds the half-open probe's permit gives the probe's slot back
/// before it is counted out, so whoever sees the call gone (a shutdown, `status()`) finds
/// the breaker ready for the next probe. Checked at the event the count-out logs.
#[tokio::test(start_paused = true)]
async fn a_call_dropped_as_the_probe_gives_its_slot_back_before_it_counts_out() {
    use support::abandoned::{AtAbandoned, at_abandoned};

    let gov = support::builder().max_attempts(1).build().expect("a valid governor");
    for _ in 0..5 {
        let refused = gov.run(|| async { Err::<(), _>(io_error("503")) }).await;
        assert!(refused.is_err());
    }
    assert_eq!(gov.breaker().state(), BreakerState::Open);
    tokio::time::advance(Duration::from_secs(120)).await;

    // At the event, whether the breaker's one probe slot is free again.
    let seen = Arc::new(std::sync::Mutex::new(None));
    let (asking, slot) = (gov.clone(), Arc::clone(&seen));
    let _watching = at_abandoned(AtAbandoned::Run(Box::new(move || {
        let free = matches!(asking.breaker().try_acquire(), Ok(probe) if probe.is_probe());
        *slot.lock().unwrap() = Some(free);
    })));
    let mut probe = Box::pin(gov.run(|| async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok::<_, Io>(())
    }));
    assert!(support::poll_once(probe.as_mut()).is_none());
    assert!(gov.breaker().try_acquire().is_err(), "the running call holds the only probe slot");
    drop(probe);
    assert_eq!(*seen.lock().unwrap(), Some(true), "the event came after the slot was given back");
    assert_eq!(gov.status().workers.abandoned, 1);
}

/// A `tracing` subscriber that panics at the event of a call dropped by its caller finds
/// the call already counted out: the panic leaves no worker held and no shutdown waiting.
#[tokio::test(start_paused = true)]
async fn a_subscriber_panicking_at_a_dropped_calls_event_leaves_the_call_counted_out() {
    use support::abandoned::{AtAbandoned, at_abandoned};

    let gov = support::builder().build().expect("a valid governor");
    let mut call = Box::pin(gov.run(|| async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok::<_, Io>(())
    }));
    assert!(support::poll_once(call.as_mut()).is_none());
    assert_eq!((gov.status().workers.active, gov.status().workers.in_flight), (1, 1));
    let dropped = {
        let _watching = at_abandoned(AtAbandoned::Panic);
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(call)))
    };
    assert!(dropped.is_err(), "the subscriber panicked at the event");
    let workers = gov.status().workers;
    assert_eq!((workers.active, workers.in_flight, workers.abandoned), (0, 0, 1));
    let report = gov.shutdown(Duration::from_secs(5)).await;
    assert_eq!((report.finished, report.cancelled, report.unfinished), (0, 0, 0));
}

//! `call` and `call_when`: the outcome recorded for the caller, a panic in the operation or the
//! predicate caught and counted as a failure after the unwinding, a dropped call recording
//! nothing. On tokio's paused clock, through the names that read the clock themselves.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Waker};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::sleep;

use super::support::{SECOND, breaker};
use crate::breaker::{BreakerState, CallError, NotPermitted, SlowCall, Transition};

type Io = std::io::Error;

async fn fails() -> Result<u32, Io> {
    Err(Io::other("refused"))
}

async fn answers() -> Result<u32, Io> {
    Ok(7)
}

#[tokio::test(start_paused = true)]
async fn call_records_successes_and_failures_and_rejects_without_polling() {
    let breaker = breaker(|_| {});
    for _ in 0..4 {
        assert!(matches!(breaker.call(fails()).await, Err(CallError::Operation(_))));
    }
    assert_eq!(breaker.call(answers()).await.unwrap(), 7);
    assert_eq!(breaker.status().consecutive_failures, 0, "the success ended the run");
    for _ in 0..5 {
        assert!(matches!(breaker.call(fails()).await, Err(CallError::Operation(_))));
    }
    sleep(20 * SECOND).await;
    let polled = AtomicBool::new(false);
    let operation = async {
        polled.store(true, Ordering::SeqCst);
        Ok::<_, Io>(())
    };
    let rejected = breaker.call(operation).await;
    let Err(CallError::Rejected(NotPermitted { state, retry_after, .. })) = rejected else {
        panic!("an open breaker rejects: {rejected:?}")
    };
    assert_eq!((state, retry_after), (BreakerState::Open, 100 * SECOND));
    assert!(!polled.load(Ordering::SeqCst), "a rejected operation is never polled");
    sleep(100 * SECOND).await;
    assert_eq!(breaker.call(answers()).await.unwrap(), 7, "the probe");
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn call_when_counts_only_the_errors_its_predicate_names() {
    let breaker = breaker(|_| {});
    let asked = AtomicU32::new(0);
    let is_failure = |error: &Io| {
        asked.fetch_add(1, Ordering::SeqCst);
        error.kind() != std::io::ErrorKind::NotFound
    };
    for _ in 0..10 {
        let not_found =
            breaker.call_when(async { Err::<(), _>(Io::from(std::io::ErrorKind::NotFound)) }, is_failure);
        assert!(matches!(not_found.await, Err(CallError::Operation(_))));
    }
    assert_eq!(breaker.status().consecutive_failures, 0, "a 404 is the dependency answering");
    for _ in 0..3 {
        let _ = breaker.call_when(fails(), is_failure).await;
    }
    assert_eq!(breaker.call_when(answers(), |_| panic!("not asked about a success")).await.unwrap(), 7);
    assert_eq!(asked.load(Ordering::SeqCst), 13);
    for _ in 0..5 {
        let _ = breaker.call_when(fails(), is_failure).await;
    }
    assert_eq!(breaker.state(), BreakerState::Open);
}

/// Each transition's new state, and whether its callback ran while the thread was unwinding.
type Seen = Arc<Mutex<Vec<(BreakerState, bool)>>>;

/// A breaker that opens at the first failure and keeps what its callback saw.
fn opens_at_once() -> (crate::breaker::CircuitBreaker, Seen) {
    let seen = Seen::default();
    let keep = Arc::clone(&seen);
    let breaker =
        breaker(|config| config.failure_threshold = 1).with_on_transition(move |transition: &Transition| {
            keep.lock().push((transition.to, std::thread::panicking()));
        });
    (breaker, seen)
}

#[tokio::test(start_paused = true)]
async fn a_panicking_operation_is_a_failure_recorded_after_the_unwinding() {
    let (breaker, seen) = opens_at_once();
    let panicked = breaker
        .call(async {
            sleep(SECOND).await;
            if true {
                panic!("the operation broke");
            }
            Ok::<u32, Io>(1)
        })
        .await;
    let Err(CallError::Panicked { message }) = panicked else { panic!("{panicked:?}") };
    assert_eq!(message, "the operation broke");
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(*seen.lock(), [(BreakerState::Open, false)], "the callback ran after the unwinding");
    assert_eq!((breaker.status().consecutive_failures, breaker.callback_panics()), (1, 0));
}

/// An operation whose future panics when dropped, after it answered (a client it owns panics
/// on close): the answer stands and is recorded, and the drop's panic is caught and counted.
#[tokio::test(start_paused = true)]
async fn an_operation_whose_drop_panics_keeps_its_answer() {
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("the driver's client panicked on close");
            }
        }
    }
    /// Answers at once; its client is dropped with the future, not in the poll.
    struct Answers(u32, #[allow(dead_code, reason = "dropped with the future")] PanicsOnDrop);
    impl Future for Answers {
        type Output = Result<u32, Io>;
        fn poll(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> std::task::Poll<Self::Output> {
            std::task::Poll::Ready(Ok(self.0))
        }
    }
    let breaker = breaker(|_| {});
    assert_eq!(breaker.call(Answers(7, PanicsOnDrop)).await.unwrap(), 7);
    let status = breaker.status();
    assert_eq!((status.consecutive_failures, breaker.callback_panics()), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_predicate_counts_the_error_as_a_failure() {
    let (breaker, seen) = opens_at_once();
    let judged = breaker.call_when(fails(), |_| panic!("the predicate broke")).await;
    assert!(matches!(judged, Err(CallError::Operation(_))), "the operation's own error: {judged:?}");
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(*seen.lock(), [(BreakerState::Open, false)]);
    assert_eq!(breaker.callback_panics(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_records_nothing_and_gives_its_probe_slot_back() {
    let breaker = breaker(|_| {});
    for _ in 0..4 {
        let _ = breaker.call(fails()).await;
    }
    {
        let mut call = pin!(breaker.call(async {
            sleep(SECOND).await;
            fails().await
        }));
        assert!(call.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
    }
    assert_eq!(breaker.status().consecutive_failures, 4, "the dropped call counted as nothing");
    let _ = breaker.call(fails()).await;
    sleep(120 * SECOND).await;
    {
        let mut probe = pin!(breaker.call(std::future::pending::<Result<(), Io>>()));
        assert!(probe.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        let busy = breaker.try_acquire().unwrap_err();
        assert_eq!((busy.state, busy.retry_after), (BreakerState::HalfOpen, Duration::ZERO));
    }
    assert!(breaker.try_acquire().expect("the slot came back").is_probe());
}

#[tokio::test(start_paused = true)]
async fn a_permit_times_its_call_for_the_slow_call_rule() {
    let breaker = breaker(|config| {
        config.failure_threshold = 2;
        config.slow_call = Some(SlowCall::new(30 * SECOND));
    });
    let permit = breaker.try_acquire().expect("closed");
    sleep(30 * SECOND).await;
    permit.success();
    assert_eq!(breaker.status().consecutive_failures, 0, "exactly the threshold is not slow");
    let permit = breaker.try_acquire().expect("closed");
    sleep(31 * SECOND).await;
    permit.success();
    assert_eq!(breaker.status().consecutive_failures, 1, "a slow success is a failure");
    let slow = breaker.call(async {
        sleep(31 * SECOND).await;
        answers().await
    });
    assert_eq!(slow.await.unwrap(), 7, "the caller still gets its value");
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn the_manual_controls_read_the_clock_themselves() {
    let breaker = breaker(|_| {});
    breaker.force_open();
    assert_eq!(breaker.try_acquire().unwrap_err().state, BreakerState::ForcedOpen);
    breaker.disable();
    assert!(breaker.try_acquire().is_ok());
    breaker.reset();
    for _ in 0..5 {
        breaker.try_acquire().expect("closed").failure();
    }
    sleep(20 * SECOND).await;
    assert_eq!(breaker.status().retry_after, Some(100 * SECOND));
}

//! Retry with backoff: exact delay sequences, `when`, deadline, budget, attempt timeouts,
//! and the backoff sleep holding no worker — with and without a governor.

mod support;

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bursar::retry::{ConstantBackoff, ExponentialBackoff, Jitter, RetryBudget, RetryExt};
use bursar::{Error, Governor, RetryConfig};
use support::{Io, io_error, poll_once, until};
use tokio::time::Instant;

const fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// The error every attempt of [`failing`] ends with.
const DRIVER_CLOSED: &str = "connection closed while reading from the driver";

/// An operation that records when each attempt starts (since `start`) and always fails.
fn failing<'a>(
    start: Instant,
    times: &'a mut Vec<Duration>,
) -> impl FnMut() -> std::future::Ready<Result<(), Io>> + 'a {
    move || {
        times.push(start.elapsed());
        std::future::ready(Err(io_error(DRIVER_CLOSED)))
    }
}

#[tokio::test(start_paused = true)]
async fn the_default_schedule_waits_exactly_two_then_four_seconds_then_returns_the_error() {
    let gov = support::builder().build().unwrap();
    let start = Instant::now();
    let mut times = Vec::new();
    let mut told = Vec::new();
    let error = gov
        .call(failing(start, &mut times))
        .notify(|attempt, error: &Error<Io>, delay| told.push((attempt, error.to_string(), delay)))
        .run()
        .await
        .unwrap_err();
    assert_eq!(times, [secs(0), secs(2), secs(6)]);
    assert_eq!(start.elapsed(), secs(6), "the error comes back right after the third attempt");
    assert_eq!(error.to_string(), "connection closed while reading from the driver");
    let reason = "connection closed while reading from the driver".to_owned();
    assert_eq!(told, [(1, reason.clone(), secs(2)), (2, reason, secs(4))]);
    let status = gov.status().workers;
    assert_eq!((status.retries, status.failed, status.completed), (2, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_stops_after_one_attempt() {
    let gov = support::builder().build().unwrap();
    let (start, mut times) = (Instant::now(), Vec::new());
    let result =
        gov.call(failing(start, &mut times)).when(|error: &Io| error.to_string().contains("timeout")).await;
    assert!(matches!(result, Err(Error::Operation(_))));
    assert_eq!((times.len(), start.elapsed()), (1, Duration::ZERO));
    assert_eq!(gov.status().workers.retries, 0);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_stops_a_retry_that_would_end_past_it() {
    let gov = support::builder().build().unwrap();
    let (start, mut times) = (Instant::now(), Vec::new());
    // Attempts may take 1 s: the retry at 2 s ends by 3 s (fits 5 s); the next would start at 6 s.
    let result = gov.call(failing(start, &mut times)).deadline(secs(5)).timeout(secs(1)).attempts(10).await;
    assert!(result.is_err());
    assert_eq!(times, [secs(0), secs(2)]);
    assert_eq!(start.elapsed(), secs(2));
}

#[tokio::test(start_paused = true)]
async fn an_attempt_timeout_is_retried_then_reported_as_a_timeout() {
    let gov = support::builder().build().unwrap();
    let start = Instant::now();
    let mut times = Vec::new();
    let result = gov
        .call(|| {
            times.push(start.elapsed());
            async {
                tokio::time::sleep(secs(60)).await;
                Ok::<_, Io>(())
            }
        })
        .timeout(secs(5))
        .await;
    assert!(matches!(result, Err(Error::AttemptTimeout { after }) if after == secs(5)));
    assert_eq!(times, [secs(0), secs(7), secs(16)], "5 s attempt + 2 s, 5 s attempt + 4 s");
    assert_eq!(start.elapsed(), secs(21));
    let status = gov.status().workers;
    let counts = (status.retries, status.timed_out, status.attempt_timeouts, status.failed);
    assert_eq!(counts, (2, 0, 1, 1), "the last attempt timed out; no cut-off");
}

#[tokio::test(start_paused = true)]
async fn the_adjust_hook_replaces_the_delay_like_retry_after() {
    let gov = support::builder().build().unwrap();
    let (start, mut times) = (Instant::now(), Vec::new());
    let _ = gov.call(failing(start, &mut times)).adjust(|_: &Error<Io>, _| secs(120)).await;
    assert_eq!(times, [secs(0), secs(120), secs(240)]);
}

#[tokio::test(start_paused = true)]
async fn panics_and_rejections_are_never_retried() {
    let gov = support::builder().max_workers(1).queue_limit(1).build().unwrap();
    let mut attempts = 0;
    let panicked = gov
        .run(|| -> std::future::Ready<Result<(), Io>> {
            attempts += 1;
            panic!("selector exploded")
        })
        .await;
    assert!(matches!(panicked, Err(Error::Panicked { .. })));
    assert_eq!(attempts, 1);

    // A retry that finds the queue full does not run: the call ends with the operation's
    // last error, counted as failed, not rejected; no retry ran.
    let start = Instant::now();
    let mut times = Vec::new();
    let result = {
        let mut flaky = pin!(gov.run(failing(start, &mut times)));
        assert!(poll_once(flaky.as_mut()).is_none(), "sleeping 2 s before its retry");
        let hog = gov.spawn(async {
            tokio::time::sleep(secs(60)).await;
            Ok::<_, Io>(())
        });
        let queued = gov.spawn(async { Ok::<_, Io>(()) });
        drop((hog, queued));
        flaky.await
    };
    assert!(matches!(result, Err(Error::Operation(_))), "the last error: {result:?}");
    assert_eq!(times.len(), 1);
    let status = gov.status().workers;
    assert_eq!((status.failed, status.rejected, status.retries), (2, 0, 0), "the panic and the flaky call");
}

#[tokio::test(start_paused = true)]
async fn a_call_sleeping_between_attempts_holds_no_worker_and_leaves_nothing_when_dropped() {
    let gov = support::builder().max_workers(1).build().unwrap();
    let (start, mut times) = (Instant::now(), Vec::new());
    {
        let mut call = pin!(gov.run(failing(start, &mut times)));
        assert!(poll_once(call.as_mut()).is_none());
        let status = gov.status().workers;
        assert_eq!((status.active, status.queued, status.retrying, status.in_flight), (0, 0, 1, 1));
        // The only worker is free for other work while the call sleeps.
        let other = gov.run(|| async { Ok::<_, Io>(5) }).await.unwrap();
        assert_eq!(other, 5);
    }
    let status = gov.status().workers;
    assert_eq!((status.active, status.queued, status.retrying, status.in_flight), (0, 0, 0, 0));
    assert_eq!((status.abandoned, status.retries, status.completed), (1, 0, 1), "the retry never ran");
}

fn budgeted(ratio: f32) -> Governor {
    let mut retry = RetryConfig::default();
    retry.max_attempts = 2;
    retry.initial_delay = Duration::from_millis(1);
    retry.budget.min_per_sec = 0;
    retry.budget.retry_ratio = ratio;
    support::builder().retry(retry).build().unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_budget_caps_retries_in_a_burst_and_recovers_afterwards() {
    let gov = budgeted(0.2);
    gov.breaker().disable(); // the breaker would stop the burst first
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let gov = gov.clone();
        burst.spawn(async move { gov.run(|| async { Err::<(), _>(io_error("down")) }).await });
    }
    while let Some(call) = burst.join_next().await {
        assert!(call.unwrap().is_err());
    }
    let status = gov.status().workers;
    assert_eq!((status.retries, status.retry_budget_exhausted, status.failed), (20, 80, 100));

    // Once the window has passed, successful calls earn retries again.
    tokio::time::advance(secs(11)).await;
    for _ in 0..4 {
        gov.run(|| async { Ok::<_, Io>(()) }).await.unwrap();
    }
    let mut attempts = 0;
    let _ = gov
        .run(|| {
            attempts += 1;
            async { Err::<(), _>(io_error("down")) }
        })
        .await;
    assert_eq!(attempts, 2, "5 calls × 0.2 pay for one retry");
    let status = gov.status().workers;
    assert_eq!((status.retries, status.retry_budget_exhausted), (21, 80));
}

/// The budget counts each call once, when its first attempt ends: a call that succeeds on a
/// retry is not counted again by its success, and spawned work (which never retries) is not
/// counted at all.
#[tokio::test(start_paused = true)]
async fn the_budget_counts_each_call_once_and_no_spawned_work() {
    let mut retry = RetryConfig::default();
    retry.max_attempts = 3;
    retry.initial_delay = Duration::from_millis(1);
    retry.budget.min_per_sec = 0;
    retry.budget.retry_ratio = 1.0;
    let gov = support::builder().retry(retry).build().unwrap();
    gov.breaker().disable();
    for _ in 0..10 {
        gov.spawn(async { Ok::<_, Io>(()) }).unwrap().await.unwrap();
    }
    // One call: one retry paid for, the second is not.
    let _ = gov.run(|| async { Err::<(), _>(io_error("down")) }).await;
    let status = gov.status().workers;
    assert_eq!((status.retries, status.retry_budget_exhausted, status.completed), (1, 1, 10));

    // Fails once, succeeds on its retry: 2 calls in all, paying for 2 retries — both used.
    let mut failed_once = false;
    gov.run(|| {
        let first = !std::mem::replace(&mut failed_once, true);
        async move { if first { Err(io_error("blip")) } else { Ok::<_, Io>(()) } }
    })
    .await
    .unwrap();
    let _ = gov.run(|| async { Err::<(), _>(io_error("down")) }).await;
    let status = gov.status().workers;
    assert_eq!((status.retries, status.retry_budget_exhausted), (3, 2), "3 calls pay for 3 retries");
}

#[tokio::test(start_paused = true)]
async fn calls_older_than_the_window_pay_for_no_retries_in_an_outage() {
    let gov = budgeted(0.2);
    gov.breaker().disable(); // the breaker would stop the outage first
    // An hour of healthy traffic, compressed: 1,000 calls, then 11 s of quiet. They are
    // settled into the budget as they happen, so they fall out of its 10 s window.
    for _ in 0..1_000 {
        gov.run(|| async { Ok::<_, Io>(()) }).await.unwrap();
    }
    tokio::time::sleep(secs(11)).await;
    // The outage: 100 failing calls, one after another. Only they pay for retries now:
    // after the k-th call the budget holds 0.2·k retries, so exactly 20 of the 100 retry.
    let mut attempts = 0;
    for _ in 0..100 {
        let _ = gov
            .run(|| {
                attempts += 1;
                async { Err::<(), _>(io_error("down")) }
            })
            .await;
    }
    let status = gov.status().workers;
    assert_eq!((status.retries, status.retry_budget_exhausted), (20, 80));
    assert_eq!(attempts, 120, "100 first attempts and 20 retries");
}

#[tokio::test(start_paused = true)]
async fn seeded_jitter_is_reproducible_and_within_bounds() {
    let seeded = || {
        let backoff = ExponentialBackoff::new().with_jitter(Jitter::Full).with_seed(7);
        support::builder().backoff(backoff).max_attempts(5).build().unwrap()
    };
    let mut runs = Vec::new();
    for gov in [seeded(), seeded()] {
        let (start, mut times) = (Instant::now(), Vec::new());
        let _ = gov.run(failing(start, &mut times)).await;
        let delays: Vec<Duration> = times.windows(2).map(|pair| pair[1] - pair[0]).collect();
        for (delay, cap) in delays.iter().zip([2, 4, 8, 16]) {
            assert!(*delay <= secs(cap), "{delay:?} over {cap} s");
        }
        runs.push(delays);
    }
    assert_eq!(runs[0].len(), 4);
    assert_eq!(runs[0], runs[1], "the same seed gives the same delays");
}

#[tokio::test(start_paused = true)]
async fn retry_works_without_a_governor() {
    let start = Instant::now();
    let mut times = Vec::new();
    let mut told = Vec::new();
    let result = failing(start, &mut times)
        .retry(vec![secs(1), secs(3)])
        .attempts(5)
        .notify(|attempt, _: &Error<Io>, delay| told.push((attempt, delay)))
        .await;
    assert!(result.is_err());
    assert_eq!(times, [secs(0), secs(1), secs(4)], "the schedule ran out after two delays");
    assert_eq!(told, [(1, secs(1)), (2, secs(3))]);

    let budget = Arc::new(RetryBudget::new(secs(10), 0, 1.0).unwrap());
    let mut calls = 0;
    let ok = (|| {
        calls += 1;
        let call = calls;
        async move { if call < 2 { Err("reset") } else { Ok(call) } }
    })
    .retry(ConstantBackoff::new(secs(1)))
    .budget(Arc::clone(&budget))
    .when(|error: &&str| *error == "reset")
    .await;
    assert_eq!(ok, Ok(2));
    assert_eq!(budget.balance(Instant::now()), 0.0, "one call paid for the one retry");
}

#[tokio::test(start_paused = true)]
async fn a_retrying_call_waits_its_turn_in_the_queue_like_any_other() {
    let gov = support::builder().max_workers(1).build().unwrap();
    let (start, mut times) = (Instant::now(), Vec::new());
    let busy = gov.spawn(async {
        tokio::time::sleep(secs(10)).await;
        Ok::<_, Io>(())
    });
    until(|| gov.status().workers.active == 1).await;
    let _ = gov.call(failing(start, &mut times)).attempts(2).run().await;
    assert_eq!(times, [secs(10), secs(12)], "queued until 10 s, then the 2 s backoff");
    busy.unwrap().await.unwrap();
}

/// Keeps the only worker busy for `secs` seconds.
fn hog(gov: &Governor, secs_busy: u64) -> bursar::TaskHandle<(), Io> {
    gov.spawn(async move {
        tokio::time::sleep(secs(secs_busy)).await;
        Ok::<_, Io>(())
    })
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_retry_turned_away_by_the_queue_timeout_ends_with_the_last_error_counted_as_failed() {
    let gov = support::builder().max_workers(1).queue_timeout(secs(1)).build().unwrap();
    let (start, mut times) = (Instant::now(), Vec::new());
    let result = {
        let mut flaky = pin!(gov.run(failing(start, &mut times)));
        assert!(poll_once(flaky.as_mut()).is_none(), "sleeping 2 s before its retry");
        let _hog = hog(&gov, 60);
        flaky.await
    };
    assert_eq!(start.elapsed(), secs(3), "2 s of backoff, then 1 s in the queue");
    assert!(
        matches!(&result, Err(Error::Operation(error)) if error.to_string().contains("driver")),
        "{result:?}"
    );
    assert_eq!(times, [secs(0)], "the retry never ran");
    let status = gov.status().workers;
    assert_eq!((status.failed, status.rejected, status.retries), (1, 0, 0));
}

/// Every attempt passes the breaker before it takes a worker, retries as the first attempt:
/// a retry the breaker turns away takes no queue place and waits for no worker.
#[tokio::test(start_paused = true)]
async fn a_retry_asks_the_breaker_before_it_queues_for_a_worker() {
    let gov = support::builder().max_workers(1).build().unwrap();
    let (start, mut times) = (Instant::now(), Vec::new());
    let result = {
        let mut flaky = pin!(gov.run(failing(start, &mut times)));
        assert!(poll_once(flaky.as_mut()).is_none(), "sleeping 2 s before its retry");
        let _hog = hog(&gov, 60);
        gov.breaker().force_open();
        flaky.await
    };
    assert_eq!(start.elapsed(), secs(2), "ended when its backoff did, not after the hog's 60 s");
    assert!(matches!(&result, Err(Error::Operation(_))), "{result:?}");
    assert_eq!(times, [secs(0)], "the retry never ran");
    let status = gov.status().workers;
    assert_eq!((status.failed, status.rejected, status.retries, status.queued), (1, 0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_a_sleeping_retry_at_once_with_its_last_error() {
    let gov = support::builder().build().unwrap();
    let caller = gov.clone();
    let call = tokio::spawn(async move {
        let mut times = Vec::new();
        caller
            .run(failing(Instant::now(), &mut times))
            .await
            .map(|()| times.len())
            .map_err(|e| (e.to_string(), times.len()))
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(gov.status().workers.retrying, 1);
    let started = Instant::now();
    let report = gov.shutdown(secs(30)).await;
    assert_eq!(started.elapsed(), Duration::ZERO, "shutdown did not wait out the 2 s backoff");
    assert_eq!((report.finished, report.cancelled), (1, 0));
    let (error, attempts) = call.await.unwrap().unwrap_err();
    assert_eq!((error.as_str(), attempts), ("connection closed while reading from the driver", 1));
    let status = gov.status().workers;
    assert_eq!((status.failed, status.rejected, status.retries, status.retrying), (1, 0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn the_retry_deadline_counts_from_the_call_s_start_queueing_included() {
    let gov = support::builder().max_workers(1).build().unwrap();
    let _hog = hog(&gov, 10);
    tokio::task::yield_now().await;
    let (start, mut times) = (Instant::now(), Vec::new());
    let result = gov.call(failing(start, &mut times)).attempts(5).deadline(secs(5)).await;
    assert!(matches!(result, Err(Error::Operation(_))));
    assert_eq!(times, [secs(10)], "queued 10 s past a 5 s deadline: one attempt, no retry");
    assert_eq!(gov.status().workers.retries, 0);
}

/// Both retry front-ends keep one contract: the same attempts clamp and the same deadline, so
/// the same requests give the same attempts at the same times.
#[tokio::test(start_paused = true)]
async fn gov_call_and_retry_ext_make_the_same_attempts_for_the_same_limits() {
    let schedule = ExponentialBackoff::new().with_jitter(Jitter::None);
    let mut retry = RetryConfig::default();
    retry.budget.enabled = false; // the governor's budget is its own limit, beside the contract
    // 1000 attempts take 8 h 20 min of backoff: the max task duration must not cut them off.
    let day = Duration::from_secs(24 * 3600);
    let gov = support::builder().retry(retry).backoff(schedule).max_task_duration(day).build().unwrap();
    gov.breaker().disable(); // every call fails: the breaker would open
    // (attempts asked for, deadline) → attempt start times, in seconds from the call's start.
    let cases: [(u32, Option<u64>, Vec<u64>); 5] = [
        (0, None, vec![0]),
        (1, None, vec![0]),
        (3, None, vec![0, 2, 6]),
        (5, Some(7), vec![0, 2, 6]),
        (5, Some(14), vec![0, 2, 6, 14]),
    ];
    for (asked, deadline, expected) in cases {
        let expected: Vec<Duration> = expected.into_iter().map(secs).collect();
        // Both front-ends tell `notify` the same: the failed attempt, the same error, the delay.
        let (start, mut times, mut told_call) = (Instant::now(), Vec::new(), Vec::new());
        let notify = |told: &mut Vec<(u32, String, Duration)>, attempt, error: &Error<Io>, delay| {
            assert!(matches!(error, Error::Operation(_)), "{error:?}");
            told.push((attempt, error.to_string(), delay));
        };
        let mut call = gov
            .call(failing(start, &mut times))
            .attempts(asked)
            .notify(|attempt, error: &Error<Io>, delay| notify(&mut told_call, attempt, error, delay));
        if let Some(deadline) = deadline {
            call = call.deadline(secs(deadline));
        }
        assert!(matches!(call.run().await, Err(Error::Operation(_))));
        assert_eq!(times, expected, "gov.call, {asked} attempts, deadline {deadline:?}");

        let (start, mut times, mut told_retry) = (Instant::now(), Vec::new(), Vec::new());
        let mut retry = failing(start, &mut times)
            .retry(schedule)
            .attempts(asked)
            .notify(|attempt, error: &Error<Io>, delay| notify(&mut told_retry, attempt, error, delay));
        if let Some(deadline) = deadline {
            retry = retry.deadline(secs(deadline));
        }
        assert_eq!(retry.await.unwrap_err().to_string(), DRIVER_CLOSED);
        assert_eq!(times, expected, "RetryExt, {asked} attempts, deadline {deadline:?}");
        assert_eq!(told_call, told_retry, "{asked} attempts, deadline {deadline:?}");
        assert_eq!(told_call.len(), expected.len() - 1, "told before each retry");
    }
    // More than 1000 attempts are 1000, on both.
    let (start, mut times) = (Instant::now(), Vec::new());
    assert!(matches!(
        gov.call(failing(start, &mut times)).attempts(5000).run().await,
        Err(Error::Operation(_))
    ));
    assert_eq!(times.len(), 1000);
    let (start, mut times) = (Instant::now(), Vec::new());
    assert_eq!(
        failing(start, &mut times).retry(schedule).attempts(5000).await.unwrap_err().to_string(),
        DRIVER_CLOSED
    );
    assert_eq!(times.len(), 1000);
}

/// Without a governor the hooks run contained too, and decide as `gov.call`'s: a panicking
/// `adjust` keeps the schedule's delay, a panicking `notify` lets the retry go on, a panicking
/// `when` retries nothing. Each panic is counted in `hook_status`.
#[tokio::test(start_paused = true)]
async fn retry_ext_hooks_that_panic_are_contained_counted_and_survived() {
    use bursar::retry::hook_status;
    let count = |hook: &str| hook_status().panics.get(hook).copied().unwrap_or(0);
    let before = (count("when"), count("notify"), count("adjust"));
    let (start, mut times) = (Instant::now(), Vec::new());
    let result = failing(start, &mut times)
        .retry(vec![secs(1), secs(3)])
        .attempts(3)
        .adjust(|_: &Error<Io>, _delay| -> Duration { panic!("a bug in adjust") })
        .notify(|_, _: &Error<Io>, _| panic!("a bug in notify"))
        .await;
    assert_eq!(result.unwrap_err().to_string(), DRIVER_CLOSED);
    assert_eq!(times, [secs(0), secs(1), secs(4)], "the scheduled delays, unchanged");
    assert_eq!((count("notify"), count("adjust")), (before.1 + 2, before.2 + 2));

    let (start, mut times) = (Instant::now(), Vec::new());
    let result = failing(start, &mut times)
        .retry(vec![secs(1)])
        .when(|_: &Io| -> bool { panic!("a bug in when") })
        .await;
    assert_eq!(result.unwrap_err().to_string(), DRIVER_CLOSED);
    assert_eq!(times, [secs(0)], "a `when` that panics retries nothing");
    assert_eq!(count("when"), before.0 + 1);
}

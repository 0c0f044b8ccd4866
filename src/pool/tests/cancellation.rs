//! deadpool's cancellation test, for a keyed pool with ports: every manager step that can be
//! cut off (create, check) is made to succeed, fail, be slow, never finish or panic, and `get`s are
//! dropped after a few polls, under tiny timeouts, and by aborting their tasks. However they
//! end, the caps are never passed, and once everything is dropped and the pool closed no place
//! is counted, no port is leased and every connection created has been destroyed once.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use tokio::time::{sleep, timeout};

use super::support::{BEHAVIOURS, Behaviour, Probe, QUARANTINE, SLOW, Step, config, pool_with_ports, ports};
use crate::pool::Pool;
use crate::pool::tests::support::Fake;

const MAX_TOTAL: usize = 4;
const MAX_PER_KEY: usize = 2;
const KEYS: u32 = 3;

#[tokio::test(start_paused = true)]
async fn cancelled_gets_leak_nothing_whatever_create_and_check_do() {
    for step in [Step::Create, Step::Check] {
        for behaviour in BEHAVIOURS.into_iter().chain([Behaviour::Panic]) {
            run_case(step, behaviour).await;
        }
    }
}

async fn run_case(step: Step, behaviour: Behaviour) {
    let case = format!("{step:?} {behaviour:?}");
    let mut config = config(MAX_TOTAL, MAX_PER_KEY);
    config.checkout_timeout = Duration::from_secs(1);
    let (pool, probe, allocator) = pool_with_ports(config);
    if step == Step::Check {
        fill_with_idle_connections(&pool).await;
    }
    probe.set(step, behaviour);

    dropped_after_a_few_polls(&pool).await;
    assert_within_caps(&probe, &case);
    cut_off_by_tiny_timeouts(&pool).await;
    assert_within_caps(&probe, &case);
    aborted_while_waiting_or_holding(&pool).await;
    assert_within_caps(&probe, &case);

    let exercised = match step {
        Step::Create => probe.count(&probe.create_calls),
        _ => probe.count(&probe.checks),
    };
    assert!(exercised > MAX_TOTAL, "{case}: only {exercised} calls");
    if (step, behaviour) == (Step::Create, Behaviour::Never) {
        // The three tasks left unaborted ran into the checkout timeout.
        assert_eq!((probe.count(&probe.created), pool.status().timeouts), (0, 3), "{case}");
    }

    let report = pool.close().await;
    assert_eq!(report.still_leased, 0, "{case}");
    let stats = pool.status();
    assert_eq!(
        (stats.connections, stats.active, stats.idle, stats.waiting, stats.sessions),
        (0, 0, 0, 0, 0),
        "{case}"
    );
    let (_, created, _, destroyed) = probe.calls();
    assert_eq!(created, destroyed, "{case}: one destroy per create");
    assert_eq!((stats.created, stats.destroyed), (created as u64, destroyed as u64), "{case}");
    assert_eq!(probe.live().total, 0, "{case}");
    sleep(QUARANTINE).await;
    assert_eq!(ports(&allocator), (0, 200, 0), "{case}: every port free again");
}

/// Leaves `MAX_TOTAL` idle connections, `MAX_PER_KEY` for each of the first keys.
async fn fill_with_idle_connections(pool: &Pool<Fake>) {
    let mut leases = Vec::new();
    for index in 0..MAX_TOTAL {
        leases.push(pool.get((index / MAX_PER_KEY) as u32).await.expect("created"));
    }
    assert_eq!(pool.status().connections, MAX_TOTAL);
}

/// Each key's `get` polled 0 to 4 times, a fifth of a slow step apart, then dropped.
async fn dropped_after_a_few_polls(pool: &Pool<Fake>) {
    for polls in 0..5 {
        for key in 0..KEYS {
            let mut get = pin!(pool.get(key));
            for _ in 0..polls {
                // A lease from a poll that completes is dropped at once: returned.
                if poll_once(get.as_mut()).await {
                    break;
                }
                sleep(SLOW / 5).await;
            }
        }
    }
}

/// Six `get`s at once under each timeout, from zero to twice a slow step.
async fn cut_off_by_tiny_timeouts(pool: &Pool<Fake>) {
    for tiny in [Duration::ZERO, Duration::from_millis(1), SLOW / 2, SLOW, SLOW * 2] {
        let gets: Vec<_> = (0..6u32)
            .map(|index| {
                let pool = pool.clone();
                tokio::spawn(async move { drop(timeout(tiny, pool.get(index % KEYS)).await) })
            })
            .collect();
        for get in gets {
            get.await.expect("no get panics");
        }
    }
}

/// Twelve tasks take a connection each and hold it a slow step; half are aborted midway,
/// whether waiting for a place, in the manager, or holding their lease.
async fn aborted_while_waiting_or_holding(pool: &Pool<Fake>) {
    let tasks: Vec<_> = (0..12u32)
        .map(|index| {
            let pool = pool.clone();
            tokio::spawn(async move {
                if let Ok(lease) = pool.get(index % KEYS).await {
                    sleep(SLOW).await;
                    drop(lease);
                }
            })
        })
        .collect();
    sleep(SLOW / 2).await;
    tasks.iter().step_by(2).for_each(|task| task.abort());
    sleep(SLOW).await;
    tasks.iter().skip(1).step_by(4).for_each(|task| task.abort());
    for task in tasks {
        if let Err(error) = task.await {
            assert!(error.is_cancelled(), "no task panics: {error}");
        }
    }
}

/// Polls once; true if the future finished (its output is dropped).
async fn poll_once<F: Future>(mut future: std::pin::Pin<&mut F>) -> bool {
    poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx).is_ready())).await
}

fn assert_within_caps(probe: &Probe, case: &str) {
    let live = probe.live();
    assert!(live.max_total <= MAX_TOTAL, "{case}: {} connections alive at once", live.max_total);
    assert!(live.max_per_key <= MAX_PER_KEY, "{case}: {} of one key alive at once", live.max_per_key);
}

/// The third step, `destroy`, cannot be cut off (it runs on a task of its own), but it can
/// hang: `close_within` bounds the wait whatever `destroy` does, counts the destroys left
/// running, and their places and ports stay taken until they return — never freed early.
#[tokio::test(start_paused = true)]
async fn a_bounded_close_returns_on_time_whatever_destroy_does() {
    const LIMIT: Duration = Duration::from_secs(1);
    for behaviour in BEHAVIOURS {
        let case = format!("Destroy {behaviour:?}");
        let (pool, probe, allocator) = pool_with_ports(config(MAX_TOTAL, MAX_PER_KEY));
        probe.set(Step::Destroy, behaviour);
        fill_with_idle_connections(&pool).await;
        let kept = pool.get(0).await.expect("an idle connection");

        let report = pool.close_within(LIMIT).await;
        let (unfinished, waited) = match behaviour {
            Behaviour::Ok | Behaviour::Error => (0, Duration::ZERO),
            Behaviour::Slow => (0, SLOW),
            Behaviour::Never => (MAX_TOTAL - 1, LIMIT),
            Behaviour::Panic => unreachable!("not one of BEHAVIOURS"),
        };
        assert_eq!(
            (report.idle_destroyed, report.still_leased, report.destroys_unfinished, report.elapsed),
            (MAX_TOTAL - 1, 1, unfinished, waited),
            "{case}"
        );
        // A connection whose destroy has not returned still holds its place and its ports.
        assert_eq!(pool.status().connections, 1 + unfinished, "{case}");
        assert_eq!(ports(&allocator).0, 2 * (1 + unfinished), "{case}: two ports per live connection");

        drop(kept); // the pool is closed: destroyed, not returned
        let again = pool.close_within(LIMIT).await;
        let left = if behaviour == Behaviour::Never { MAX_TOTAL } else { 0 };
        assert_eq!((again.idle_destroyed, again.destroys_unfinished), (0, left), "{case}");
        assert_eq!(probe.calls().3, MAX_TOTAL - left, "{case}: destroys that returned");
        assert_eq!(pool.status().connections, left, "{case}");
    }
}

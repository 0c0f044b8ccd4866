//! A lane: a resizable limit on concurrent work plus a bounded wait queue in front of it.
//! The governor has two: one for async work, one for blocking closures.

use std::pin::pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Notify, TryAcquireError};

use super::line::Line;
use crate::Rejection;
use crate::sync::{AtomicU64, AtomicUsize, CountedWhileAlive, OwnLine};
use crate::telemetry::LaneLabel;

/// The lane's state word: spare permits in the low 32 bits, calls waiting in the next 31, and
/// the closed flag on top. Limits are at most 2³¹ − 1 (`config::rules::MAX_COUNT`), so
/// neither count can reach the field above it.
const SPARE: u64 = u32::MAX as u64;
const ONE_WAITING: u64 = 1 << 32;
const WAITING: u64 = ((1 << 31) - 1) << 32;
const CLOSED: u64 = 1 << 63;

fn spare_of(word: u64) -> usize {
    (word & SPARE) as usize
}

fn waiting_of(word: u64) -> usize {
    ((word & WAITING) >> 32) as usize
}

/// A lane's free permits are in one of two places. While nobody waits, a release makes its
/// permit *spare* — one atomic update of the state word, no lock — and the next call takes it
/// with one more. While calls wait, releases go to the lane's [`Line`] of waiters, which hands
/// them to the waiters in order under its lock. A lock taken on every release (as tokio's
/// semaphore takes its waiter lock, waiters or not) would cost a governed call well beyond the
/// noise on the uncontended path; the spare count keeps the lock off the hot path.
///
/// The line is the lane's own rather than a semaphore's so that a waiting call's future can
/// hold its wait inline — a ticket (see `wait.rs`), with one entry of ticket and waker in the
/// line — where a semaphore's waiter is a node inside a future no one can name, which a call's
/// state would have to box.
///
/// The spare permits and the calls waiting share one word, so each decision sees both at
/// once: a release makes a permit spare only while no call waits, and a call joins the queue
/// only while no permit is spare. So no permit is ever spare while a call waits for one.
/// A permit given while calls wait but none stands in line (one counted as waiting had not
/// polled yet, or left just as its permit came) is kept free by the line: the next waiter to
/// poll takes it, or, once nobody waits, the next call without waiting, and it returns as
/// spare.
///
/// Permits are taken with no guard object and put back by [`Lane::release`], which pays any
/// resize debt first; so only free permits are counted and the limit can shrink while every
/// permit is in use.
#[derive(Debug)]
pub(crate) struct Lane {
    /// The waiters, and the permits free for them.
    pub(super) line: Line,
    /// Spare permits, calls waiting and the closed flag (see the constants above), on lines
    /// of its own: every take, return and queue change writes it.
    state: OwnLine<AtomicU64>,
    /// Permits in use that must vanish instead of returning: a shrink below the number in use.
    debt: AtomicUsize,
    /// The effective limit. The lock serialises resizes; readers use `limit_hint`.
    limit: Mutex<usize>,
    limit_hint: AtomicUsize,
    pub(crate) queue_limit: usize,
    pub(crate) queue_timeout: Option<Duration>,
    /// Which lane this is, for the `lane` label of the queue-wait histogram.
    pub(crate) label: LaneLabel,
    /// Spawners waiting for a place ([`wait_for_place`](Self::wait_for_place)), and how they
    /// are woken. Releases look at the count, so with nobody waiting they notify nothing.
    place_waiters: AtomicUsize,
    places: Notify,
}

/// How a call joined a lane's queue: with a permit made spare just before, or as a waiter.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Joined {
    Spare,
    Waiting,
}

impl Lane {
    pub(crate) fn new(limit: usize, queue_limit: usize, queue_timeout: Option<Duration>) -> Self {
        Lane {
            line: Line::new(),
            state: OwnLine(AtomicU64::new(limit as u64)),
            debt: AtomicUsize::new(0),
            limit: Mutex::new(limit),
            limit_hint: AtomicUsize::new(limit),
            queue_limit,
            queue_timeout,
            label: LaneLabel::Tasks,
            place_waiters: AtomicUsize::new(0),
            places: Notify::new(),
        }
    }

    /// Names the lane in metrics; a lane is `Tasks` unless named otherwise.
    pub(crate) fn labelled(mut self, label: LaneLabel) -> Self {
        self.label = label;
        self
    }

    /// The effective limit: at most this many permits are in use once resize debt is paid.
    pub(crate) fn limit(&self) -> usize {
        // Relaxed: a status reading; resizes are ordered by the `limit` lock.
        self.limit_hint.load(Ordering::Relaxed)
    }

    /// Free permits right now (a snapshot; exact when nothing moves).
    pub(crate) fn available(&self) -> usize {
        // Relaxed: a status reading.
        spare_of(self.state.load(Ordering::Relaxed)) + self.line.free()
    }

    /// Permits in use right now (a snapshot; exact when nothing moves).
    pub(crate) fn in_use(&self) -> usize {
        let limit = *self.limit.lock();
        // Relaxed: a status reading under the resize lock, which orders debt changes by resizes.
        let total = limit + self.debt.load(Ordering::Relaxed);
        total.saturating_sub(self.available())
    }

    /// Permits in use right now, without the resize lock: a hint, exact when nothing moves.
    pub(crate) fn in_use_hint(&self) -> usize {
        // Relaxed: a reading for an adaptive limit's sample, which tolerates a stale count.
        let total = self.limit_hint.load(Ordering::Relaxed) + self.debt.load(Ordering::Relaxed);
        total.saturating_sub(self.available())
    }

    /// Calls waiting for a permit right now.
    pub(crate) fn waiting(&self) -> usize {
        // Relaxed: a status reading.
        waiting_of(self.state.load(Ordering::Relaxed))
    }

    /// Takes a free permit without waiting: a spare one, else one the line keeps free — unless
    /// calls wait for those (then `NoPermits`: the caller queues behind them).
    #[inline(always)]
    pub(crate) fn try_take(&self) -> Result<(), TryAcquireError> {
        // Acquire: the permit's last holder released it (see `give`).
        let mut word = self.state.load(Ordering::Acquire);
        while word & CLOSED == 0 && spare_of(word) > 0 {
            // AcqRel: takes the permit its last holder released.
            match self.state.compare_exchange_weak(word, word - 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(now) => word = now,
            }
        }
        self.try_take_slow(word)
    }

    /// No spare permit: one the line keeps free, if any.
    #[inline(never)]
    fn try_take_slow(&self, word: u64) -> Result<(), TryAcquireError> {
        if word & CLOSED != 0 {
            return Err(TryAcquireError::Closed);
        }
        // While calls wait, the line's free permits are theirs: a newcomer queues behind them
        // (first come, first served).
        if waiting_of(word) > 0 || self.line.take_free(1) == 0 {
            return Err(TryAcquireError::NoPermits);
        }
        Ok(())
    }

    /// Joins the queue — or takes a permit that became spare since `try_take` looked.
    ///
    /// # Errors
    ///
    /// `QueueFull` with `queue_limit` calls waiting; `ShuttingDown` once the lane has closed.
    pub(crate) fn join_queue(&self) -> Result<Joined, Rejection> {
        let mut joined = Joined::Waiting;
        // AcqRel: one decision over both counts (see `Lane`).
        self.state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                if word & CLOSED != 0 || waiting_of(word) >= self.queue_limit && spare_of(word) == 0 {
                    return None;
                }
                joined = if spare_of(word) > 0 { Joined::Spare } else { Joined::Waiting };
                Some(if joined == Joined::Spare { word - 1 } else { word + ONE_WAITING })
            })
            .map_err(|word| match word & CLOSED {
                0 => Rejection::QueueFull { limit: self.queue_limit },
                _ => Rejection::ShuttingDown,
            })?;
        Ok(joined)
    }

    /// Leaves the queue, with or without a permit.
    pub(crate) fn leave_queue(&self) {
        // SeqCst: the place is free for the next caller's `join_queue`, and ordered before the
        // look at `place_waiters` (see `wait_for_place`).
        self.state.fetch_sub(ONE_WAITING, Ordering::SeqCst);
        self.place_freed();
    }

    /// Calls `attempt` until it no longer finds the lane full: each time it answers
    /// `QueueFull`, waits until a place in the queue (or a worker) is given back, or the lane
    /// closes.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped wait holds nothing.
    pub(crate) async fn wait_for_place<T>(
        &self,
        mut attempt: impl FnMut() -> Result<T, Rejection>,
    ) -> Result<T, Rejection> {
        // SeqCst: see `place_freed`.
        let _waiting = CountedWhileAlive::enter(&self.place_waiters, Ordering::SeqCst);
        loop {
            let mut freed = pin!(self.places.notified());
            // Enabled before the attempt, so a place given back after it is not missed.
            freed.as_mut().enable();
            match attempt() {
                Err(Rejection::QueueFull { .. }) => freed.await,
                done => return done,
            }
        }
    }

    /// A worker or queue place came back: wakes the spawners waiting for one, if any.
    #[inline]
    fn place_freed(&self) {
        // SeqCst: pairs with the waiter's count in `wait_for_place`, so either this sees the waiter or the
        // waiter's attempt sees the place (see `wait_for_place`).
        if self.place_waiters.load(Ordering::SeqCst) > 0 {
            self.places.notify_waiters();
        }
    }

    /// Changes the limit without losing or duplicating a permit: free permits are removed at
    /// once, permits in use are removed as they are released.
    pub(crate) fn resize(&self, new_limit: usize) {
        let mut limit = self.limit.lock();
        if new_limit < *limit {
            let shrink = *limit - new_limit;
            let mut removed = self.take_spare_up_to(shrink);
            removed += self.line.take_free(shrink - removed);
            // AcqRel: pairs with `pay_debt` in releases running on other threads.
            self.debt.fetch_add(shrink - removed, Ordering::AcqRel);
        } else {
            let grow = new_limit - *limit;
            let forgiven = take_up_to(&self.debt, grow);
            self.give(grow - forgiven);
        }
        *limit = new_limit;
        // Relaxed: readers of the hint need no ordering with the permits.
        self.limit_hint.store(new_limit, Ordering::Relaxed);
    }

    /// Returns one permit to the lane, or retires it if a shrink is still owed.
    #[inline]
    pub(crate) fn release(&self) {
        // Relaxed load: a cheap check on the hot path; the decrement itself is checked.
        if self.debt.load(Ordering::Relaxed) > 0 && take_up_to(&self.debt, 1) == 1 {
            return;
        }
        self.give(1);
    }

    /// Makes `permits` free: spare while nobody waits, else the line's, for the waiters.
    #[inline]
    fn give(&self, permits: usize) {
        if permits == 0 {
            return;
        }
        // AcqRel: publishes this holder's work to the permit's next taker (see `Lane`).
        // SeqCst: also orders the spare permit before `place_freed`'s look (a full barrier on
        // x86 and ARM's read-modify-writes, as AcqRel already was).
        let spared = self.state.fetch_update(Ordering::SeqCst, Ordering::Acquire, |word| {
            (waiting_of(word) == 0).then_some(word + permits as u64)
        });
        match spared {
            Ok(_) => self.place_freed(),
            Err(_) => self.line.serve(permits),
        }
    }

    /// Takes up to `wanted` spare permits; returns how many.
    fn take_spare_up_to(&self, wanted: usize) -> usize {
        let mut taken = 0;
        // AcqRel: see `try_take`.
        let _ = self.state.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
            taken = spare_of(word).min(wanted);
            Some(word - taken as u64)
        });
        taken
    }

    /// Stops the lane: waiting and future acquires fail. Permits in use are unaffected.
    pub(crate) fn close(&self) {
        // AcqRel: see `try_take`.
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        self.line.close();
        self.places.notify_waiters();
    }
}

/// Subtracts up to `wanted` from `counter` without going below zero; returns what it took.
fn take_up_to(counter: &AtomicUsize, wanted: usize) -> usize {
    let mut taken = 0;
    // AcqRel: a permit retired here must not also be returned by a concurrent release.
    let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |owed| {
        taken = owed.min(wanted);
        Some(owed - taken)
    });
    taken
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn acquire(lane: &Lane) -> bool {
        lane.try_take().is_ok()
    }

    #[test]
    fn shrinking_below_the_permits_in_use_retires_them_as_they_return() {
        let lane = Lane::new(4, 1, None);
        for _ in 0..4 {
            assert!(acquire(&lane));
        }
        lane.resize(1);
        assert_eq!((lane.limit(), lane.in_use()), (1, 4));
        for in_use in [3, 2, 1] {
            lane.release();
            assert_eq!(lane.in_use(), in_use);
            assert!(!acquire(&lane), "no permit may be free while the shrink is owed");
        }
        lane.release();
        assert_eq!((lane.in_use(), lane.available()), (0, 1));
    }

    #[test]
    fn growing_first_forgives_debt_then_adds_permits() {
        let lane = Lane::new(3, 1, None);
        for _ in 0..3 {
            assert!(acquire(&lane));
        }
        lane.resize(1);
        lane.resize(5);
        assert_eq!(lane.available(), 2);
        for _ in 0..3 {
            lane.release();
        }
        assert_eq!((lane.in_use(), lane.available()), (0, 5));
    }

    fn spare(lane: &Lane) -> usize {
        spare_of(lane.state.load(Ordering::SeqCst))
    }

    #[test]
    fn a_permit_returned_while_nobody_waits_is_spare_and_while_a_call_waits_is_handed_on() {
        let lane = Lane::new(1, 2, None);
        assert!(acquire(&lane));
        lane.release();
        assert_eq!((spare(&lane), lane.line.free()), (1, 0));
        assert!(acquire(&lane));
        // One caller in the queue: the release goes where it waits.
        assert_eq!(lane.join_queue(), Ok(Joined::Waiting));
        lane.release();
        assert_eq!((spare(&lane), lane.line.free(), lane.waiting()), (0, 1, 1));
        // A permit the line kept free after its waiter went is still taken without waiting.
        lane.leave_queue();
        assert!(acquire(&lane));
        assert_eq!((lane.available(), lane.in_use()), (0, 1));
    }

    #[test]
    fn a_closed_lane_gives_no_spare_permit_but_counts_returns() {
        let lane = Lane::new(2, 1, None);
        assert!(acquire(&lane));
        lane.close();
        assert_eq!(lane.try_take(), Err(TryAcquireError::Closed));
        lane.release();
        assert_eq!((lane.available(), lane.in_use()), (2, 0));
        assert_eq!(lane.try_take(), Err(TryAcquireError::Closed));
    }

    #[derive(Debug, Clone)]
    enum Step {
        Acquire,
        Release,
        Resize(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![Just(Step::Acquire), Just(Step::Release), (1usize..12).prop_map(Step::Resize)]
    }

    proptest! {
        /// Against a model: in use never exceeds the limit once debt is paid, and when all
        /// work is done exactly `limit` permits are free — none lost, none duplicated.
        #[test]
        fn resizing_never_loses_or_duplicates_a_permit(steps in proptest::collection::vec(step(), 1..200)) {
            let lane = Lane::new(6, 1, None);
            let (mut held, mut limit) = (0usize, 6usize);
            for step in steps {
                match step {
                    Step::Acquire => {
                        let granted = acquire(&lane);
                        prop_assert_eq!(granted, held < limit, "held {} limit {}", held, limit);
                        held += usize::from(granted);
                    }
                    Step::Release if held > 0 => { lane.release(); held -= 1; }
                    Step::Release => {}
                    Step::Resize(new) => { lane.resize(new); limit = new; }
                }
                prop_assert_eq!(lane.in_use(), held);
            }
            for _ in 0..held { lane.release(); }
            prop_assert_eq!(lane.available(), limit);
        }
    }
}

/// The permit debt of a live shrink against releases, and the line of waiters against
/// releases, drops and a close, explored by loom.
#[cfg(all(test, bursar_loom))]
mod loom_models {
    use std::task::{Context, Waker};

    use loom::sync::Arc;
    use loom::thread;

    use super::*;
    use crate::workers::QueueWait;
    use crate::workers::permit::WorkerTicket;

    fn take(lane: &Lane) -> bool {
        lane.try_take().is_ok()
    }

    /// Two workers busy on a lane of two; one returns while the limit shrinks to one, then the
    /// other returns. However they interleave, one permit is left and no debt.
    #[test]
    fn loom_lane_shrink_racing_a_release_loses_no_permit() {
        loom::model(|| {
            let lane = Arc::new(Lane::new(2, 1, None));
            assert!(take(&lane) && take(&lane));
            let other = Arc::clone(&lane);
            let release = thread::spawn(move || other.release());
            lane.resize(1);
            release.join().unwrap();
            lane.release();
            assert_eq!((lane.available(), lane.debt.load(Ordering::SeqCst)), (1, 0));
            assert_eq!((lane.limit(), lane.in_use()), (1, 0));
        });
    }

    /// A release racing a caller that joins the queue (the handshake of `Lane`): the permit is
    /// taken by the caller, or the line keeps it free for the caller — never left spare.
    #[test]
    fn loom_lane_release_racing_a_caller_joining_the_queue_strands_no_permit() {
        loom::model(|| {
            let lane = Arc::new(Lane::new(1, 1, None));
            assert!(take(&lane));
            let other = Arc::clone(&lane);
            let release = thread::spawn(move || other.release());
            let ticket = WorkerTicket::reserve(&*lane);
            release.join().unwrap();
            let spare = spare_of(lane.state.load(Ordering::SeqCst));
            match ticket {
                Ok(WorkerTicket::Ready(permit)) => {
                    assert_eq!((spare, lane.line.free()), (0, 0));
                    drop(permit);
                    assert_eq!((lane.available(), lane.waiting()), (1, 0));
                }
                Ok(WorkerTicket::Waiting(slot)) => {
                    assert_eq!((spare, lane.line.free()), (0, 1), "a permit stranded");
                    let permit = loom::future::block_on(QueueWait::new(slot, Duration::ZERO));
                    assert!(permit.is_ok(), "the free permit is the waiter's");
                    assert_eq!((lane.in_use(), lane.waiting()), (1, 0));
                }
                Err(rejection) => panic!("rejected: {rejection}"),
            }
        });
    }

    /// A caller waiting in line (its first poll done) and the busy worker's release racing the
    /// caller's drop: whether the permit came before, during or after the drop, it ends spare
    /// or free — never lost, never held by the dropped wait.
    #[test]
    fn loom_lane_release_racing_a_waiters_drop_passes_the_permit_on() {
        loom::model(|| {
            let lane = Arc::new(Lane::new(1, 1, None));
            assert!(take(&lane));
            let Ok(WorkerTicket::Waiting(slot)) = WorkerTicket::reserve(&*lane) else { panic!("queued") };
            let mut wait = QueueWait::new(slot, Duration::ZERO);
            let polled = wait.poll_worker(&mut Context::from_waker(Waker::noop()));
            assert!(polled.is_pending(), "the worker is busy");
            let other = Arc::clone(&lane);
            let release = thread::spawn(move || other.release());
            drop(wait);
            release.join().unwrap();
            assert_eq!((lane.available(), lane.in_use(), lane.waiting()), (1, 0, 0));
            assert!(take(&lane), "the permit is taken without waiting");
        });
    }

    /// Two callers in line and a release racing the first one's drop: the second is served
    /// exactly once, by the permit the first passes on or by the release itself.
    #[test]
    fn loom_lane_release_racing_the_first_waiters_drop_serves_the_second() {
        loom::model(|| {
            let lane = Arc::new(Lane::new(1, 2, None));
            assert!(take(&lane));
            let queued = || match WorkerTicket::reserve(Arc::clone(&lane)) {
                Ok(WorkerTicket::Waiting(slot)) => QueueWait::new(slot, Duration::ZERO),
                _ => panic!("queued"),
            };
            let (mut first, second) = (queued(), queued());
            assert!(first.poll_worker(&mut Context::from_waker(Waker::noop())).is_pending());
            let waiting = thread::spawn(move || {
                let permit = loom::future::block_on(second).expect("served");
                assert_eq!(permit.lane.in_use(), 1);
                drop(permit);
            });
            let other = Arc::clone(&lane);
            let release = thread::spawn(move || other.release());
            drop(first);
            release.join().unwrap();
            waiting.join().unwrap();
            assert_eq!((lane.available(), lane.in_use(), lane.waiting()), (1, 0, 0));
        });
    }

    /// A release racing a queued caller's first poll, the two halves of `Line::serve`'s pairing
    /// with `Line::stand`: whether the permit comes before the caller stands in line, while it
    /// does or after, the caller is served, and no permit stays free while it waits.
    #[test]
    fn loom_lane_release_racing_a_waiters_first_poll_serves_it() {
        loom::model(|| {
            let lane = Arc::new(Lane::new(1, 1, None));
            assert!(take(&lane));
            let Ok(WorkerTicket::Waiting(slot)) = WorkerTicket::reserve(&*lane) else { panic!("queued") };
            let other = Arc::clone(&lane);
            let release = thread::spawn(move || other.release());
            let permit = loom::future::block_on(QueueWait::new(slot, Duration::ZERO)).expect("served");
            release.join().unwrap();
            assert_eq!((lane.in_use(), lane.waiting(), lane.line.free()), (1, 0, 0));
            drop(permit);
            assert_eq!(lane.available(), 1);
        });
    }

    /// A close racing a caller's wait: the caller is turned away (or was served first), and
    /// never waits on.
    #[test]
    fn loom_lane_close_racing_a_wait_wakes_the_waiter() {
        loom::model(|| {
            let lane = Arc::new(Lane::new(1, 1, None));
            assert!(take(&lane));
            let Ok(WorkerTicket::Waiting(slot)) = WorkerTicket::reserve(&*lane) else { panic!("queued") };
            let other = Arc::clone(&lane);
            let close = thread::spawn(move || other.close());
            let waited = loom::future::block_on(QueueWait::new(slot, Duration::ZERO));
            close.join().unwrap();
            assert!(matches!(waited, Err(Rejection::ShuttingDown)));
            assert_eq!((lane.waiting(), lane.line.counts()), (0, (0, 0)));
            lane.release();
            assert_eq!(lane.available(), 1);
        });
    }

    /// A grow racing a release that pays off debt: the limit's permits, exactly.
    #[test]
    fn loom_lane_grow_racing_a_debt_payment_gives_exactly_the_limit() {
        loom::model(|| {
            let lane = Arc::new(Lane::new(2, 1, None));
            assert!(take(&lane) && take(&lane));
            lane.resize(1); // both busy: one permit owed
            let other = Arc::clone(&lane);
            let release = thread::spawn(move || other.release());
            lane.resize(3);
            release.join().unwrap();
            lane.release();
            assert_eq!((lane.available(), lane.debt.load(Ordering::SeqCst)), (3, 0));
        });
    }
}

//! A lane: a resizable limit on concurrent work plus a bounded wait queue in front of it.
//! The governor has two: one for async work, one for blocking closures.

use std::sync::atomic::Ordering;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Semaphore;

use crate::sync::AtomicUsize;

/// Permits are taken out of the semaphore with `forget` as soon as they are acquired and put
/// back by [`Lane::release`], which pays any resize debt first. So the semaphore holds only
/// free permits and the limit can shrink while every permit is in use.
#[derive(Debug)]
pub(crate) struct Lane {
    pub(crate) semaphore: Semaphore,
    /// Permits in use that must vanish instead of returning: a shrink below the number in use.
    debt: AtomicUsize,
    /// The effective limit. The lock serialises resizes; readers use `limit_hint`.
    limit: Mutex<usize>,
    limit_hint: AtomicUsize,
    /// Calls waiting for a permit.
    pub(crate) waiting: AtomicUsize,
    pub(crate) queue_limit: usize,
    pub(crate) queue_timeout: Option<Duration>,
    /// Which lane this is, for the `lane` label of the queue-wait histogram.
    #[cfg(feature = "metrics")]
    pub(crate) label: crate::metrics::events::LaneLabel,
}

impl Lane {
    pub(crate) fn new(limit: usize, queue_limit: usize, queue_timeout: Option<Duration>) -> Self {
        Lane {
            semaphore: Semaphore::new(limit),
            debt: AtomicUsize::new(0),
            limit: Mutex::new(limit),
            limit_hint: AtomicUsize::new(limit),
            waiting: AtomicUsize::new(0),
            queue_limit,
            queue_timeout,
            #[cfg(feature = "metrics")]
            label: crate::metrics::events::LaneLabel::Tasks,
        }
    }

    /// Names the lane in metrics; a lane is `Tasks` unless named otherwise.
    #[cfg(feature = "metrics")]
    pub(crate) fn labelled(mut self, label: crate::metrics::events::LaneLabel) -> Self {
        self.label = label;
        self
    }

    /// The effective limit: at most this many permits are in use once resize debt is paid.
    pub(crate) fn limit(&self) -> usize {
        // Relaxed: a status reading; resizes are ordered by the `limit` lock.
        self.limit_hint.load(Ordering::Relaxed)
    }

    /// Permits in use right now (a snapshot; exact when nothing moves).
    pub(crate) fn in_use(&self) -> usize {
        let limit = *self.limit.lock();
        // Relaxed: a status reading under the resize lock, which orders debt changes by resizes.
        let total = limit + self.debt.load(Ordering::Relaxed);
        total.saturating_sub(self.semaphore.available_permits())
    }

    /// Calls waiting for a permit right now.
    pub(crate) fn waiting(&self) -> usize {
        // Relaxed: a status reading.
        self.waiting.load(Ordering::Relaxed)
    }

    /// Changes the limit without losing or duplicating a permit: free permits are removed at
    /// once, permits in use are removed as they are released.
    pub(crate) fn resize(&self, new_limit: usize) {
        let mut limit = self.limit.lock();
        if new_limit < *limit {
            let shrink = *limit - new_limit;
            let removed = self.semaphore.forget_permits(shrink);
            // AcqRel: pairs with `pay_debt` in releases running on other threads.
            self.debt.fetch_add(shrink - removed, Ordering::AcqRel);
        } else {
            let grow = new_limit - *limit;
            let forgiven = take_up_to(&self.debt, grow);
            self.semaphore.add_permits(grow - forgiven);
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
        self.semaphore.add_permits(1);
    }

    /// Stops the lane: waiting and future acquires fail. Permits in use are unaffected.
    pub(crate) fn close(&self) {
        self.semaphore.close();
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
        match lane.semaphore.try_acquire() {
            Ok(permit) => {
                permit.forget();
                true
            }
            Err(_) => false,
        }
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
        assert_eq!((lane.in_use(), lane.semaphore.available_permits()), (0, 1));
    }

    #[test]
    fn growing_first_forgives_debt_then_adds_permits() {
        let lane = Lane::new(3, 1, None);
        for _ in 0..3 {
            assert!(acquire(&lane));
        }
        lane.resize(1);
        lane.resize(5);
        assert_eq!(lane.semaphore.available_permits(), 2);
        for _ in 0..3 {
            lane.release();
        }
        assert_eq!((lane.in_use(), lane.semaphore.available_permits()), (0, 5));
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
            prop_assert_eq!(lane.semaphore.available_permits(), limit);
        }
    }
}

/// The permit debt of a live shrink against releases, explored by loom.
#[cfg(all(test, bursar_loom))]
mod loom_models {
    use loom::sync::Arc;
    use loom::thread;

    use super::*;

    fn take(lane: &Lane) -> bool {
        lane.semaphore.try_acquire().map(|permit| permit.forget()).is_ok()
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
            assert_eq!((lane.semaphore.available_permits(), lane.debt.load(Ordering::SeqCst)), (1, 0));
            assert_eq!((lane.limit(), lane.in_use()), (1, 0));
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
            assert_eq!((lane.semaphore.available_permits(), lane.debt.load(Ordering::SeqCst)), (3, 0));
        });
    }
}

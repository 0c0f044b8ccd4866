//! Waiting in a lane's line for a permit: the [`Waiter`] a wait keeps, and the two futures
//! that hold one — a queued call's [`QueueWait`], which owns its queue place and ends with a
//! worker, and a spawned task's [`TaskWait`], whose place is in the task's `InFlight`.
//!
//! Both are named types a call's state holds inline: a wait costs its future a ticket and an
//! optional timer, and the lane one entry in its line (see `line.rs`).

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::time::{Sleep, sleep};

use super::lane::Lane;
use super::line::{Closed, Stand};
use super::permit::QueueSlot;
#[cfg(test)]
use super::permit::WorkerPermit;
use crate::Rejection;

/// One wait for a permit: its ticket once it stands in the lane's line, and the queue
/// timeout's timer if the lane has one — boxed, so only waits with a timeout carry it.
#[derive(Debug)]
pub(crate) struct Waiter {
    /// 0 while it is not in line: before its first poll, and once the wait has ended.
    ticket: u64,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Waiter {
    /// A wait in `lane`'s line for at most what `spent` left of its queue timeout.
    fn new(lane: &Lane, spent: Duration) -> Self {
        let timer = lane.queue_timeout.map(|timeout| Box::pin(sleep(timeout.saturating_sub(spent))));
        Waiter { ticket: 0, timer }
    }

    /// `Ok` once served: the permit is the caller's, taken as `try_take` takes one.
    ///
    /// # Errors
    ///
    /// `ShuttingDown` once the lane has closed; `QueueTimeout` when the queue timeout passes
    /// first (a permit served by then is still taken).
    fn poll(&mut self, lane: &Lane, cx: &mut Context<'_>) -> Poll<Result<(), Rejection>> {
        let turn = match self.ticket {
            0 => match lane.line.stand(cx) {
                Stand::InLine(ticket) => {
                    self.ticket = ticket;
                    Poll::Pending
                }
                Stand::Served => Poll::Ready(Ok(())),
                Stand::Closed => Poll::Ready(Err(Closed)),
            },
            ticket => lane.line.poll_turn(ticket, cx),
        };
        if let Poll::Ready(turn) = turn {
            self.ticket = 0;
            return Poll::Ready(turn.map_err(|Closed| Rejection::ShuttingDown));
        }
        // Polled after the line, as `tokio::time::timeout` polls its future first: a permit
        // served by the deadline is taken.
        let Some(timer) = &mut self.timer else { return Poll::Pending };
        ready!(timer.as_mut().poll(cx));
        if self.leave(lane) {
            return Poll::Ready(Ok(()));
        }
        Poll::Ready(Err(Rejection::QueueTimeout { waited: lane.queue_timeout.unwrap_or_default() }))
    }

    /// Leaves the line, if in it; `true` if it had been served, so the caller holds a permit.
    fn leave(&mut self, lane: &Lane) -> bool {
        match std::mem::take(&mut self.ticket) {
            0 => false,
            ticket => lane.line.leave(ticket),
        }
    }
}

/// A queued call's wait for its worker: it leaves the queue holding the worker's permit, which
/// the call's `Admitted` record then holds (`poll_served`).
///
/// # Cancel safety
///
/// Dropped, it leaves the queue and holds no permit: one served meanwhile goes to the next
/// waiter (or back to the lane).
#[derive(Debug)]
#[must_use = "a wait does nothing unless polled"]
pub(crate) struct QueueWait<L: Deref<Target = Lane>> {
    /// The call's place in the queue, until the wait ends.
    slot: Option<QueueSlot<L>>,
    waiter: Waiter,
}

impl<L: Deref<Target = Lane> + Clone> QueueWait<L> {
    /// Waits in `slot`'s queue until a permit is free. `spent` is what the call already spent
    /// of the queue timeout waiting for memory: admission waits at most the queue timeout in
    /// all.
    pub(crate) fn new(slot: QueueSlot<L>, spent: Duration) -> Self {
        let waiter = Waiter::new(&slot.lane, spent);
        QueueWait { slot: Some(slot), waiter }
    }

    /// The worker as a guard of its own, or why the call gets none (the lane's tests and loom
    /// models wait this way).
    ///
    /// # Panics
    ///
    /// Polled again after it returned `Ready`.
    #[cfg(test)]
    pub(crate) fn poll_worker(&mut self, cx: &mut Context<'_>) -> Poll<Result<WorkerPermit<L>, Rejection>> {
        let slot = ready!(self.poll_slot(cx))?;
        // The slot is dropped on return: the call leaves the queue holding its permit.
        Poll::Ready(Ok(WorkerPermit { lane: slot.lane.clone() }))
    }

    /// The wait's end for a caller that keeps the worker without a guard (a call's `Admitted`):
    /// on `Ok` it holds a permit of this wait's lane, which it must release.
    ///
    /// # Panics
    ///
    /// Polled again after it returned `Ready`.
    pub(crate) fn poll_served(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Rejection>> {
        // The slot is dropped here: the call leaves the queue holding its permit.
        Poll::Ready(ready!(self.poll_slot(cx)).map(drop))
    }

    /// The wait's end: its queue place once served (the caller holds a permit from then on), or
    /// why it was not.
    fn poll_slot(&mut self, cx: &mut Context<'_>) -> Poll<Result<QueueSlot<L>, Rejection>> {
        let lane = &self.slot.as_ref().expect("a queue wait polled after it ended").lane;
        let waited = ready!(self.waiter.poll(lane, cx));
        let slot = self.slot.take().expect("checked above");
        waited?;
        slot.queued_at.waited(slot.lane.label);
        Poll::Ready(Ok(slot))
    }
}

// Nothing in it is pinned: its timer is boxed.
impl<L: Deref<Target = Lane>> Unpin for QueueWait<L> {}

#[cfg(test)]
impl<L: Deref<Target = Lane> + Clone> Future for QueueWait<L> {
    type Output = Result<WorkerPermit<L>, Rejection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().poll_worker(cx)
    }
}

impl<L: Deref<Target = Lane>> Drop for QueueWait<L> {
    fn drop(&mut self) {
        if let Some(slot) = &self.slot {
            if self.waiter.leave(&slot.lane) {
                // Served as it was dropped: the permit goes to the next waiter in line (or is
                // kept free for the next call); then the slot leaves the queue.
                slot.lane.release();
            }
        }
    }
}

/// A spawned task's wait for its worker; its queue place is in the task's `InFlight`, which
/// leaves the queue.
///
/// # Cancel safety
///
/// Dropped, it holds no permit: one served meanwhile goes to the next waiter (or back to the
/// lane).
#[derive(Debug)]
#[must_use = "a wait does nothing unless polled"]
pub(crate) struct TaskWait<'a> {
    lane: &'a Lane,
    waiter: Waiter,
}

impl Lane {
    /// Waits in line for a permit, at most the queue timeout: `Ok` holding it (`release`
    /// puts it back).
    ///
    /// # Errors
    ///
    /// `QueueTimeout` when the queue timeout passes first; `ShuttingDown` once the lane has
    /// closed.
    pub(crate) fn wait_for_permit(&self) -> TaskWait<'_> {
        TaskWait { lane: self, waiter: Waiter::new(self, Duration::ZERO) }
    }
}

impl Future for TaskWait<'_> {
    type Output = Result<(), Rejection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.waiter.poll(this.lane, cx)
    }
}

impl Drop for TaskWait<'_> {
    fn drop(&mut self) {
        if self.waiter.leave(self.lane) {
            self.lane.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    use super::*;
    use crate::workers::permit::WorkerTicket;

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A queued call's wait on `lane`, and its waker's count.
    struct Call<'a> {
        wait: QueueWait<&'a Lane>,
        wakes: Arc<Wakes>,
    }

    impl<'a> Call<'a> {
        fn queue(lane: &'a Lane, spent: Duration) -> Self {
            match WorkerTicket::reserve(lane) {
                Ok(WorkerTicket::Waiting(slot)) => {
                    Call { wait: QueueWait::new(slot, spent), wakes: Arc::default() }
                }
                Ok(WorkerTicket::Ready(_)) => panic!("a worker was free"),
                Err(rejection) => panic!("rejected: {rejection}"),
            }
        }

        fn poll(&mut self) -> Poll<Result<WorkerPermit<&'a Lane>, Rejection>> {
            let waker = Waker::from(Arc::clone(&self.wakes));
            self.wait.poll_worker(&mut Context::from_waker(&waker))
        }

        fn woken(&self) -> usize {
            self.wakes.0.load(Ordering::SeqCst)
        }
    }

    fn busy_lane(queue_timeout: Option<Duration>) -> Lane {
        let lane = Lane::new(1, 8, queue_timeout);
        assert!(lane.try_take().is_ok());
        lane
    }

    /// `call`'s wait, which must have ended with a worker.
    fn served<'a>(call: &mut Call<'a>) -> WorkerPermit<&'a Lane> {
        match call.poll() {
            Poll::Ready(Ok(permit)) => permit,
            other => panic!("not served: {other:?}"),
        }
    }

    #[test]
    fn waiters_are_served_in_the_order_they_came() {
        let lane = busy_lane(None);
        let mut calls: Vec<Call<'_>> = (0..3).map(|_| Call::queue(&lane, Duration::ZERO)).collect();
        for call in &mut calls {
            assert!(call.poll().is_pending());
        }
        assert_eq!((lane.line.counts(), lane.waiting()), ((3, 3), 3));
        // The busy worker returns; then each served call's worker, in turn.
        lane.release();
        for first in 0..3 {
            let woken: Vec<usize> = calls.iter().map(Call::woken).collect();
            let expected: Vec<usize> = (0..3).map(|at| usize::from(at <= first)).collect();
            assert_eq!(woken, expected, "only the first {} woken", first + 1);
            for later in &mut calls[first + 1..] {
                assert!(later.poll().is_pending());
            }
            let permit = served(&mut calls[first]);
            assert_eq!((lane.line.counts().0, lane.waiting()), (2 - first, 2 - first));
            assert_eq!((lane.in_use(), lane.available()), (1, 0));
            drop(permit);
        }
        assert_eq!((lane.line.counts(), lane.waiting(), lane.in_use(), lane.available()), ((0, 0), 0, 0, 1));
    }

    #[test]
    fn a_dropped_waiters_served_permit_goes_to_the_next_waiter() {
        let lane = busy_lane(None);
        let (mut first, mut second) =
            (Call::queue(&lane, Duration::ZERO), Call::queue(&lane, Duration::ZERO));
        assert!(first.poll().is_pending() && second.poll().is_pending());
        lane.release();
        assert_eq!((first.woken(), second.woken()), (1, 0));
        // Served, but dropped before it looked: the permit is the second call's.
        drop(first.wait);
        assert_eq!((second.woken(), lane.waiting(), lane.in_use()), (1, 1, 1));
        let permit = served(&mut second);
        assert_eq!((lane.waiting(), lane.in_use(), lane.available()), (0, 1, 0));
        // The last waiter served and dropped: its permit is free for the next call.
        let mut last = Call::queue(&lane, Duration::ZERO);
        assert!(last.poll().is_pending());
        drop(permit);
        drop(last.wait);
        assert_eq!((lane.line.counts(), lane.waiting(), lane.in_use(), lane.available()), ((0, 0), 0, 0, 1));
        assert!(lane.try_take().is_ok(), "the passed-on permit is taken without waiting");
    }

    #[test]
    fn a_waiter_that_leaves_unserved_takes_no_permit() {
        let lane = busy_lane(None);
        let (mut first, mut second) =
            (Call::queue(&lane, Duration::ZERO), Call::queue(&lane, Duration::ZERO));
        assert!(first.poll().is_pending() && second.poll().is_pending());
        drop(first.wait);
        assert_eq!((lane.line.counts(), lane.waiting()), ((1, 1), 1));
        lane.release();
        assert_eq!(second.woken(), 1);
        drop(served(&mut second));
        assert_eq!((lane.in_use(), lane.available()), (0, 1));
    }

    #[test]
    fn closing_turns_every_waiter_away_with_shutting_down() {
        let lane = busy_lane(None);
        let mut calls: Vec<Call<'_>> = (0..3).map(|_| Call::queue(&lane, Duration::ZERO)).collect();
        for call in &mut calls[..2] {
            assert!(call.poll().is_pending());
        }
        lane.close();
        // The two in line are woken; the third had not polled yet.
        assert_eq!(calls.iter().map(Call::woken).collect::<Vec<_>>(), [1, 1, 0]);
        for call in &mut calls {
            assert!(matches!(call.poll(), Poll::Ready(Err(Rejection::ShuttingDown))));
        }
        assert_eq!((lane.line.counts(), lane.waiting()), ((0, 0), 0));
        lane.release();
        assert_eq!((lane.in_use(), lane.available()), (0, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn the_queue_timeout_turns_a_waiter_away_on_the_paused_clock() {
        let timeout = Duration::from_secs(5);
        let lane = busy_lane(Some(timeout));
        // The first spent 2 s of the queue timeout waiting for memory: it has 3 s left.
        let (mut first, mut second) =
            (Call::queue(&lane, Duration::from_secs(2)), Call::queue(&lane, Duration::ZERO));
        assert!(first.poll().is_pending() && second.poll().is_pending());
        tokio::time::advance(Duration::from_millis(2_999)).await;
        assert!(first.poll().is_pending() && second.poll().is_pending());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(first.woken(), 1);
        assert!(
            matches!(first.poll(), Poll::Ready(Err(Rejection::QueueTimeout { waited })) if waited == timeout)
        );
        assert_eq!((lane.line.counts(), lane.waiting()), ((1, 1), 1));
        // A permit served by the deadline is taken, as `tokio::time::timeout` would.
        tokio::time::advance(Duration::from_secs(2)).await;
        lane.release();
        let permit = served(&mut second);
        assert_eq!((lane.waiting(), lane.in_use(), lane.available()), (0, 1, 0));
        drop(permit);
        assert_eq!(lane.available(), 1);
    }

    /// A spawned task's wait: the same line, its place kept by the caller.
    #[test]
    fn a_tasks_wait_dropped_once_served_passes_its_permit_on() {
        let lane = busy_lane(None);
        assert_eq!(lane.join_queue(), Ok(crate::workers::lane::Joined::Waiting));
        let mut wait = lane.wait_for_permit();
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(Arc::clone(&wakes));
        assert!(Pin::new(&mut wait).poll(&mut Context::from_waker(&waker)).is_pending());
        lane.release();
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        drop(wait);
        lane.leave_queue();
        // Passed on while the task still counted as waiting: the line keeps it free.
        assert_eq!((lane.waiting(), lane.in_use(), lane.available()), (0, 0, 1));
        assert!(lane.try_take().is_ok());
    }
}

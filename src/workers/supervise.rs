//! The supervision of running work, shared by calls and spawned tasks: how it ended
//! ([`Supervised`]), the watch for the max task duration and the shutdown's cancellation
//! ([`Watch`], armed only when the work first waits), and the mark a nested call is told by.
//! The caller polls the work under [`catch`](crate::contain::catch), so a panic becomes an
//! outcome, and drops work that was cut off in place, contained: its drop is user code.

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::ops::Deref;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use super::Workers;
use super::drain::Drain;
use crate::contain::catch;

/// How supervised work ended.
#[derive(Debug)]
pub(crate) enum Supervised<T> {
    Finished(T),
    TimedOut(Duration),
    Panicked(String),
    Cancelled,
}

impl<T> Supervised<T> {
    /// The same ending, with `f` applied to the work's output.
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Supervised<U> {
        match self {
            Supervised::Finished(output) => Supervised::Finished(f(output)),
            Supervised::TimedOut(after) => Supervised::TimedOut(after),
            Supervised::Panicked(message) => Supervised::Panicked(message),
            Supervised::Cancelled => Supervised::Cancelled,
        }
    }
}

thread_local! {
    /// The governor (its drain's address) whose supervised work this thread is polling, or 0.
    static RUNNING: Cell<usize> = const { Cell::new(0) };
}

/// The governor a drain belongs to, for [`marked`].
pub(crate) fn governor_id(drain: &Drain) -> usize {
    std::ptr::from_ref(drain) as usize
}

/// Whether this thread is polling work supervised under `drain`'s governor: a call made now
/// is nested inside an operation of the same governor, which holds a worker.
pub(crate) fn is_nested(drain: &Drain) -> bool {
    RUNNING.get() == governor_id(drain)
}

/// Runs `poll` with this thread marked as polling an operation of the governor `governor`
/// ([`governor_id`]), so that a call made inside it can tell it is nested.
#[inline(always)]
pub(crate) fn marked<R>(governor: usize, poll: impl FnOnce() -> R) -> R {
    /// Puts the outer mark back however the poll ends, a panic included (caught further out).
    struct Restore(usize);
    impl Drop for Restore {
        #[inline(always)]
        fn drop(&mut self) {
            RUNNING.set(self.0);
        }
    }
    let _outer = Restore(RUNNING.replace(governor));
    poll()
}

/// The watch of work that is pending, armed on its first poll: out of line, in an allocation
/// of its own, so that the hot path (work done in its first poll) carries none of it.
#[derive(Default)]
pub(crate) struct Watch<'a>(Option<Pin<Box<dyn Future<Output = End> + Send + 'a>>>);

impl<'a> Watch<'a> {
    /// Arms the watch if needed — the max duration counts from its first poll — and polls it.
    /// `workers` gives what the armed watch keeps of the workers: borrowed, or an `Arc` a
    /// `'static` call clones only now.
    #[inline(never)]
    pub(crate) fn poll<W: Deref<Target = Workers> + Send + Sync + 'a>(
        &mut self,
        max_duration: Duration,
        workers: impl FnOnce() -> W,
        cx: &mut Context<'_>,
    ) -> Poll<End> {
        let armed = self.0.get_or_insert_with(|| Box::pin(watch_for_an_end(max_duration, workers())));
        armed.as_mut().poll(cx)
    }
}

/// Drives a spawned task's work to an outcome: every poll guarded, and once the work waits, the
/// max task duration and the shutdown's cancellation watched. The work is pinned where its
/// owner made it, in an `Option`, so that the owner can drop it in place, contained, once it
/// was cut off. A struct rather than an `async` block around a `poll_fn`, which would carry
/// each field twice in every spawned task's future.
pub(crate) fn supervise<'a, F: Future>(
    work: Pin<&'a mut Option<F>>,
    workers: &'a Workers,
) -> Supervise<'a, F> {
    Supervise { work, workers, watch: Watch::default() }
}

/// The future of [`supervise`].
pub(crate) struct Supervise<'a, F> {
    work: Pin<&'a mut Option<F>>,
    workers: &'a Workers,
    watch: Watch<'a>,
}

impl<F: Future> Future for Supervise<'_, F> {
    type Output = Supervised<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(work) = this.work.as_mut().as_pin_mut() else {
            // Dropped by its owner after it was cut off: it never runs again.
            return Poll::Ready(Supervised::Cancelled);
        };
        let governor = governor_id(&this.workers.drain);
        match marked(governor, || catch(|| work.poll(cx))) {
            // The finished work's drop is user code too: dropped here, contained, so that a
            // panic in it is the work's own, counted and logged like one in its poll.
            Ok(Poll::Ready(output)) => match catch(|| this.work.set(None)) {
                Ok(()) => Poll::Ready(Supervised::Finished(output)),
                Err(message) => Poll::Ready(Supervised::Panicked(message)),
            },
            Err(message) => Poll::Ready(Supervised::Panicked(message)),
            Ok(Poll::Pending) => {
                let (workers, max_duration) = (this.workers, this.workers.max_task_duration);
                this.watch.poll(max_duration, || workers, cx).map(|end| end.outcome(max_duration))
            }
        }
    }
}

/// What can end supervised work before it finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    TimedOut,
    Cancelled,
}

impl End {
    /// The work's outcome when it was cut off by this end.
    pub(crate) fn outcome<T>(self, max_duration: Duration) -> Supervised<T> {
        match self {
            End::TimedOut => Supervised::TimedOut(max_duration),
            End::Cancelled => Supervised::Cancelled,
        }
    }
}

/// Waits for the max duration from now, or for the shutdown's cancellation.
async fn watch_for_an_end<W: Deref<Target = Workers>>(max_duration: Duration, workers: W) -> End {
    let drain = &workers.drain;
    let mut deadline = pin!(Instant::now().checked_add(max_duration).map(sleep_until));
    let mut cancel = pin!(drain.cancellation());
    poll_fn(|cx| {
        // The listener is polled (registered) before the flag is read, so a cancellation
        // between the two is not missed.
        if cancel.as_mut().poll(cx).is_ready() || drain.is_cancelling() {
            return Poll::Ready(End::Cancelled);
        }
        match deadline.as_mut().as_pin_mut().map(|timer| timer.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(End::TimedOut),
            _ => Poll::Pending,
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supervision_is_four_words_and_its_watch_is_boxed_apart() {
        let word = std::mem::size_of::<usize>();
        assert_eq!(std::mem::size_of::<Supervise<'_, std::future::Ready<()>>>(), 4 * word);
        // Armed only when work waits, in an allocation of its own: the future carries a pointer.
        assert_eq!(std::mem::size_of::<Watch<'_>>(), 2 * word);
        let gate =
            super::super::HealthGate { degraded_ratio: 1.0, unhealthy_ratio: 1.0, shed_when_critical: false };
        let containment = std::sync::Arc::default();
        let workers = Workers::new(&crate::WorkerConfig::default(), gate, containment, None);
        let armed = watch_for_an_end(Duration::from_secs(1), &workers);
        assert!(std::mem::size_of_val(&armed) > 8 * word, "the watch is worth boxing apart");
    }
}

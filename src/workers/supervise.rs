//! Runs one piece of work under watch: a panic becomes an outcome, work past the max task
//! duration is cancelled, and a shutdown's cancellation stops it.

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use super::drain::Drain;
use crate::contain::{Containment, UserCode, catch};

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

/// Drives the work to an outcome.
///
/// `work` must be a future that runs no user code until it is polled (an `async` block or
/// `async fn` call): every poll is guarded, so a panic anywhere in it becomes an outcome.
/// The timer and the cancellation listener are armed only when the work first returns
/// `Pending`: work that finishes in its first poll (the hot path) arms nothing. They are
/// armed in one allocation of their own, so a future that waits — in a queue, or as a
/// spawned task — does not carry them (see the size tests below). The work is dropped —
/// cancelled — by its owner, who pins it where it is made (moving a large future into this
/// one would copy it on every call), in an `Option` so that it can drop it in place,
/// contained, once the work was cut off ([`drop_cut_off`]): the operation's drop is user code.
///
/// `MARKS` says whether this thread is marked as running the governor's operation while the
/// work is polled, so that a call made inside it can tell it is nested ([`is_nested`]): on for
/// calls, off for spawned tasks, whose throughput is measured per task.
pub(crate) fn supervise<'a, F: Future, const MARKS: bool>(
    work: Pin<&'a mut Option<F>>,
    max_duration: Duration,
    drain: &'a Drain,
) -> Supervise<'a, F, MARKS> {
    Supervise { work, max_duration, drain, watch: Watch::default() }
}

/// The future of [`supervise`]: a struct of its own rather than an `async fn` around a
/// `poll_fn`, which would carry each of these fields twice, in every call's and every spawned
/// task's future (a test below holds it to six words).
pub(crate) struct Supervise<'a, F, const MARKS: bool> {
    work: Pin<&'a mut Option<F>>,
    max_duration: Duration,
    drain: &'a Drain,
    watch: Watch<'a>,
}

impl<F: Future, const MARKS: bool> Future for Supervise<'_, F, MARKS> {
    type Output = Supervised<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(work) = this.work.as_mut().as_pin_mut() else {
            // Dropped by its owner after it was cut off: it never runs again.
            return Poll::Ready(Supervised::Cancelled);
        };
        let polled =
            if MARKS { marked(this.drain, || catch(|| work.poll(cx))) } else { catch(|| work.poll(cx)) };
        match polled {
            Ok(Poll::Ready(output)) => return Poll::Ready(Supervised::Finished(output)),
            Err(message) => return Poll::Ready(Supervised::Panicked(message)),
            Ok(Poll::Pending) => {}
        }
        let max_duration = this.max_duration;
        this.watch.poll(max_duration, this.drain, cx).map(|end| end.outcome(max_duration))
    }
}

thread_local! {
    /// The governor (its drain's address) whose supervised work this thread is polling, or 0.
    static RUNNING: Cell<usize> = const { Cell::new(0) };
}

fn governor_id(drain: &Drain) -> usize {
    std::ptr::from_ref(drain) as usize
}

/// Whether this thread is polling work supervised under `drain`'s governor: a call made now
/// is nested inside an operation of the same governor, which holds a worker.
pub(crate) fn is_nested(drain: &Drain) -> bool {
    RUNNING.get() == governor_id(drain)
}

/// Runs `poll` with this thread marked as polling an operation of `drain`'s governor, so that
/// a call made inside it can tell it is nested.
#[inline(always)]
pub(crate) fn marked<R>(drain: &Drain, poll: impl FnOnce() -> R) -> R {
    let outer = RUNNING.replace(governor_id(drain));
    let polled = poll();
    RUNNING.set(outer);
    polled
}

/// Drops work that was cut off (past its max duration, or cancelled by a shutdown) in place,
/// contained: the drop of an operation's future is user code, and a panic in it must not
/// escape the call or the task. Work that finished or panicked holds nothing any more.
pub(crate) fn drop_cut_off<T, F>(
    work: Pin<&mut Option<F>>,
    outcome: &Supervised<T>,
    containment: &Containment,
) {
    if matches!(outcome, Supervised::TimedOut(_) | Supervised::Cancelled) {
        containment.drop_in_place(UserCode::OperationDrop, work);
    }
}

/// The watch of work that is pending, armed on its first poll: out of line, in an allocation
/// of its own, so that the hot path (work done in its first poll) carries none of it.
#[derive(Default)]
pub(crate) struct Watch<'a>(Option<Pin<Box<dyn Future<Output = End> + Send + 'a>>>);

impl<'a> Watch<'a> {
    /// Arms the watch if needed — the max duration counts from its first poll — and polls it.
    #[inline(never)]
    pub(crate) fn poll(
        &mut self,
        max_duration: Duration,
        drain: &'a Drain,
        cx: &mut Context<'_>,
    ) -> Poll<End> {
        self.0.get_or_insert_with(|| Box::pin(watch_for_an_end(max_duration, drain))).as_mut().poll(cx)
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
async fn watch_for_an_end(max_duration: Duration, drain: &Drain) -> End {
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
    use std::future::Ready;

    use super::*;

    #[test]
    fn supervision_is_six_words_and_its_watch_is_boxed_apart() {
        let word = std::mem::size_of::<usize>();
        assert_eq!(std::mem::size_of::<Supervise<'_, Ready<()>, true>>(), 6 * word);
        assert_eq!(std::mem::size_of::<Supervise<'_, Ready<()>, false>>(), 6 * word);
        // Armed only when work waits, in an allocation of its own: the future carries a pointer.
        assert_eq!(std::mem::size_of::<Watch<'_>>(), 2 * word);
        let drain = Drain::default();
        let armed = watch_for_an_end(Duration::from_secs(1), &drain);
        assert!(std::mem::size_of_val(&armed) > 8 * word, "the watch is worth boxing apart");
    }
}

//! Runs one piece of work under watch: a panic becomes an outcome, work past the max task
//! duration is cancelled, and a shutdown's cancellation stops it.

use std::any::Any;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use super::drain::Drain;

/// How supervised work ended.
#[derive(Debug)]
pub(crate) enum Supervised<T> {
    Finished(T),
    TimedOut(Duration),
    Panicked(String),
    Cancelled,
}

/// Drives the work to an outcome.
///
/// `work` must be a future that runs no user code until it is polled (an `async` block or
/// `async fn` call): every poll is guarded, so a panic anywhere in it becomes an outcome.
/// The timer and the cancellation listener are armed only when the work first returns
/// `Pending`: work that finishes in its first poll (the hot path) arms nothing. The work is
/// dropped — cancelled — by its owner, who pins it where it is made (moving a large future
/// into this one would copy it on every call).
pub(crate) async fn supervise<F: Future>(
    mut work: Pin<&mut F>,
    max_duration: Duration,
    drain: &Drain,
) -> Supervised<F::Output> {
    let mut deadline = pin!(None);
    let mut cancel = pin!(None);
    let mut armed = false;
    poll_fn(|cx| {
        match catch_unwind(AssertUnwindSafe(|| work.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => return Poll::Ready(Supervised::Finished(output)),
            Err(payload) => return Poll::Ready(Supervised::Panicked(panic_message(payload.as_ref()))),
            Ok(Poll::Pending) => {}
        }
        if !armed {
            armed = true;
            deadline.set(Instant::now().checked_add(max_duration).map(sleep_until));
            cancel.set(Some(drain.cancellation()));
        }
        let cancelled = cancel.as_mut().as_pin_mut().is_some_and(|signal| signal.poll(cx).is_ready());
        if cancelled || drain.is_cancelling() {
            return Poll::Ready(Supervised::Cancelled);
        }
        match deadline.as_mut().as_pin_mut().map(|timer| timer.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Supervised::TimedOut(max_duration)),
            _ => Poll::Pending,
        }
    })
    .await
}

/// The text of a panic payload: the `&str` or `String` given to `panic!`.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

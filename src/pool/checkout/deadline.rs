//! [`Deadline`]: the checkout timeout, armed at the first await of a `get` that has to wait.
//!
//! A warm `get` whose idle connection passes its check at once completes in its first poll,
//! so it never makes a timer (one would take the runtime's handle and the timer wheel's lock).
//! Time does not pass during a poll on tokio's clock's terms, so arming the timer at the first
//! poll that returns `Pending` gives the same limit as arming it when the `get` starts. Every
//! await of the checkout goes through [`Deadline::within`], so the limit cuts a `get` off at
//! any of them, as a `timeout` around the whole checkout would — with no future around the
//! checkout's own, through which its lease would be copied once more.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::time::{Sleep, sleep};

/// The checkout timeout of one `get`; its timer lives pinned in the `get`'s future.
pub(in crate::pool) struct Deadline<'a> {
    pub(in crate::pool) limit: Duration,
    /// `None` until an await has to wait.
    pub(in crate::pool) timer: Pin<&'a mut Option<Sleep>>,
}

/// The deadline passed before the future awaited under it completed.
#[derive(Debug)]
pub(in crate::pool) struct Elapsed;

impl Deadline<'_> {
    /// Awaits `future`, or gives up with [`Elapsed`] once the checkout timeout has passed since
    /// the `get`'s first wait. The future is polled first, so one that is ready always counts.
    pub(in crate::pool) fn within<'f, F: Future>(
        &'f mut self,
        mut future: Pin<&'f mut F>,
    ) -> impl Future<Output = Result<F::Output, Elapsed>> + 'f {
        poll_fn(move |cx| {
            if let Poll::Ready(output) = future.as_mut().poll(cx) {
                return Poll::Ready(Ok(output));
            }
            loop {
                if let Some(timer) = self.timer.as_mut().as_pin_mut() {
                    return timer.poll(cx).map(|()| Err(Elapsed));
                }
                self.timer.set(Some(sleep(self.limit)));
            }
        })
    }
}

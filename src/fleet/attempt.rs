//! [`AttemptGuard`]: what guards one attempt of a governed call besides its worker — the attempt
//! timeout, and the fleet's part: waiting for the lease, the token set while the operation is
//! polled, and the lost lease that cancels it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Sleep, sleep};

use super::FencingToken;
use super::engine::Fleet;
use super::lease::{Grant, LeaseHandle};
use crate::{Error, Rejection};

/// What an attempt with a timeout or a fleet lease holds besides its operation. Boxed by the
/// call path, so calls with neither carry none of it.
#[derive(Debug)]
pub(crate) struct AttemptGuard {
    /// The lease task's channels, with a fleet resource.
    lease: Option<LeaseHandle>,
    /// `false` until the lease task said the attempt may run.
    granted: bool,
    lost_seen: bool,
    token: Option<FencingToken>,
    /// The attempt timeout, if the call has one: it covers the wait for the lease too.
    timer: Option<(Pin<Box<Sleep>>, Duration)>,
}

impl AttemptGuard {
    /// The guard of an attempt timed out after `attempt_timeout`, leased from `fleet`; out of
    /// line, off the path of calls with neither.
    #[cold]
    #[inline(never)]
    pub(crate) fn start(attempt_timeout: Option<Duration>, fleet: Option<&Arc<Fleet>>) -> Box<Self> {
        Box::new(AttemptGuard {
            lease: fleet.map(Fleet::start_lease),
            granted: fleet.is_none(),
            lost_seen: false,
            token: None,
            timer: attempt_timeout.map(|after| (Box::pin(sleep(after)), after)),
        })
    }

    /// Polls the attempt: the lease first, then the operation with the lease's token current,
    /// then the timer (as tokio's `timeout`: an operation that is ready wins).
    #[cold]
    #[inline(never)]
    pub(crate) fn poll_attempt<Fut, T, E>(
        &mut self,
        op: Pin<&mut Fut>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, Error<E>>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        if let (false, Some(lease)) = (self.granted, &mut self.lease) {
            match Pin::new(&mut lease.granted).poll(cx) {
                Poll::Ready(Ok(Grant::Leased(token))) => self.token = Some(token),
                Poll::Ready(Ok(Grant::Unleased)) => {}
                // The task ended without a grant only if the runtime is shutting down.
                Poll::Ready(Ok(Grant::Refused) | Err(_)) => {
                    return Poll::Ready(Err(Error::Rejected(Rejection::FleetUnavailable)));
                }
                Poll::Pending => return self.poll_timer(cx),
            }
            self.granted = true;
        }
        if let (false, Some(lease)) = (self.lost_seen, &mut self.lease) {
            if let Poll::Ready(lost) = Pin::new(&mut lease.lost).poll(cx) {
                self.lost_seen = true;
                if lost.is_ok() {
                    return Poll::Ready(Err(Error::LeaseLost));
                }
            }
        }
        match FencingToken::scope(self.token, || op.poll(cx)) {
            Poll::Ready(result) => Poll::Ready(result.map_err(Error::Operation)),
            Poll::Pending => self.poll_timer(cx),
        }
    }

    fn poll_timer<T, E>(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, Error<E>>> {
        match &mut self.timer {
            Some((timer, after)) => {
                timer.as_mut().poll(cx).map(|()| Err(Error::AttemptTimeout { after: *after }))
            }
            None => Poll::Pending,
        }
    }
}

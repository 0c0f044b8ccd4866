//! [`FleetAttempt`]: the fleet's part of one attempt of a governed call — waiting for the
//! lease, the token set while the operation is polled, and the lost lease that cancels it.

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

/// What an attempt of a call on a fleet resource holds besides its operation. Boxed by the
/// call path, so calls without a fleet resource carry none of it.
#[derive(Debug)]
pub(crate) struct FleetAttempt {
    lease: LeaseHandle,
    /// `false` until the lease task said the attempt may run.
    granted: bool,
    lost_seen: bool,
    token: Option<FencingToken>,
    /// The attempt timeout, if the call has one: it covers the wait for the lease too.
    timer: Option<(Pin<Box<Sleep>>, Duration)>,
}

impl FleetAttempt {
    pub(crate) fn start(fleet: &Arc<Fleet>, attempt_timeout: Option<Duration>) -> Box<Self> {
        Box::new(FleetAttempt {
            lease: fleet.start_lease(),
            granted: false,
            lost_seen: false,
            token: None,
            timer: attempt_timeout.map(|after| (Box::pin(sleep(after)), after)),
        })
    }

    /// Polls the attempt: the lease first, then the operation with the lease's token current.
    pub(crate) fn poll_attempt<Fut, T, E>(
        &mut self,
        op: Pin<&mut Fut>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, Error<E>>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        if !self.granted {
            match Pin::new(&mut self.lease.granted).poll(cx) {
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
        if !self.lost_seen {
            if let Poll::Ready(lost) = Pin::new(&mut self.lease.lost).poll(cx) {
                self.lost_seen = true;
                if lost.is_ok() {
                    let token = self.token.map_or(0, FencingToken::get);
                    return Poll::Ready(Err(Error::LeaseLost { token }));
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

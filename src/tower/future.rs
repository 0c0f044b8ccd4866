//! [`ResponseFuture`]: the response of a governed service.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower_service::Service;

use super::attempt::{Requests, Sending};
use super::error::{BoxError, GovernedError, ServiceError, boxed};
use super::layer::OnInner;
use super::service::Policy;
use crate::Rejection;
use crate::governor::{Calling, Hooks, Planned};

/// The governed call of one request: the call path's future, holding its governor and plan.
pub(crate) type GovernedCall<S, P, Request> =
    Calling<'static, Requests<S, P, Request>, Sending<S, Request>, ServiceError, LayerHooks, Arc<Planned>>;

/// The hooks of a layer's calls: `when` and `failure_when`, asked about the inner error.
pub(crate) type LayerHooks = Hooks<OnInner, (), (), OnInner>;

pin_project! {
    /// The response future of a [`Governed`](super::Governed) service: the governed call of
    /// one request (or the rejection its readiness met a moment before). It owns what it
    /// needs, so it is `'static`, and `Send` when the service, its future and the request are.
    ///
    /// # Cancel safety
    ///
    /// Dropping it at any point — before its first poll, waiting in the queue, running, or
    /// sleeping between attempts — drops the request and the inner service's future, releases
    /// the worker, the queue place and any half-open probe slot, and counts the call as
    /// `abandoned`; the breaker ignores it.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<S, P, Request>
    where
        S: Service<Request>,
        P: Policy<Request>,
    {
        #[pin]
        state: State<S, P, Request>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, P, Request>
    where
        S: Service<Request>,
        P: Policy<Request>,
    {
        /// Turned away at readiness, and counted there.
        Rejected { rejection: Rejection },
        Called { #[pin] call: GovernedCall<S, P, Request> },
    }
}

impl<S, P, Request> ResponseFuture<S, P, Request>
where
    S: Service<Request>,
    P: Policy<Request>,
{
    pub(crate) fn rejected(rejection: Rejection) -> Self {
        ResponseFuture { state: State::Rejected { rejection } }
    }

    #[inline(always)]
    pub(crate) fn called(call: GovernedCall<S, P, Request>) -> Self {
        ResponseFuture { state: State::Called { call } }
    }
}

impl<S, P, Request> Future for ResponseFuture<S, P, Request>
where
    S: Service<Request> + Clone,
    S::Error: Into<BoxError>,
    P: Policy<Request>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Rejected { rejection } => Poll::Ready(Err(boxed(GovernedError::Rejected(*rejection)))),
            StateProj::Called { call } => call.poll(cx).map_err(boxed),
        }
    }
}

impl<S, P, Request> std::fmt::Debug for ResponseFuture<S, P, Request>
where
    S: Service<Request>,
    P: Policy<Request>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::future::Ready;

    use super::*;
    use crate::tower::{Once, Retrying};

    type Echo = tower::util::ServiceFn<fn(u64) -> Ready<Result<u64, std::io::Error>>>;

    fn send_static<T: Send + 'static>() {}

    /// A named type, not a box: a server can keep it, spawn it, or store it in its own future.
    #[test]
    fn the_response_future_is_send_and_static_without_a_box() {
        send_static::<ResponseFuture<Echo, Once, u64>>();
        send_static::<ResponseFuture<Echo, Retrying, u64>>();
        let word = std::mem::size_of::<usize>();
        let size = std::mem::size_of::<ResponseFuture<Echo, Once, u64>>();
        assert!(size <= 32 * word, "{size} bytes");
    }
}

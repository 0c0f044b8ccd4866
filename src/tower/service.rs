//! [`Governed`]: a tower service behind a governor's call path.

use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::attempt::Requests;
use super::error::{BoxError, GovernedError, ServiceError, boxed};
use super::future::{LayerHooks, ResponseFuture};
use super::layer::{Once, Retrying};
use super::reservation::{ForCall, Reservation};
use crate::contain::UserCode;
use crate::governor::{Calling, Planned};

/// How a governed service keeps a request for its attempts: [`Once`] sends it once,
/// [`Retrying`] keeps the request and sends clones. Sealed: the layer picks it.
pub trait Policy<Request>: sealed::Sealed {
    /// True if a failed request may be sent again.
    #[doc(hidden)]
    const SENDS_AGAIN: bool;
    /// What the call keeps between attempts.
    #[doc(hidden)]
    type Kept: Send + 'static;
    /// Keeps the request.
    #[doc(hidden)]
    fn keep(request: Request) -> Self::Kept;
    /// The request for the next attempt, if it can be sent again.
    #[doc(hidden)]
    fn next(kept: &mut Self::Kept) -> Option<Request>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Once {}
    impl Sealed for super::Retrying {}
}

impl<Request: Send + 'static> Policy<Request> for Once {
    const SENDS_AGAIN: bool = false;
    type Kept = Option<Request>;
    fn keep(request: Request) -> Self::Kept {
        Some(request)
    }
    fn next(kept: &mut Self::Kept) -> Option<Request> {
        kept.take()
    }
}

impl<Request: Clone + Send + 'static> Policy<Request> for Retrying {
    const SENDS_AGAIN: bool = true;
    type Kept = Request;
    fn keep(request: Request) -> Self::Kept {
        request
    }
    fn next(kept: &mut Self::Kept) -> Option<Request> {
        Some(kept.clone())
    }
}

/// A service behind a governor's call path, made by [`GovernorLayer`](super::GovernorLayer).
///
/// Cloning it gives a service with the same inner service and governor and no reservation.
pub struct Governed<S, P = Once> {
    inner: S,
    /// The governor and the calls' plan, shared with each response future.
    planned: Arc<Planned>,
    hooks: LayerHooks,
    reservation: Reservation,
    policy: PhantomData<fn() -> P>,
}

impl<S, P> Governed<S, P> {
    pub(crate) fn new(inner: S, planned: Arc<Planned>, hooks: LayerHooks) -> Self {
        Governed { inner, planned, hooks, reservation: Reservation::default(), policy: PhantomData }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// A reservation the service holds goes back with it, counted as abandoned: it borrows the
/// service's handle to the governor.
impl<S, P> Drop for Governed<S, P> {
    fn drop(&mut self) {
        self.reservation.release(self.planned.gov.workers());
    }
}

impl<S: Clone, P> Clone for Governed<S, P> {
    fn clone(&self) -> Self {
        Governed::new(self.inner.clone(), Arc::clone(&self.planned), self.hooks)
    }
}

impl<S: std::fmt::Debug, P> std::fmt::Debug for Governed<S, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Governed")
            .field("inner", &self.inner)
            .field("plan", &self.planned.plan)
            .field("reservation", &self.reservation)
            .finish_non_exhaustive()
    }
}

impl<S, P, Request> Service<Request> for Governed<S, P>
where
    S: Service<Request> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Response: Send + 'static,
    S::Future: Send + 'static,
    P: Policy<Request>,
    Request: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, P, Request>;

    /// Ready when the inner service is ready and a worker is reserved (see the module docs).
    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // The inner service's readiness comes first: a service that is not ready takes no
        // queue place.
        let (gov, inner) = (&self.planned.gov, &mut self.inner);
        let ready = match gov.containment().call(UserCode::TowerService, || inner.poll_ready(cx)) {
            Ok(ready) => ready,
            Err(fault) => {
                // Counted and logged by the containment; the service gives back what it holds.
                self.reservation.release(gov.workers());
                return Poll::Ready(Err(boxed(GovernedError::Panicked { message: fault.to_string() })));
            }
        };
        match ready {
            Poll::Pending => {
                // A service that stopped being ready gives back what it reserved.
                self.reservation.release(gov.workers());
                return Poll::Pending;
            }
            Poll::Ready(Err(error)) => {
                return Poll::Ready(Err(boxed(GovernedError::Operation(ServiceError::new(error)))));
            }
            Poll::Ready(Ok(())) => {}
        }
        self.reservation.poll_reserve(&self.planned.gov, &self.planned.plan, cx).map(Ok)
    }

    #[inline]
    fn call(&mut self, request: Request) -> Self::Future {
        // The instance that was polled ready makes the first attempt; a clone stays here, and
        // a retrying service keeps one more for its later attempts. The clones (user code)
        // come first: one that panics finds the reservation still here, given back with the
        // service.
        let stays = self.inner.clone();
        let spare = P::SENDS_AGAIN.then(|| self.inner.clone());
        let reserved = match self.reservation.take_for_call(self.planned.gov.workers()) {
            ForCall::Reserved(call) => Some(call),
            // Nothing to build.
            ForCall::Rejected(rejection) => return ResponseFuture::rejected(rejection),
            ForCall::Unreserved => None,
        };
        let first = std::mem::replace(&mut self.inner, stays);
        let op = Requests::<S, P, Request>::new(first, spare, request);
        let planned = Arc::clone(&self.planned);
        ResponseFuture::called(match reserved {
            Some(call) => Calling::reserved(planned, call, op, self.hooks),
            None => Calling::unreserved(planned, op, self.hooks),
        })
    }
}

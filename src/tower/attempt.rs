//! One request's attempts: which service instance and which copy of the request each one
//! sends ([`Requests`]), and the sending itself ([`Sending`]): the instance's readiness, then
//! its call. Named types, not a closure and an `async` block, so that the response future
//! can be named.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tower_service::Service;

use super::error::{BoxError, ServiceError};
use super::service::Policy;
use crate::governor::Operation;

/// What a governed request's attempts send.
pub(crate) struct Requests<S, P: Policy<Request>, Request> {
    /// The instance that was polled ready: the first attempt's.
    first: Option<S>,
    /// A clone for the later attempts of a retrying service.
    spare: Option<S>,
    kept: P::Kept,
}

impl<S, P: Policy<Request>, Request> Requests<S, P, Request> {
    pub(crate) fn new(first: S, spare: Option<S>, request: Request) -> Self {
        Requests { first: Some(first), spare, kept: P::keep(request) }
    }
}

impl<S, P, Request> Operation for Requests<S, P, Request>
where
    S: Service<Request> + Clone,
    P: Policy<Request>,
{
    type Attempt = Sending<S, Request>;

    fn attempt(&mut self) -> Sending<S, Request> {
        let service = self.first.take().or_else(|| self.spare.clone());
        match (service, P::next(&mut self.kept)) {
            (Some(service), Some(request)) => {
                Sending::Readying { service: Some(service), request: Some(request) }
            }
            // Unreachable by construction: a `Once` plan makes exactly one attempt.
            _ => Sending::Unsendable,
        }
    }
}

pin_project! {
    /// One attempt: the inner service's readiness, then its call.
    #[project = SendingProj]
    pub(crate) enum Sending<S: Service<Request>, Request> {
        /// Waiting for the instance to be ready (both are taken when it is).
        Readying { service: Option<S>, request: Option<Request> },
        /// The inner service's response; the instance is kept until it is done.
        Called { #[pin] response: S::Future, service: S },
        /// No instance or no request for this attempt.
        Unsendable,
    }
}

impl<S, Request> Future for Sending<S, Request>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, ServiceError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project() {
                SendingProj::Readying { service, request } => {
                    let Some(instance) = service.as_mut() else { return Poll::Ready(Err(unsendable())) };
                    ready!(instance.poll_ready(cx)).map_err(ServiceError::new)?;
                    let (Some(mut service), Some(request)) = (service.take(), request.take()) else {
                        return Poll::Ready(Err(unsendable()));
                    };
                    let response = service.call(request);
                    self.set(Sending::Called { response, service });
                }
                SendingProj::Called { response, .. } => return response.poll(cx).map_err(ServiceError::new),
                SendingProj::Unsendable => return Poll::Ready(Err(unsendable())),
            }
        }
    }
}

fn unsendable() -> ServiceError {
    ServiceError::new("this request cannot be sent twice")
}

//! [`GovernorLayer`]: how a governed service's calls are made.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::future::LayerHooks;
use super::service::Governed;
use super::{BoxError, ServiceError};
use crate::Governor;
use crate::governor::{CallPlan, DEFAULT_HOOKS, Planned};
use crate::retry::RetryWhen;

/// A policy marker: each request is sent once (any request type).
#[derive(Debug, Clone, Copy, Default)]
pub struct Once;

/// A policy marker: failed requests are sent again with the governor's backoff (requests
/// must be `Clone`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Retrying;

/// A `tower::Layer` that puts a service behind a governor's call path.
///
/// # Default
///
/// Made with [`new`](GovernorLayer::new): the default breaker, no attempt timeout, the
/// governor's max task duration, one attempt per request, every inner error counted as a
/// failure by the breaker, calls named `"tower"` in events.
///
/// # Examples
///
/// ```
/// use bursar::tower::GovernorLayer;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), bursar::tower::BoxError> {
/// let gov = bursar::Governor::builder().build()?;
/// let echo = ServiceBuilder::new()
///     .layer(GovernorLayer::new(&gov).key("search").name("search"))
///     .service(service_fn(|query: &'static str| async move { Ok::<_, std::io::Error>(query) }));
/// assert_eq!(echo.oneshot("rust").await?, "rust");
/// assert_eq!(gov.status().workers.completed, 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a layer does nothing until it wraps a service"]
pub struct GovernorLayer<P = Once> {
    gov: Governor,
    settings: Settings,
    policy: PhantomData<fn() -> P>,
}

/// What every call of a governed service shares.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) plan: CallPlan,
    pub(crate) when: fn(&BoxError) -> bool,
    pub(crate) failure_when: fn(&BoxError) -> bool,
}

fn every_error(_: &BoxError) -> bool {
    true
}

/// A hook of the layer (`when`, `failure_when`), asked about the inner service's error.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OnInner(pub(crate) fn(&BoxError) -> bool);

impl RetryWhen<ServiceError> for OnInner {
    fn retryable(&self, error: &ServiceError) -> bool {
        (self.0)(&error.0)
    }
}

impl Settings {
    /// The calls' hooks: `when` and `failure_when`, asked about the inner service's error.
    pub(crate) fn hooks(&self) -> LayerHooks {
        DEFAULT_HOOKS.with_when(OnInner(self.when)).with_failure_when(OnInner(self.failure_when))
    }
}

impl<P> Clone for GovernorLayer<P> {
    fn clone(&self) -> Self {
        GovernorLayer { gov: self.gov.clone(), settings: self.settings.clone(), policy: PhantomData }
    }
}

impl GovernorLayer<Once> {
    /// A layer over `gov`'s call path that sends each request once.
    pub fn new(gov: &Governor) -> Self {
        let mut plan = CallPlan::new(gov);
        plan.max_attempts = 1;
        plan.name = "tower";
        let settings = Settings { plan, when: every_error, failure_when: every_error };
        GovernorLayer { gov: gov.clone(), settings, policy: PhantomData }
    }

    /// Retries failed requests with the governor's retry policy (its attempts, backoff,
    /// deadline and budget); the request type must be `Clone`. Each retry waits for the inner
    /// service to be ready again and sends a clone of the request.
    pub fn retry(self) -> GovernorLayer<Retrying> {
        let mut settings = self.settings;
        settings.plan.max_attempts = CallPlan::new(&self.gov).max_attempts;
        GovernorLayer { gov: self.gov, settings, policy: PhantomData }
    }
}

impl GovernorLayer<Retrying> {
    /// Attempts in all, the first included: 0 is taken as 1, more than 1000 as 1000.
    pub fn attempts(mut self, max_attempts: u32) -> Self {
        self.settings.plan.max_attempts = max_attempts.clamp(1, 1000);
        self
    }

    /// Retries only the inner errors for which `when` is true (by default: all).
    pub fn when(mut self, when: fn(&BoxError) -> bool) -> Self {
        self.settings.when = when;
        self
    }

    /// No retry starts that would end later than `deadline` after the call began.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.settings.plan.deadline = Some(deadline);
        self
    }
}

impl<P> GovernorLayer<P> {
    /// Uses the circuit breaker of `key` instead of the default one.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.settings.plan.key = Some(key.into());
        self
    }

    /// Each attempt may run at most `timeout`; a longer one is cancelled ([`Error::AttemptTimeout`](crate::Error::AttemptTimeout)).
    /// A timeout below 1 ms acts as 1 ms, tokio's timer resolution.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.plan.attempt_timeout = Some(timeout);
        self
    }

    /// Counts only the inner errors for which `failure_when` is true as breaker failures
    /// (by default: all); the others count as successes, as a 404 says the server is up.
    pub fn failure_when(mut self, failure_when: fn(&BoxError) -> bool) -> Self {
        self.settings.failure_when = failure_when;
        self
    }

    /// The name the calls' `tracing` events carry.
    pub fn name(mut self, name: &'static str) -> Self {
        self.settings.plan.name = name;
        self
    }
}

impl<S, P> Layer<S> for GovernorLayer<P> {
    type Service = Governed<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        let planned = Planned { gov: self.gov.clone(), plan: self.settings.plan.clone() };
        Governed::new(inner, Arc::new(planned), self.settings.hooks())
    }
}

//! A [`tower`](https://docs.rs/tower) layer over the governor's call path (feature `tower`).
//!
//! [`GovernorLayer`] puts any `Clone` `tower::Service` behind a [`Governor`](crate::Governor)
//! (wrap one that is not `Clone` in tower's `Buffer`): the
//! circuit breaker, the worker limit with its bounded queue, the attempt timeout, the max task
//! duration and panic containment — and, with [`GovernorLayer::retry`], retries with backoff
//! for requests that are `Clone`. The same governor can govern plain calls and tower services
//! side by side: they share one worker limit, one breaker and one set of counters.
//!
//! # Readiness
//!
//! `poll_ready` first waits for the inner service to be ready, and only then reserves a
//! worker (waiting in the queue if none is free). So a service that is not ready holds no
//! queue place it cannot use, and a ready one holds a worker that `call` then uses. When the
//! breaker is open, readiness reserves nothing: `call` fails fast with
//! [`Rejection::CircuitOpen`](crate::Rejection::CircuitOpen). A reservation the governor turns
//! away (queue full, queue timeout, shutting down, critical health) is not a `poll_ready`
//! error — the service stays usable — but the next `call`'s answer, if that call comes within
//! a second; a later call asks the governor again. Readiness never keeps an answer that holds
//! no worker: a later `poll_ready` after a rejection, or after the breaker was open and has
//! closed since, asks again and reserves a worker.
//!
//! A service that was ready and then is not (its `poll_ready` is pending again) gives its
//! reservation back at once.
//!
//! # When the inner service is called
//!
//! `call` returns at once; the inner service's `call` is made when the response future is
//! first polled, inside the governed call (so that a panic in it is contained and its worker is
//! the one readiness reserved). Requests therefore reach the inner service in the order their
//! response futures are first polled, which is not always the order of the `call`s (tower's
//! own `ConcurrencyLimit` calls the inner service inside `call`). Poll the response futures in
//! the order the requests must arrive if the inner service depends on it.
//!
//! # Cancel safety
//!
//! Dropping a governed service that holds a reservation, or dropping a response future at any
//! point, releases the worker, the queue place and any half-open probe slot, and counts the call
//! as `abandoned`; the breaker ignores it. Every count stays exact.
//!
//! # Errors
//!
//! The service's error is tower's [`BoxError`]. It always holds a [`GovernedError`] — that is
//! `bursar::Error<ServiceError>` — so it can be downcast and matched like a plain governed
//! call's error; the inner service's own error is inside [`Error::Operation`](crate::Error::Operation).
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use bursar::tower::{GovernedError, GovernorLayer};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), bursar::tower::BoxError> {
//! let gov = bursar::Governor::builder().max_workers(4).build()?;
//! let layer = GovernorLayer::new(&gov).retry().attempts(2).timeout(Duration::from_secs(30));
//! let service = ServiceBuilder::new()
//!     .layer(layer)
//!     .service(service_fn(|url: String| async move { Ok::<_, std::io::Error>(url.len()) }));
//!
//! assert_eq!(service.clone().oneshot("https://example.test".to_owned()).await?, 20);
//!
//! // A rejection comes back as a bursar error.
//! gov.breaker().force_open();
//! let error = service.oneshot("https://example.test".to_owned()).await.unwrap_err();
//! let error = error.downcast_ref::<GovernedError>().expect("a bursar error");
//! assert!(error.retry_after().is_some());
//! # Ok(()) }
//! ```

mod attempt;
mod error;
mod future;
mod layer;
mod reservation;
mod service;

pub use error::{BoxError, GovernedError, ServiceError};
pub use future::ResponseFuture;
pub use layer::{GovernorLayer, Once, Retrying};
pub use service::{Governed, Policy};

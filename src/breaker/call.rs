//! [`CircuitBreaker::call`]: an operation run through the breaker, its outcome recorded for
//! the caller, a panic in it caught.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

use super::circuit_breaker::CircuitBreaker;
use super::permit::{NotPermitted, Outcome};
use crate::contain::{UserCode, catch};

/// Why an operation run through [`CircuitBreaker::call`] did not return a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError<E> {
    /// The breaker turned the call away; the operation was dropped without being polled.
    #[error("rejected: {0}")]
    Rejected(#[source] NotPermitted),
    /// The operation panicked; the breaker counted a failure.
    #[error("the operation panicked: {message}")]
    Panicked {
        /// The panic's message, or `"<non-string panic payload>"`.
        message: String,
    },
    /// The operation itself returned this error.
    #[error(transparent)]
    Operation(E),
}

impl CircuitBreaker {
    /// Runs `operation` through the breaker and records how it ended: `Ok` is a success, `Err`
    /// and a panic are failures. A rejected operation is dropped without being polled.
    ///
    /// `operation` is a future, not a closure that makes one: the breaker runs it at most once,
    /// and a future does nothing until it is polled, so a rejected call costs only its drop.
    /// Around retries, make a fresh future for each attempt. To count only some errors as
    /// failures, use [`call_when`](Self::call_when).
    ///
    /// # Errors
    ///
    /// - [`CallError::Rejected`] if the breaker turned the call away.
    /// - [`CallError::Operation`] with the operation's own error.
    /// - [`CallError::Panicked`] if the operation panicked.
    ///
    /// # Panics
    ///
    /// Never because of `operation`: its panic is caught, becomes an `ERROR` event (target
    /// `bursar::breaker`) and is counted as a failure once the unwinding is over.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropping the returned future before it ends drops `operation` and records
    /// nothing, as a dropped [`Permit`](super::Permit) does: a half-open probe slot goes back
    /// to the next caller.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use bursar::breaker::{BreakerConfig, BreakerState, CallError, CircuitBreaker};
    ///
    /// async fn fetch(up: bool) -> Result<&'static str, std::io::Error> {
    ///     if up { Ok("page") } else { Err(std::io::Error::other("connection refused")) }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let breaker = CircuitBreaker::new(&BreakerConfig::default())?;
    /// for _ in 0..5 {
    ///     assert!(matches!(breaker.call(fetch(false)).await, Err(CallError::Operation(_))));
    /// }
    /// let Err(CallError::Rejected(rejected)) = breaker.call(fetch(true)).await else {
    ///     panic!("five failures in a row open the breaker")
    /// };
    /// assert_eq!(rejected.retry_after, Duration::from_secs(120));
    ///
    /// tokio::time::sleep(rejected.retry_after).await;
    /// assert_eq!(breaker.call(fetch(true)).await?, "page"); // the probe
    /// assert_eq!(breaker.state(), BreakerState::Closed);
    /// # Ok(()) }
    /// ```
    pub async fn call<T, E>(&self, operation: impl Future<Output = Result<T, E>>) -> Result<T, CallError<E>> {
        self.call_when(operation, |_| true).await
    }

    /// [`call`](Self::call), counting an error as a failure only if `is_failure` says so; the
    /// others are recorded as successes (the dependency answered) and still returned. A
    /// success slower than the slow-call threshold counts as a failure either way.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    ///
    /// # Panics
    ///
    /// Never because of `operation` or `is_failure`. A panic in `is_failure` is caught, becomes
    /// an `ERROR` event (target `bursar`, field `callback = "failure_when"`), is counted in
    /// [`callback_panics`](Self::callback_panics), and the error counts as a failure.
    ///
    /// # Cancel safety
    ///
    /// As [`call`](Self::call).
    ///
    /// # Examples
    ///
    /// ```
    /// use bursar::breaker::{BreakerConfig, CallError, CircuitBreaker};
    ///
    /// #[derive(Debug)]
    /// enum Http { NotFound, Unavailable }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), bursar::BuildError> {
    /// let breaker = CircuitBreaker::new(&BreakerConfig::default())?;
    /// let is_failure = |error: &Http| matches!(error, Http::Unavailable);
    /// for _ in 0..10 {
    ///     // A 404 means the site answered: not a breaker failure.
    ///     let not_found = breaker.call_when(async { Err::<(), _>(Http::NotFound) }, is_failure).await;
    ///     assert!(matches!(not_found, Err(CallError::Operation(Http::NotFound))));
    /// }
    /// assert_eq!(breaker.status().consecutive_failures, 0);
    /// let _ = breaker.call_when(async { Err::<(), _>(Http::Unavailable) }, is_failure).await;
    /// assert_eq!(breaker.status().consecutive_failures, 1);
    /// # Ok(()) }
    /// ```
    pub async fn call_when<T, E>(
        &self,
        operation: impl Future<Output = Result<T, E>>,
        is_failure: impl FnOnce(&E) -> bool,
    ) -> Result<T, CallError<E>> {
        let permit = self.try_acquire().map_err(CallError::Rejected)?;
        let mut operation = pin!(Some(operation));
        // Polled inside `catch`, so the failure is recorded after the unwinding, never from a
        // drop: the transition it may cause runs the user's callback.
        let ended = poll_fn(|cx| {
            let Some(running) = operation.as_mut().as_pin_mut() else { return Poll::Pending };
            match catch(|| running.poll(cx)) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(result)) => Poll::Ready(Ok(result)),
                Err(message) => Poll::Ready(Err(message)),
            }
        })
        .await;
        // The ended operation's drop is the user's code too: contained here, its result kept.
        let _ = self.engine.notifier.contain(UserCode::OperationDrop, || operation.set(None));
        match ended {
            Ok(Ok(value)) => {
                permit.success();
                Ok(value)
            }
            Ok(Err(error)) => {
                let judged = self.engine.notifier.contain(UserCode::FailureWhen, || is_failure(&error));
                permit.record(if judged.unwrap_or(true) { Outcome::Failure } else { Outcome::Success });
                Err(CallError::Operation(error))
            }
            Err(message) => {
                tracing::error!(target: "bursar::breaker", breaker = self.name(), panic = %message, "the operation panicked; counted as a failure");
                permit.failure();
                Err(CallError::Panicked { message })
            }
        }
    }
}

//! The hooks a retry loop calls: which errors to retry, who to tell before a retry, and how
//! to change a delay. Each is implemented for the matching closure; the defaults are
//! [`AnyError`] and `()`.

use std::time::Duration;

/// Decides whether an operation's error is worth another attempt.
///
/// Implemented for every `Fn(&E) -> bool` and for [`AnyError`]; there is no need to
/// implement it yourself.
pub trait RetryWhen<E> {
    /// True if `error` is transient and the operation should be tried again.
    fn retryable(&self, error: &E) -> bool;
}

/// The default [`RetryWhen`]: every error of the operation is retried.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyError;

impl<E> RetryWhen<E> for AnyError {
    fn retryable(&self, _error: &E) -> bool {
        true
    }
}

/// The default of [`Call::overload_when`](crate::Call::overload_when): no error says the
/// dependency is overloaded (timeouts still do).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoError;

impl<E> RetryWhen<E> for NoError {
    fn retryable(&self, _error: &E) -> bool {
        false
    }
}

impl<E, F: Fn(&E) -> bool> RetryWhen<E> for F {
    fn retryable(&self, error: &E) -> bool {
        self(error)
    }
}

/// Told before each retry: the number of the attempt that failed (1 for the first call),
/// its error, and the delay before the next attempt.
///
/// Implemented for every `FnMut(u32, &X, Duration)` and for `()` (tell no one).
pub trait RetryNotify<X> {
    /// Called once before each retry's delay.
    fn notify(&mut self, failed_attempt: u32, error: &X, delay: Duration);
}

impl<X> RetryNotify<X> for () {
    fn notify(&mut self, _failed_attempt: u32, _error: &X, _delay: Duration) {}
}

impl<X, F: FnMut(u32, &X, Duration)> RetryNotify<X> for F {
    fn notify(&mut self, failed_attempt: u32, error: &X, delay: Duration) {
        self(failed_attempt, error, delay);
    }
}

/// Replaces the schedule's next delay, e.g. with a server's `Retry-After`.
///
/// Implemented for every `FnMut(&X, Duration) -> Duration` and for `()` (keep the delay).
/// The adjusted delay is still checked against the deadline.
pub trait RetryAdjust<X> {
    /// The delay to wait after `error`, given the schedule's `delay`.
    fn adjust(&mut self, error: &X, delay: Duration) -> Duration;
}

impl<X> RetryAdjust<X> for () {
    fn adjust(&mut self, _error: &X, delay: Duration) -> Duration {
        delay
    }
}

impl<X, F: FnMut(&X, Duration) -> Duration> RetryAdjust<X> for F {
    fn adjust(&mut self, error: &X, delay: Duration) -> Duration {
        self(error, delay)
    }
}

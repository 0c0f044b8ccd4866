//! [`Hooks`]: the user's code that one call runs besides its operation.

use std::time::Duration;

use crate::Error;
use crate::retry::{AnyError, NoError, RetryAdjust, RetryNotify, RetryWhen};

/// The hooks of one call: which operation errors are retried (`when`), who is told before a
/// retry (`notify`), how a retry's delay is adjusted (`adjust`), and which operation errors the
/// breaker counts as failures (`failure_when`), and which tell an adaptive worker limit that
/// the dependency is overloaded (`overload_when`). Each runs contained (see the crate docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hooks<W, N, A, F, O = NoError> {
    pub(crate) when: W,
    pub(crate) notify: N,
    pub(crate) adjust: A,
    pub(crate) failure_when: F,
    pub(crate) overload_when: O,
}

/// What `gov.run` uses: every error retried and counted, nobody told, no delay adjusted, no
/// error an overload.
pub(crate) const DEFAULT_HOOKS: Hooks<AnyError, (), (), AnyError> =
    Hooks { when: AnyError, notify: (), adjust: (), failure_when: AnyError, overload_when: NoError };

impl<W, N, A, F, O> Hooks<W, N, A, F, O> {
    pub(crate) fn with_when<W2>(self, when: W2) -> Hooks<W2, N, A, F, O> {
        let Hooks { notify, adjust, failure_when, overload_when, .. } = self;
        Hooks { when, notify, adjust, failure_when, overload_when }
    }

    pub(crate) fn with_notify<N2>(self, notify: N2) -> Hooks<W, N2, A, F, O> {
        let Hooks { when, adjust, failure_when, overload_when, .. } = self;
        Hooks { when, notify, adjust, failure_when, overload_when }
    }

    pub(crate) fn with_adjust<A2>(self, adjust: A2) -> Hooks<W, N, A2, F, O> {
        let Hooks { when, notify, failure_when, overload_when, .. } = self;
        Hooks { when, notify, adjust, failure_when, overload_when }
    }

    pub(crate) fn with_failure_when<F2>(self, failure_when: F2) -> Hooks<W, N, A, F2, O> {
        let Hooks { when, notify, adjust, overload_when, .. } = self;
        Hooks { when, notify, adjust, failure_when, overload_when }
    }

    pub(crate) fn with_overload_when<O2>(self, overload_when: O2) -> Hooks<W, N, A, F, O2> {
        let Hooks { when, notify, adjust, failure_when, .. } = self;
        Hooks { when, notify, adjust, failure_when, overload_when }
    }
}

/// What the call path asks of a call's hooks, whatever their types: one bound in place of
/// four. Each answer is the user's code, which the call path runs contained.
pub(crate) trait CallHooks<E> {
    /// Whether the operation's `error` may be retried (`when`).
    fn retryable(&self, error: &E) -> bool;
    /// Whether the operation's `error` counts as a failure of the breaker (`failure_when`).
    fn is_failure(&self, error: &E) -> bool;
    /// Whether the operation's `error` says the dependency is overloaded (`overload_when`).
    fn is_overload(&self, error: &E) -> bool;
    /// Told before a retry (`notify`).
    fn notify(&mut self, failed_attempt: u32, error: &Error<E>, delay: Duration);
    /// The delay before a retry (`adjust`).
    fn adjust(&mut self, error: &Error<E>, delay: Duration) -> Duration;
}

impl<E, W, N, A, F, O> CallHooks<E> for Hooks<W, N, A, F, O>
where
    W: RetryWhen<E>,
    N: RetryNotify<Error<E>>,
    A: RetryAdjust<Error<E>>,
    F: RetryWhen<E>,
    O: RetryWhen<E>,
{
    fn retryable(&self, error: &E) -> bool {
        self.when.retryable(error)
    }

    fn is_failure(&self, error: &E) -> bool {
        self.failure_when.retryable(error)
    }

    fn is_overload(&self, error: &E) -> bool {
        self.overload_when.retryable(error)
    }

    fn notify(&mut self, failed_attempt: u32, error: &Error<E>, delay: Duration) {
        self.notify.notify(failed_attempt, error, delay);
    }

    fn adjust(&mut self, error: &Error<E>, delay: Duration) -> Duration {
        self.adjust.adjust(error, delay)
    }
}

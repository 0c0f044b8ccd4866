//! [`Hooks`]: the user's code that one call runs besides its operation.

use crate::retry::AnyError;

/// The hooks of one call: which operation errors are retried (`when`), who is told before a
/// retry (`notify`), how a retry's delay is adjusted (`adjust`), and which operation errors the
/// breaker counts as failures (`failure_when`). Each runs contained (see the crate docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hooks<W, N, A, F> {
    pub(crate) when: W,
    pub(crate) notify: N,
    pub(crate) adjust: A,
    pub(crate) failure_when: F,
}

/// What `gov.run` uses: every error retried and counted, nobody told, no delay adjusted.
pub(crate) const DEFAULT_HOOKS: Hooks<AnyError, (), (), AnyError> =
    Hooks { when: AnyError, notify: (), adjust: (), failure_when: AnyError };

impl<W, N, A, F> Hooks<W, N, A, F> {
    pub(crate) fn with_when<W2>(self, when: W2) -> Hooks<W2, N, A, F> {
        let Hooks { notify, adjust, failure_when, .. } = self;
        Hooks { when, notify, adjust, failure_when }
    }

    pub(crate) fn with_notify<N2>(self, notify: N2) -> Hooks<W, N2, A, F> {
        let Hooks { when, adjust, failure_when, .. } = self;
        Hooks { when, notify, adjust, failure_when }
    }

    pub(crate) fn with_adjust<A2>(self, adjust: A2) -> Hooks<W, N, A2, F> {
        let Hooks { when, notify, failure_when, .. } = self;
        Hooks { when, notify, adjust, failure_when }
    }

    pub(crate) fn with_failure_when<F2>(self, failure_when: F2) -> Hooks<W, N, A, F2> {
        let Hooks { when, notify, adjust, .. } = self;
        Hooks { when, notify, adjust, failure_when }
    }
}

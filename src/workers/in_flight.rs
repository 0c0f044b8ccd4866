//! [`InFlight`]: the guard a call or task holds from admission to its end. It counts the work
//! in and out of the drain, and records exactly one outcome — `abandoned` if its owner
//! dropped it first.

use std::ops::Deref;

use super::Workers;
use super::counters::Count;
use super::drain::Exit;
use super::supervise::Supervised;
use crate::{Error, Rejection};

#[derive(Debug)]
pub(crate) struct InFlight<W: Deref<Target = Workers>> {
    workers: W,
    name: &'static str,
    exit: Option<Exit>,
    /// Settled as a success: the drain counts the successes (see `Drain::succeeded`).
    succeeded: bool,
}

/// What settles: a call (`run`, `call`, tower), or spawned work, whose successes are also
/// counted apart — the retry budget counts calls only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Work {
    Call,
    Task,
}

impl<W: Deref<Target = Workers>> InFlight<W> {
    /// Admits one call named `name` (for its events), unless the governor is shutting down.
    pub(crate) fn enter(workers: W, name: &'static str) -> Result<Self, Rejection> {
        if workers.is_shedding() {
            let rejection = Rejection::Overloaded { level: crate::health::HealthLevel::Critical };
            return Err(record_rejection(&workers, rejection, name));
        }
        if workers.drain.enter() {
            return Ok(InFlight { workers, name, exit: None, succeeded: false });
        }
        workers.drain.leave(None, false);
        Err(record_rejection(&workers, Rejection::ShuttingDown, name))
    }

    pub(crate) fn workers(&self) -> &Workers {
        &self.workers
    }

    /// The call's name, for its events.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// Records that an admitted call was turned away before it ran.
    pub(crate) fn reject(&mut self, rejection: Rejection) -> Rejection {
        self.exit = Some(Exit::Evicted);
        record_rejection(&self.workers, rejection, self.name)
    }

    /// Records how the work ended and turns it into the call's result.
    #[inline]
    pub(crate) fn settle<T, E>(
        mut self,
        outcome: Supervised<Result<T, Error<E>>>,
        work: Work,
    ) -> Result<T, Error<E>> {
        let result = match outcome {
            Supervised::Finished(result) => result,
            Supervised::TimedOut(after) => Err(Error::Timeout { after }),
            Supervised::Panicked(message) => Err(Error::Panicked { message }),
            Supervised::Cancelled => Err(Error::Cancelled),
        };
        self.record(&result, work);
        result
    }

    #[inline]
    fn record<T, E>(&mut self, result: &Result<T, Error<E>>, work: Work) {
        #[cfg(feature = "metrics")]
        crate::metrics::events::settled(result);
        self.exit = Some(Exit::Finished);
        match result {
            // A call's success is counted by its leave, with no count of its own.
            Ok(_) => {
                self.succeeded = true;
                if work == Work::Task {
                    self.workers.counters.add(Count::TaskCompleted);
                }
            }
            Err(error) => self.record_error(error),
        }
    }

    /// The outcomes that are not a success: out of line, off the hot path.
    #[cold]
    #[inline(never)]
    fn record_error<E>(&mut self, error: &Error<E>) {
        let (counters, call) = (&self.workers.counters, self.name);
        match error {
            Error::Rejected(rejection) => {
                self.reject(*rejection);
            }
            Error::Operation(_) => {
                counters.add(Count::Failed);
                tracing::debug!(target: "bursar::workers", call, "operation failed");
            }
            Error::Timeout { after } => {
                counters.add(Count::Failed);
                counters.add(Count::TimedOut);
                tracing::warn!(target: "bursar::workers", call, ?after, "work ran past its time limit and was cancelled");
            }
            Error::Panicked { message } => {
                counters.add(Count::Failed);
                counters.add(Count::Panicked);
                tracing::error!(target: "bursar::workers", call, panic = %message, "work panicked; its worker was released");
            }
            Error::Cancelled => {
                counters.add(Count::Cancelled);
                self.exit = Some(Exit::Cancelled);
                tracing::info!(target: "bursar::workers", call, "work cancelled by shutdown");
            }
        }
    }
}

impl<W: Deref<Target = Workers>> Drop for InFlight<W> {
    #[inline]
    fn drop(&mut self) {
        let exit = match self.exit {
            Some(exit) => exit,
            None => self.abandoned(),
        };
        self.workers.drain.leave(Some(exit), self.succeeded);
    }
}

impl<W: Deref<Target = Workers>> InFlight<W> {
    /// Dropped by its owner before it settled: counted as abandoned.
    #[cold]
    #[inline(never)]
    fn abandoned(&self) -> Exit {
        self.workers.counters.add(Count::Abandoned);
        #[cfg(feature = "metrics")]
        crate::metrics::events::abandoned();
        tracing::debug!(target: "bursar::workers", call = self.name, "call dropped by its caller before it finished");
        Exit::Finished
    }
}

/// Every rejection passes here, and each ends its call: counted once, by reason.
fn record_rejection(workers: &Workers, rejection: Rejection, call: &'static str) -> Rejection {
    workers.counters.add_rejection(rejection);
    #[cfg(feature = "metrics")]
    crate::metrics::events::rejected(rejection);
    tracing::debug!(target: "bursar::workers", call, %rejection, "call rejected");
    rejection
}

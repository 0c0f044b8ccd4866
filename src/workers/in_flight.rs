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
    exit: Option<Exit>,
}

impl<W: Deref<Target = Workers>> InFlight<W> {
    /// Admits one call, unless the governor is shutting down.
    pub(crate) fn enter(workers: W) -> Result<Self, Rejection> {
        if workers.drain.enter() {
            return Ok(InFlight { workers, exit: None });
        }
        workers.drain.leave(None);
        Err(record_rejection(&workers, Rejection::ShuttingDown, "admission"))
    }

    pub(crate) fn workers(&self) -> &Workers {
        &self.workers
    }

    /// Records that an admitted call was turned away while waiting for a worker.
    pub(crate) fn reject(&mut self, rejection: Rejection) -> Rejection {
        self.exit = Some(Exit::Evicted);
        record_rejection(&self.workers, rejection, "queue")
    }

    /// Records how the work ended and turns it into the call's result.
    pub(crate) fn settle<T, E>(mut self, outcome: Supervised<Result<T, E>>) -> Result<T, Error<E>> {
        let counters = &self.workers.counters;
        self.exit = Some(Exit::Finished);
        match outcome {
            Supervised::Finished(Ok(value)) => {
                counters.add(Count::Completed);
                Ok(value)
            }
            Supervised::Finished(Err(error)) => {
                counters.add(Count::Failed);
                tracing::debug!(target: "bursar::workers", "operation failed");
                Err(Error::Operation(error))
            }
            Supervised::TimedOut(after) => {
                counters.add(Count::Failed);
                counters.add(Count::TimedOut);
                tracing::warn!(target: "bursar::workers", ?after, "work ran past its max task duration and was cancelled");
                Err(Error::Timeout { after })
            }
            Supervised::Panicked(message) => {
                counters.add(Count::Failed);
                counters.add(Count::Panicked);
                tracing::error!(target: "bursar::workers", panic = %message, "work panicked; its worker was released");
                Err(Error::Panicked { message })
            }
            Supervised::Cancelled => {
                counters.add(Count::Cancelled);
                self.exit = Some(Exit::Cancelled);
                tracing::info!(target: "bursar::workers", "work cancelled by shutdown");
                Err(Error::Cancelled)
            }
        }
    }
}

impl<W: Deref<Target = Workers>> Drop for InFlight<W> {
    fn drop(&mut self) {
        if self.exit.is_none() {
            self.workers.counters.add(Count::Abandoned);
            tracing::debug!(target: "bursar::workers", "call dropped by its caller before it finished");
        }
        self.workers.drain.leave(Some(self.exit.unwrap_or(Exit::Finished)));
    }
}

fn record_rejection(workers: &Workers, rejection: Rejection, stage: &'static str) -> Rejection {
    workers.counters.add_rejection(rejection);
    tracing::debug!(target: "bursar::workers", %rejection, stage, "call rejected");
    rejection
}

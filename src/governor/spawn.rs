//! Fire-and-forget work under the pool: tracked, bounded, and never silent.

use std::fmt::Debug;
use std::future::Future;
use std::panic::resume_unwind;
use std::sync::Arc;

use std::pin::pin;

use super::{Governor, TaskHandle};
use crate::workers::{InFlight, Lane, Permit, Ticket, Work, Workers, supervise};
use crate::{Error, Rejection};

impl Governor {
    /// Spawns `task` on the runtime under the worker pool: it waits for a worker like any
    /// call, runs at most the max task duration, and a failure or panic is a `tracing`
    /// warning or error and a counter — never silent. The returned handle may be awaited for
    /// the result or dropped to detach.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] at once if the governor is shutting down or the queue is full.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let gov = bursar::Governor::builder().build()?;
    /// let handle = gov.spawn(async { Ok::<_, std::io::Error>("report sent") })?;
    /// assert_eq!(handle.await?, "report sent");
    /// # Ok(()) }
    /// ```
    pub fn spawn<F, T, E>(&self, task: F) -> Result<TaskHandle<T, E>, Rejection>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Debug + Send + 'static,
    {
        // The task holds its worker while it runs: `supervised` keeps the permit beside it.
        self.spawn_governed(&self.inner.workers.tasks, "task", |permit| (Some(permit), task))
    }

    /// Runs the blocking closure `work` on Tokio's blocking threads, at most
    /// `blocking_threads` at once, behind its own bounded queue. A failure or panic is logged
    /// and counted like [`spawn`](Self::spawn).
    ///
    /// A blocking closure cannot be interrupted: past the max task duration (or at the end of
    /// a shutdown's grace) its handle resolves with [`Error::Timeout`] (or
    /// [`Error::Cancelled`]) but the thread keeps its place in the limit until the closure
    /// returns, so the limit on threads always holds.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] at once if the governor is shutting down or the blocking queue is full.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let gov = bursar::Governor::builder().blocking_threads(2).build()?;
    /// let digest = gov.spawn_blocking(|| Ok::<_, std::io::Error>((1..=100u32).sum::<u32>()))?;
    /// assert_eq!(digest.await?, 5050);
    /// # Ok(()) }
    /// ```
    pub fn spawn_blocking<F, T, E>(&self, work: F) -> Result<TaskHandle<T, E>, Rejection>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Debug + Send + 'static,
    {
        self.spawn_governed(&self.inner.workers.blocking, "blocking task", |permit| {
            // The thread holds the permit until the closure returns, even if we stop waiting.
            let thread = tokio::task::spawn_blocking(move || {
                let _thread = permit;
                work()
            });
            let waiting = async move {
                match thread.await {
                    Ok(result) => result,
                    // Re-raised here so supervision reports it as `Error::Panicked`.
                    Err(error) if error.is_panic() => resume_unwind(error.into_panic()),
                    Err(_) => {
                        resume_unwind(Box::new("the runtime shut down before the blocking closure ran"))
                    }
                }
            };
            (None, waiting)
        })
    }

    /// Admits one task to `lane` at once (or rejects it), then runs the work `start` makes
    /// with its permit on the runtime under supervision, logging any failure.
    fn spawn_governed<S, Fut, T, E>(
        &self,
        lane: &Arc<Lane>,
        kind: &'static str,
        start: S,
    ) -> Result<TaskHandle<T, E>, Rejection>
    where
        S: FnOnce(Permit<Arc<Lane>>) -> Started<Fut> + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Debug + Send + 'static,
    {
        let mut call = InFlight::enter(Arc::clone(&self.inner.workers), kind)?;
        let ticket = Ticket::reserve(Arc::clone(lane)).map_err(|rejection| call.reject(rejection))?;
        Ok(TaskHandle::new(self.inner.runtime.spawn(supervised(call, ticket, start))))
    }
}

/// Work made from its permit, and the permit to hold beside it while it runs — `None` when
/// the work holds it itself (a blocking closure's thread keeps it until the closure returns).
type Started<Fut> = (Option<Permit<Arc<Lane>>>, Fut);

/// One spawned task's whole life: it waits for its worker, runs the work under supervision
/// (max task duration, panics, shutdown), settles and logs the outcome. The max task duration
/// starts once the task has its worker: time in the queue has its own limit.
///
/// One `async fn` with nothing nested in it by value but the queue wait and the supervision:
/// each level of `async` wrapping keeps its own copy of what it was given, and the whole of
/// this future is most of the runtime's allocation for the task: a task of the spawn
/// benchmark was 640 bytes with this as three nested futures, and is 384 as one.
async fn supervised<S, Fut, T, E>(
    mut call: InFlight<Arc<Workers>>,
    ticket: Ticket<Arc<Lane>>,
    start: S,
) -> Result<T, Error<E>>
where
    S: FnOnce(Permit<Arc<Lane>>) -> Started<Fut>,
    Fut: Future<Output = Result<T, E>>,
    E: Debug,
{
    let permit = match ticket {
        Ticket::Ready(permit) => permit,
        Ticket::Waiting(slot) => match slot.wait().await {
            Ok(permit) => permit,
            Err(rejection) => return Err(call.reject(rejection).into()),
        },
    };
    let outcome = {
        let (_worker, work) = start(permit);
        let work = pin!(work);
        let workers = call.workers();
        supervise(work, workers.max_task_duration, &workers.drain).await
        // The work is dropped here, then its worker released: before the task settles.
    };
    let kind = call.name();
    let result = call.settle(outcome.map(|result| result.map_err(Error::Operation)), Work::Task);
    log_task_failure(&result, kind);
    result
}

/// Spawned work has no caller to see its error, so every failure is a warning.
fn log_task_failure<T, E: Debug>(result: &Result<T, Error<E>>, kind: &'static str) {
    if let Err(Error::Operation(error)) = result {
        tracing::warn!(target: "bursar::workers", kind, ?error, "spawned work failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runtime allocates a task in 128-byte lines, about 100 bytes of them its own: the
    /// future of a small task must stay within 280 bytes to keep to three lines (384 bytes).
    /// The `metrics` feature adds the queue-wait clock reading to each copy of the ticket.
    #[tokio::test]
    async fn a_small_tasks_future_fits_three_cache_lines_of_the_runtimes_task() {
        let gov = Governor::builder().build().expect("a valid governor");
        let workers = &gov.inner.workers;
        let call = InFlight::enter(Arc::clone(workers), "task").expect("admitted");
        let ticket = Ticket::reserve(Arc::clone(&workers.tasks)).expect("a worker");
        let counted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let work = async move {
            Ok::<_, std::io::Error>(counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
        };
        let task = supervised(call, ticket, |permit| (Some(permit), work));
        let size = std::mem::size_of_val(&task);
        let limit = if cfg!(feature = "metrics") { 312 } else { 280 };
        assert!(size <= limit, "a small task's future is {size} bytes");
        assert_eq!(task.await.expect("counted"), 0);
    }
}

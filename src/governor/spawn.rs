//! Fire-and-forget work under the pool: tracked, bounded, and never silent.

use std::fmt::Debug;
use std::future::Future;
use std::panic::resume_unwind;
use std::sync::Arc;

use super::run::governed;
use super::{Governor, TaskHandle};
use crate::workers::{InFlight, Lane, Permit, Ticket};
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
        self.spawn_governed(&self.inner.workers.tasks, "task", |permit| async move {
            let _worker = permit;
            task.await
        })
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
            async move {
                match thread.await {
                    Ok(result) => result,
                    // Re-raised here so supervision reports it as `Error::Panicked`.
                    Err(error) if error.is_panic() => resume_unwind(error.into_panic()),
                    Err(_) => {
                        resume_unwind(Box::new("the runtime shut down before the blocking closure ran"))
                    }
                }
            }
        })
    }

    /// Admits one task to `lane` at once (or rejects it), then runs `start` with its permit
    /// on the runtime under supervision, logging any failure.
    fn spawn_governed<S, Fut, T, E>(
        &self,
        lane: &Arc<Lane>,
        kind: &'static str,
        start: S,
    ) -> Result<TaskHandle<T, E>, Rejection>
    where
        S: FnOnce(Permit<Arc<Lane>>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Debug + Send + 'static,
    {
        let mut call = InFlight::enter(Arc::clone(&self.inner.workers), kind)?;
        let ticket = Ticket::reserve(Arc::clone(lane)).map_err(|rejection| call.reject(rejection))?;
        let join = self.inner.runtime.spawn(async move {
            let cut_off = std::sync::atomic::AtomicBool::new(false);
            let result = governed(call, Ok(ticket), &cut_off, |permit| async move {
                start(permit).await.map_err(Error::Operation)
            })
            .await;
            log_task_failure(&result, kind);
            result
        });
        Ok(TaskHandle::new(join))
    }
}

/// Spawned work has no caller to see its error, so every failure is a warning.
fn log_task_failure<T, E: Debug>(result: &Result<T, Error<E>>, kind: &'static str) {
    if let Err(Error::Operation(error)) = result {
        tracing::warn!(target: "bursar::workers", kind, ?error, "spawned work failed");
    }
}

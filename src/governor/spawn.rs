//! Fire-and-forget work under the pool: tracked, bounded, and never silent.

use std::fmt::Debug;
use std::future::{Future, poll_fn};
use std::panic::resume_unwind;
use std::pin::pin;
use std::sync::Arc;

use super::{Governor, TaskHandle};
use crate::contain::UserCode;
use crate::fleet::{AttemptGuard, Fleet};
use crate::workers::{InFlight, LaneKind, Supervised, Work, Workers, supervise};
use crate::{Error, Rejection};

impl Governor {
    /// Spawns `task` on the runtime under the worker pool: it waits for a worker like any
    /// call, runs at most the max task duration, and a failure or panic is a `tracing`
    /// warning or error and a counter — never silent. With a fleet resource
    /// (`GovernorConfig::fleet`) it also runs under a lease, as a call's attempt does. The
    /// returned handle may be awaited for the result or dropped to detach.
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
        // The task's worker is held by its `InFlight` while the task runs.
        match &self.inner.fleet {
            None => self.spawn_governed(LaneKind::Tasks, "task", |_task| task),
            Some(fleet) => {
                let fleet = Arc::clone(fleet);
                self.spawn_governed(LaneKind::Tasks, "task", move |_task| leased(task, &fleet))
            }
        }
    }

    /// [`spawn`](Self::spawn) for a loop that spawns more work than the queue holds: where
    /// `spawn` fails at once with [`Rejection::QueueFull`], this waits until a worker or a
    /// place in the queue is given back, so the loop goes at the pace of the workers and no
    /// task is turned away. Everything else is `spawn`'s: the same queue, queue timeout, max
    /// task duration, events and counters; a task is counted as rejected only if it is.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] if the governor is shutting down (also while this waits) or health
    /// sheds work; never `QueueFull`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped while it waits, it spawns nothing, holds nothing, and the task is
    /// dropped (counted as abandoned, as a dropped queued call is).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    ///
    /// # // Health off: a busy machine's sample must not shed the doctest's calls.
    /// # let health = bursar::health::HealthConfig::disabled();
    /// let gov = bursar::Governor::builder().max_workers(4).queue_limit(8).health(health).build()?;
    /// let mut handles = Vec::new();
    /// for page in 0..1_000 {
    ///     // `gov.spawn` would reject most of these: 4 run and 8 wait at a time.
    ///     let task = async move {
    ///         tokio::time::sleep(Duration::from_millis(100)).await;
    ///         Ok::<_, std::io::Error>(page)
    ///     };
    ///     handles.push(gov.spawn_queued(task).await?);
    /// }
    /// for handle in handles {
    ///     handle.await?;
    /// }
    /// assert_eq!((gov.status().workers.completed, gov.status().workers.rejected), (1_000, 0));
    /// # Ok(()) }
    /// ```
    pub async fn spawn_queued<F, T, E>(&self, task: F) -> Result<TaskHandle<T, E>, Rejection>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Debug + Send + 'static,
    {
        let workers = &self.inner.workers;
        let mut guard = InFlight::enter(Arc::clone(workers), "task")?;
        let lane = workers.lane(LaneKind::Tasks);
        if let Err(rejection) = lane.wait_for_place(|| guard.try_hold(LaneKind::Tasks)).await {
            return Err(guard.reject(rejection));
        }
        let spawned = match &self.inner.fleet {
            None => self.inner.runtime.spawn(supervised(guard, |_task| task)),
            Some(fleet) => {
                let fleet = Arc::clone(fleet);
                self.inner.runtime.spawn(supervised(guard, move |_task| leased(task, &fleet)))
            }
        };
        Ok(TaskHandle::new(spawned))
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
        self.spawn_governed(LaneKind::Blocking, "blocking task", |task| {
            // The thread holds the permit until the closure returns, even if we stop waiting.
            let permit = task.hand_over_worker();
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

    /// Admits one task to the `kind` lane at once (or rejects it), then runs the work `start`
    /// makes on the runtime under supervision, logging any failure.
    fn spawn_governed<S, Fut, T, E>(
        &self,
        kind: LaneKind,
        name: &'static str,
        start: S,
    ) -> Result<TaskHandle<T, E>, Rejection>
    where
        S: FnOnce(&mut Task) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: WorkOutput<T, E>,
        T: Send + 'static,
        E: Debug + Send + 'static,
    {
        let mut task = InFlight::enter(Arc::clone(&self.inner.workers), name)?;
        task.hold(kind)?;
        Ok(TaskHandle::new(self.inner.runtime.spawn(supervised(task, start))))
    }
}

/// A spawned task's guard: it holds the task's place in its lane, a queue place then a worker.
type Task = InFlight<Arc<Workers>>;

/// One spawned task's whole life: it waits for its worker, runs the work `start` makes under
/// supervision (max task duration, panics, shutdown), settles and logs the outcome. The max
/// task duration starts once the task has its worker: time in the queue has its own limit.
///
/// This future is most of the runtime's allocation for the task, so it is kept small: one
/// `async` block, whose wait for a worker borrows the task's lane and shares its place with the
/// work (a task waits or runs, never both), holding one handle to the workers (the task's place
/// is in its `InFlight`). A unit test below holds a small task's future to the size that keeps
/// the whole task in two of the runtime's lines; as an `async fn`, which keeps a second copy of
/// its arguments, it would not fit.
#[allow(
    clippy::manual_async_fn,
    reason = "an `async fn` keeps a second copy of its arguments (size test below)"
)]
fn supervised<S, Fut, T, E>(mut task: Task, start: S) -> impl Future<Output = Result<T, Error<E>>>
where
    S: FnOnce(&mut Task) -> Fut,
    Fut: Future,
    Fut::Output: WorkOutput<T, E>,
    E: Debug,
{
    async move {
        if let Some(lane) = task.queued_on() {
            if let Err(rejection) = lane.wait_for_permit().await {
                return Err(task.reject(rejection).into());
            }
            task.got_worker();
        }
        let outcome = {
            let mut work = pin!(Some(start(&mut task)));
            let workers = task.workers();
            let outcome = supervise(work.as_mut(), workers).await;
            // Work cut off still holds its future, whose drop is user code: dropped contained,
            // before the task settles and gives its worker back.
            if !matches!(outcome, Supervised::Finished(_)) {
                workers.containment.drop_in_place(UserCode::OperationDrop, work);
            }
            outcome
        };
        let name = task.name();
        let result = task.settle(outcome.map(WorkOutput::into_result), Work::Task);
        log_task_failure(&result, name);
        result
    }
}

/// What a spawned task's work ends with: the task's own result, or, under a fleet lease, the
/// governor's (the lease refused or lost).
trait WorkOutput<T, E> {
    fn into_result(self) -> Result<T, Error<E>>;
}

impl<T, E> WorkOutput<T, E> for Result<T, E> {
    fn into_result(self) -> Result<T, Error<E>> {
        self.map_err(Error::Operation)
    }
}

/// The result of work run under a fleet lease.
struct Leased<T, E>(Result<T, Error<E>>);

impl<T, E> WorkOutput<T, E> for Leased<T, E> {
    fn into_result(self) -> Result<T, Error<E>> {
        self.0
    }
}

/// `work` under a lease on the governor's fleet resource, as each attempt of a call takes one:
/// it waits for the lease, runs with the lease's [`FencingToken`](crate::fleet::FencingToken)
/// current, and ends with [`Error::LeaseLost`] if a renewal finds the lease gone (or with the
/// rejection `on_backend_down` gives when the backend cannot be asked). The lease goes back
/// when the work ends or is dropped.
fn leased<F, T, E>(work: F, fleet: &Arc<Fleet>) -> impl Future<Output = Leased<T, E>> + use<F, T, E>
where
    F: Future<Output = Result<T, E>>,
{
    let mut guard = AttemptGuard::start(None, Some(fleet));
    async move {
        let mut work = pin!(work);
        Leased(poll_fn(|cx| guard.poll_attempt(work.as_mut(), cx)).await)
    }
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

    /// The runtime allocates a task in 128-byte lines, 104 bytes of them its own: a small
    /// task's future must stay within 152 bytes to keep to two lines (256 bytes), the size of
    /// a bare `tokio::spawn` of a semaphore-gated task. The `metrics` feature adds the queue
    /// wait's clock reading.
    #[tokio::test]
    async fn a_small_tasks_future_fits_two_cache_lines_of_the_runtimes_task() {
        let gov = Governor::builder().max_workers(1).build().expect("a valid governor");
        let workers = &gov.inner.workers;
        let mut task = InFlight::enter(Arc::clone(workers), "task").expect("admitted");
        task.hold(LaneKind::Tasks).expect("a worker");
        let counted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let work = async move {
            Ok::<_, std::io::Error>(counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
        };
        let future = supervised(task, |_task| work);
        let size = std::mem::size_of_val(&future);
        let limit = if cfg!(feature = "metrics") { 168 } else { 152 };
        assert!(size <= limit, "a small task's future is {size} bytes");
        assert_eq!(future.await.expect("counted"), 0);
        assert_eq!((workers.tasks.in_use(), workers.tasks.available()), (0, 1));
    }
}

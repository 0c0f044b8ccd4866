//! Fire-and-forget work under the pool: tracked, bounded, and never silent.

use std::fmt::Debug;
use std::future::Future;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::{Governor, TaskHandle};
use crate::contain::{UserCode, catch};
use crate::workers::{InFlight, Lane, LaneKind, Supervised, Watch, Work, Workers};
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
        // The task's worker is held by its `InFlight` while the task runs.
        self.spawn_governed(LaneKind::Tasks, "task", |_task| task)
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
        Fut: Future<Output = Result<T, E>> + Send + 'static,
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

pin_project! {
    /// One spawned task's whole life: it waits for its worker, runs the work `start` makes
    /// under supervision (max task duration, panics, shutdown), settles and logs the outcome.
    /// The max task duration starts once the task has its worker: time in the queue has its
    /// own limit.
    ///
    /// This future is most of the runtime's allocation for the task, so it is kept small: the
    /// wait for a worker and the watch are boxed apart, and the task's place in its lane is
    /// kept in its `InFlight`. A unit test below holds a small task's future to the size that
    /// keeps the whole task in two of the runtime's lines.
    struct Spawned<S, Fut> {
        // The step first: the work is dropped before the task's guard, so a task dropped
        // mid-way frees its worker before it counts as ended.
        #[pin]
        step: TaskStep<S, Fut>,
        task: Option<Task>,
        watch: Watch<'static>,
    }
}

pin_project! {
    /// Where a spawned task is.
    #[project = TaskStepProj]
    enum TaskStep<S, Fut> {
        /// Not started: waiting for its worker, if the lane had none free.
        Waiting { start: Option<S>, wait: Option<WorkerWait> },
        Running { #[pin] work: Fut },
        Done,
    }
}

/// A task's wait for its worker, boxed: only tasks that queue need one.
type WorkerWait = Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send>>;

fn supervised<S: FnOnce(&mut Task) -> Fut, Fut>(task: Task, start: S) -> Spawned<S, Fut> {
    let step = TaskStep::Waiting { start: Some(start), wait: None };
    Spawned { step, task: Some(task), watch: Watch::default() }
}

impl<S, Fut, T, E> Future for Spawned<S, Fut>
where
    S: FnOnce(&mut Task) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Debug,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (mut step, held) = (this.step, this.task);
        let task = held.as_mut().expect("a spawned task's future is not polled after it completed");
        if let TaskStepProj::Waiting { start, wait } = step.as_mut().project() {
            if let Some(lane) = task.queued_on() {
                let wait = wait.get_or_insert_with(|| Box::pin(wait_for_worker(Arc::clone(lane))));
                if let Err(rejection) = ready!(wait.as_mut().poll(cx)) {
                    step.set(TaskStep::Done);
                    let rejection = task.reject(rejection);
                    held.take();
                    return Poll::Ready(Err(rejection.into()));
                }
                task.got_worker();
            }
            let start = start.take().expect("a task starts once");
            let work = start(task);
            step.set(TaskStep::Running { work });
        }
        let TaskStepProj::Running { work } = step.as_mut().project() else {
            unreachable!("a task runs once it has its worker")
        };
        let max_duration = task.workers().max_task_duration;
        let outcome = match catch(|| work.poll(cx)) {
            Ok(Poll::Ready(result)) => Supervised::Finished(result),
            Err(message) => Supervised::Panicked(message),
            Ok(Poll::Pending) => {
                ready!(this.watch.poll_shared(max_duration, task.shared(), cx)).outcome(max_duration)
            }
        };
        // Work cut off still holds its future, whose drop is user code: dropped contained,
        // before the task settles and gives its worker back.
        if !matches!(outcome, Supervised::Finished(_)) {
            let _ = task.workers().containment.call(UserCode::OperationDrop, || step.set(TaskStep::Done));
        }
        step.set(TaskStep::Done);
        let task = held.take().expect("settled once");
        let name = task.name();
        let result = task.settle(outcome.map(|result| result.map_err(Error::Operation)), Work::Task);
        log_task_failure(&result, name);
        Poll::Ready(result)
    }
}

/// Waits in `lane`'s queue until a permit is free (the task's `InFlight` holds its place).
async fn wait_for_worker(lane: Arc<Lane>) -> Result<(), Rejection> {
    match lane.queue_timeout {
        None => Lane::granted(lane.acquire().await),
        Some(waited) => lane.acquire_within(waited).await,
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

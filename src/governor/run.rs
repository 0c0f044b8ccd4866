//! The call path (`# Order`): admission, then under the max task duration the attempts —
//! each takes a worker permit, runs the operation (under the attempt timeout, if any), and
//! after a retryable failure sleeps its backoff *without* holding the permit.

use std::future::Future;
use std::ops::Deref;
use std::pin::pin;
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::Governor;
use crate::retry::{AnyError, Attempts, RetryAdjust, RetryNotify, RetryWhen};
use crate::workers::{Count, InFlight, Lane, Permit, Ticket, Workers, supervise};
use crate::{Error, Rejection};

/// One call's retry settings: the governor's defaults, changed by [`Call`](super::Call).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallPlan {
    pub(crate) max_attempts: u32,
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) name: &'static str,
}

impl CallPlan {
    pub(crate) fn new(gov: &Governor) -> Self {
        let retry = &gov.inner.retry;
        CallPlan {
            max_attempts: retry.max_attempts,
            attempt_timeout: None,
            deadline: retry.deadline,
            name: "call",
        }
    }
}

impl Governor {
    /// Runs `op` under the governor with its default retry policy: it waits for a worker (or
    /// is rejected), retries transient failures with backoff, runs at most the max task
    /// duration in all, and a panic inside it becomes [`Error::Panicked`].
    ///
    /// `op` is a closure that makes the operation's future, so each attempt gets a fresh one.
    /// Use [`call`](Governor::call) to change the policy for one call.
    ///
    /// # Order
    ///
    /// 1. Admission: a shutting-down governor rejects at once.
    /// 2. Each attempt takes a worker (a full queue rejects at once; the queue timeout rejects
    ///    a long wait), runs `op`, and gives the worker back.
    /// 3. The max task duration starts when the call first gets a worker and covers all of it
    ///    from then on: attempts, backoff sleeps and waits for a worker between attempts.
    /// 4. A retryable failure (by default: every operation error and attempt timeout) sleeps
    ///    the schedule's next delay — holding no worker — while attempts, deadline and the
    ///    governor's retry budget allow; otherwise its error is returned.
    ///
    /// # Errors
    ///
    /// - [`Error::Rejected`]: the queue was full, the queue timeout passed, or the governor is
    ///   shutting down. Never retried.
    /// - [`Error::Timeout`]: the last attempt ran past its timeout, or the call past the max
    ///   task duration (then it is cancelled and not retried).
    /// - [`Error::Panicked`]: the operation panicked. Never retried.
    /// - [`Error::Cancelled`]: a shutdown's grace period ended first.
    /// - [`Error::Operation`]: the operation's own error, from the last attempt.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropping the future at any point — waiting in the queue, running, or
    /// sleeping between attempts — drops the operation, frees its queue place or worker, and
    /// counts the call as `abandoned`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), bursar::BuildError> {
    /// let gov = bursar::Governor::builder().build()?;
    /// let page = gov.run(|| async { Ok::<_, std::io::Error>("<html>") }).await;
    /// assert_eq!(page.unwrap(), "<html>");
    ///
    /// // Fails every time: three attempts, 2 s and 4 s apart, then the last error.
    /// let started = tokio::time::Instant::now();
    /// let failed = gov.run(|| async { Err::<(), _>("driver closed the connection") }).await;
    /// assert!(matches!(failed, Err(bursar::Error::Operation("driver closed the connection"))));
    /// assert_eq!(started.elapsed().as_secs(), 6);
    /// # Ok(()) }
    /// ```
    pub async fn run<Op, Fut, T, E>(&self, op: Op) -> Result<T, Error<E>>
    where
        Op: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.execute(op, CallPlan::new(self), (AnyError, (), ())).await
    }

    pub(super) async fn execute<Op, Fut, T, E, W, N, A>(
        &self,
        mut op: Op,
        plan: CallPlan,
        mut hooks: (W, N, A),
    ) -> Result<T, Error<E>>
    where
        Op: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        W: RetryWhen<E>,
        N: RetryNotify<Error<E>>,
        A: RetryAdjust<Error<E>>,
    {
        let workers = &*self.inner.workers;
        let call = InFlight::enter(workers, plan.name)?;
        let first = Ticket::reserve(&*workers.tasks);
        governed(call, first, |permit| self.attempts(permit, &mut op, plan, &mut hooks)).await
    }

    /// The retry loop of one call.
    async fn attempts<Op, Fut, T, E, W, N, A>(
        &self,
        first: Permit<&Lane>,
        op: &mut Op,
        plan: CallPlan,
        (when, notify, adjust): &mut (W, N, A),
    ) -> Result<T, Error<E>>
    where
        Op: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        W: RetryWhen<E>,
        N: RetryNotify<Error<E>>,
        A: RetryAdjust<Error<E>>,
    {
        let (workers, retry) = (&*self.inner.workers, &self.inner.retry);
        retry.record_call();
        // Only a call with a deadline reads the clock before it fails.
        let deadline = plan.deadline.and_then(|deadline| Instant::now().checked_add(deadline));
        let mut attempts = None;
        let mut permit = first;
        loop {
            let error = match attempt(permit, op, plan.attempt_timeout).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let retryable = match &error {
                Error::Operation(inner) => when.retryable(inner),
                Error::Timeout { .. } => true,
                _ => false,
            };
            if !retryable {
                return Err(error);
            }
            let attempts =
                attempts.get_or_insert_with(|| Attempts::new(retry.schedule(), plan.max_attempts, deadline));
            let failed = attempts.made();
            let next_attempt = plan.attempt_timeout.unwrap_or(Duration::ZERO);
            let delay = match attempts.next_delay(|delay| adjust.adjust(&error, delay), next_attempt) {
                Ok(delay) => delay,
                Err(stop) => {
                    tracing::debug!(target: "bursar::retry", call = plan.name, ?stop, "retrying ends");
                    return Err(error);
                }
            };
            if !retry.allow_retry() {
                workers.counters.add(Count::BudgetExhausted);
                tracing::warn!(target: "bursar::retry", call = plan.name, "retry budget spent; returning the last error");
                return Err(error);
            }
            workers.counters.add(Count::Retries);
            notify.notify(failed, &error, delay);
            tracing::debug!(target: "bursar::retry", call = plan.name, attempt = failed, ?delay, "attempt failed; retrying");
            workers.backing_off(sleep(delay)).await;
            permit = Ticket::reserve(&*workers.tasks)?.ready().await?;
        }
    }
}

/// One attempt: the operation, holding its worker, under the attempt timeout if there is one.
async fn attempt<L, Op, Fut, T, E>(
    permit: Permit<L>,
    op: &mut Op,
    timeout: Option<Duration>,
) -> Result<T, Error<E>>
where
    L: Deref<Target = Lane>,
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let _worker = permit;
    let outcome = match timeout {
        None => op().await,
        Some(after) => {
            tokio::time::timeout(after, op()).await.map_err(|_elapsed| Error::Timeout { after })?
        }
    };
    outcome.map_err(Error::Operation)
}

/// Waits for the call's first worker, then runs `work` with it under supervision (max task
/// duration, panics, shutdown) and settles the outcome. The max task duration starts once the
/// call has its first worker: time in the queue has its own limit, the queue timeout.
pub(super) async fn governed<W, L, S, Fut, T, E>(
    mut call: InFlight<W>,
    first: Result<Ticket<L>, Rejection>,
    work: S,
) -> Result<T, Error<E>>
where
    W: Deref<Target = Workers>,
    L: Deref<Target = Lane> + Clone,
    S: FnOnce(Permit<L>) -> Fut,
    Fut: Future<Output = Result<T, Error<E>>>,
{
    let permit = match first {
        // The hot path: a free worker, no queue future to build.
        Ok(Ticket::Ready(permit)) => Ok(permit),
        Ok(ticket) => ticket.ready().await,
        Err(rejection) => Err(rejection),
    };
    let permit = permit.map_err(|rejection| call.reject(rejection))?;
    let workers = call.workers();
    let work = pin!(work(permit));
    let outcome = supervise(work, workers.max_task_duration, &workers.drain).await;
    call.settle(outcome)
}

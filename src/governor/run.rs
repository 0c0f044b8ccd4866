//! The call path (`# Order`): admission, the circuit breaker, then under the max task
//! duration the attempts — each takes a worker permit, runs the operation (under the attempt
//! timeout, if any), reports to the breaker, and after a retryable failure sleeps its backoff
//! *without* holding the permit.

use std::borrow::Borrow;
use std::future::Future;
use std::ops::Deref;
use std::pin::pin;
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::Governor;
use super::breakers::BreakerRef;
use super::hooks::{DEFAULT_HOOKS, Hooks};
use crate::breaker::{BreakerState, CircuitBreaker, Outcome, Permit};
use crate::contain::{Containment, UserCode};
use crate::retry::{Attempts, RetryAdjust, RetryNotify, RetryWhen, Stop};
use crate::workers::{
    Count, InFlight, Lane, Supervised, Work, WorkerPermit, WorkerTicket, Workers, drop_cut_off, is_nested,
    supervise,
};
use crate::{Error, Rejection};

/// One call's settings: the governor's defaults, changed by [`Call`](super::Call).
#[derive(Debug, Clone)]
pub(crate) struct CallPlan {
    pub(crate) max_attempts: u32,
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) name: &'static str,
    /// The breaker key; `None` uses the default breaker.
    pub(crate) key: Option<String>,
}

impl CallPlan {
    /// The governor's default plan (kept in the governor, so `run` builds none per call).
    pub(crate) fn new(gov: &Governor) -> Self {
        gov.inner.default_plan.clone()
    }

    /// The plan the retry policy gives.
    pub(crate) fn of(retry: &crate::retry::RetryPolicy) -> Self {
        CallPlan {
            max_attempts: retry.max_attempts,
            attempt_timeout: None,
            deadline: retry.deadline,
            name: "call",
            key: None,
        }
    }
}

impl Governor {
    /// Runs `op` under the governor with its default policy: it passes the circuit breaker,
    /// waits for a worker (or is rejected), retries transient failures with backoff, runs at
    /// most the max task duration in all, and a panic inside it becomes [`Error::Panicked`].
    ///
    /// `op` is a closure that makes the operation's future, so each attempt gets a fresh one.
    /// Use [`call`](Governor::call) to change the policy for one call.
    ///
    /// # Order
    ///
    /// 1. Admission: a shutting-down governor rejects at once; so does a critical health level.
    /// 2. The circuit breaker: an open circuit rejects at once with
    ///    [`Rejection::CircuitOpen`] — the call takes no queue place. A call that has to wait
    ///    in the queue holds no half-open probe slot while it waits, and the breaker is asked
    ///    again when its worker comes if it moved on meanwhile (opened, half-opened, closed
    ///    anew) or the call had been admitted as the probe: it is rejected the same way,
    ///    without running, or it runs as the probe. So calls that queued while the circuit
    ///    opened neither hit the dependency the breaker gave up on nor flood its probe.
    /// 3. Each attempt takes a worker (a full queue rejects at once; the queue timeout rejects
    ///    a long wait), runs `op`, gives the worker back and reports to the breaker.
    /// 4. The max task duration starts when the call first gets a worker and covers all of it
    ///    from then on: attempts, backoff sleeps and waits for a worker between attempts. The
    ///    retry deadline ([`Call::deadline`](crate::Call::deadline)) counts from the call's
    ///    start, time in the queue included.
    /// 5. A retryable failure (by default: every operation error and attempt timeout) sleeps
    ///    the schedule's next delay — holding no worker — while attempts, deadline, the
    ///    governor's retry budget and the breaker allow; otherwise its error is returned.
    ///    A retry that cannot run — the governor shuts down during the sleep (which then ends at
    ///    once), the queue is full, the queue timeout passes, the breaker opened — ends the call
    ///    with the operation's last error, counted as failed; `retries` counts retries that ran.
    ///    Retries take their worker first, then ask the breaker; the first attempt asks the
    ///    breaker first, so that an open circuit turns a new call away without a queue place.
    ///
    /// # Errors
    ///
    /// - [`Error::Rejected`]: the circuit is open, the queue was full, the queue timeout
    ///   passed, the governor is shutting down, or health is critical — before the first
    ///   attempt. Never retried.
    /// - [`Error::Operation`]: the operation's own error, from the last attempt that ran.
    /// - [`Error::Timeout`]: the last attempt ran past its timeout, or the call past the max
    ///   task duration (then it is cancelled and not retried).
    /// - [`Error::Panicked`]: the operation panicked. Never retried.
    /// - [`Error::Cancelled`]: a shutdown's grace period ended first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropping the future at any point — waiting in the queue, running, or
    /// sleeping between attempts — drops the operation, frees its queue place, worker and
    /// half-open probe slot, and counts the call as `abandoned`; the breaker ignores it.
    /// A future that is neither polled nor dropped keeps what it holds: drive it or drop it.
    ///
    /// # Panics
    ///
    /// Never because of your code: a panic in the operation, in the drop of its future when the
    /// governor cancels it, or in a hook (`when`, `failure_when`, `notify`, `adjust`) is
    /// contained (see the crate docs' table).
    ///
    /// # Nested calls
    ///
    /// A call made from inside an operation of the same governor needs a worker of its own.
    /// If it has to wait for one while its caller holds one, that is a `WARN` event: with every
    /// worker held that way it waits until the max task duration.
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
    // Not an `async fn`: it returns the call path's future itself, so the call's state is not
    // moved into one more future on every call. Nothing runs until the future is polled.
    pub fn run<Op, Fut, T, E>(&self, op: Op) -> impl Future<Output = Result<T, Error<E>>>
    where
        Op: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.execute(op, &self.inner.default_plan, DEFAULT_HOOKS)
    }

    #[allow(
        clippy::manual_async_fn,
        reason = "an `async fn` keeps a second copy of its arguments in its future"
    )]
    pub(crate) fn execute<Op, Fut, T, E, W, N, A, F>(
        &self,
        mut op: Op,
        plan: impl Borrow<CallPlan>,
        mut hooks: Hooks<W, N, A, F>,
    ) -> impl Future<Output = Result<T, Error<E>>>
    where
        Op: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        W: RetryWhen<E>,
        N: RetryNotify<Error<E>>,
        A: RetryAdjust<Error<E>>,
        F: RetryWhen<E>,
    {
        async move {
            let workers = &*self.inner.workers;
            let plan = plan.borrow();
            let call = InFlight::enter(workers, plan.name)?;
            self.execute_admitted(call, || WorkerTicket::reserve(&*workers.tasks), &mut op, plan, &mut hooks)
                .await
        }
    }

    /// The call path after admission: the breaker, then `first` gives the first worker's
    /// ticket (a call whose worker was reserved in advance passes it ready), then the attempts.
    #[allow(
        clippy::manual_async_fn,
        reason = "an `async fn` keeps a second copy of its arguments in its future"
    )]
    pub(crate) fn execute_admitted<Wk, L, R, Op, Fut, T, E, W, N, A, F>(
        &self,
        mut call: InFlight<Wk>,
        first: R,
        op: &mut Op,
        plan: &CallPlan,
        hooks: &mut Hooks<W, N, A, F>,
    ) -> impl Future<Output = Result<T, Error<E>>>
    where
        Wk: Deref<Target = Workers>,
        L: Deref<Target = Lane> + Clone,
        R: FnOnce() -> Result<WorkerTicket<L>, Rejection>,
        Op: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        W: RetryWhen<E>,
        N: RetryNotify<Error<E>>,
        A: RetryAdjust<Error<E>>,
        F: RetryWhen<E>,
    {
        async move {
            // The default breaker without a `BreakerRef` to go through on every use.
            let keyed: BreakerRef<'_>;
            let breaker: &CircuitBreaker = match &plan.key {
                None => &self.inner.breakers.default,
                Some(key) => {
                    keyed = self.inner.breakers.for_key(Some(key));
                    &keyed
                }
            };
            // The retry deadline counts from the call's start, queueing included; only a call
            // with a deadline reads the clock for it.
            let deadline = plan.deadline.and_then(|deadline| Instant::now().checked_add(deadline));
            let admitted = match breaker.try_acquire() {
                Ok(probe) => probe,
                Err(open) => {
                    let rejection = Rejection::CircuitOpen { retry_after: open.retry_after };
                    return Err(call.reject(rejection).into());
                }
            };
            // `governed`, inline: one future fewer to build and move on every call.
            let (permit, mut probe) = match first() {
                // The hot path: a free worker, no queue future to build.
                Ok(WorkerTicket::Ready(permit)) => (permit, admitted),
                Ok(ticket) => {
                    warn_if_nested(call.workers(), plan.name);
                    queued(ticket, admitted, breaker).await.map_err(|rejection| call.reject(rejection))?
                }
                Err(rejection) => return Err(call.reject(rejection).into()),
            };
            let workers = call.workers();
            let outcome = {
                let mut work =
                    pin!(Some(self.attempts(permit, &mut probe, breaker, op, plan, hooks, deadline)));
                let outcome =
                    supervise::<_, true>(work.as_mut(), workers.max_task_duration, &workers.drain).await;
                drop_cut_off(work, &outcome, &workers.containment);
                outcome
            };
            // Reported here, after the unwinding, never from a drop: the breaker's transition
            // callback is user code and must not run while a panic unwinds.
            if let Supervised::Panicked(_) | Supervised::TimedOut(_) = outcome {
                probe.record_timed(Outcome::Failure, Duration::ZERO);
            }
            call.settle(outcome, Work::Call)
        }
    }

    /// The first attempt of one call, then — boxed, only after a retryable failure — the
    /// retry loop. The loop's state (schedule, backoff sleep, waits for a worker) lives in
    /// its own allocation, so the call's future does not carry it.
    #[allow(clippy::too_many_arguments, reason = "the loop's state, borrowed from `execute`")]
    #[allow(
        clippy::manual_async_fn,
        reason = "an `async fn` keeps a second copy of its arguments in its future"
    )]
    fn attempts<'b, L, Op, Fut, T, E, W, N, A, F>(
        &self,
        first: WorkerPermit<L>,
        probe: &mut Permit<'b>,
        breaker: &'b CircuitBreaker,
        op: &mut Op,
        plan: &CallPlan,
        hooks: &mut Hooks<W, N, A, F>,
        deadline: Option<Instant>,
    ) -> impl Future<Output = Result<T, Error<E>>>
    where
        L: Deref<Target = Lane>,
        Op: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        W: RetryWhen<E>,
        N: RetryNotify<Error<E>>,
        A: RetryAdjust<Error<E>>,
        F: RetryWhen<E>,
    {
        async move {
            let report = Report::new(probe, breaker);
            // The attempt, inline (not a future of its own, which would be moved on every call):
            // the operation, holding its worker, under the attempt timeout if any.
            let result = {
                let _worker = first;
                match plan.attempt_timeout {
                    None => op().await.map_err(Error::Operation),
                    Some(after) => match tokio::time::timeout(after, op()).await {
                        Ok(outcome) => outcome.map_err(Error::Operation),
                        Err(_elapsed) => Err(Error::Timeout { after }),
                    },
                }
            };
            // Read after the attempt, not kept across it: a call's future holds no more than it must.
            let contained = &*self.inner.workers.containment;
            report.outcome(&result, &hooks.failure_when, contained);
            let error = match result {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            // A success counts into the retry budget through the completed count; a failure here.
            self.inner.retry.first_attempt_failed();
            if !retryable(&error, &hooks.when, contained) {
                return Err(error);
            }
            if plan.max_attempts <= 1 {
                // No retry can follow: the loop's answer, without allocating the loop.
                tracing::debug!(target: "bursar::retry", call = plan.name, stop = ?Stop::Attempts, "retrying ends");
                return Err(error);
            }
            Box::pin(self.retries(error, deadline, probe, breaker, op, plan, hooks)).await
        }
    }

    /// The retry loop of one call, after its first attempt failed with `error`, retryably.
    /// Each retry's breaker permit goes into `probe`, which the call keeps: a retry that
    /// panics or is cut off is reported by the call, after the unwinding.
    ///
    /// A retry that cannot run — the governor closed during its backoff, the queue was full,
    /// the queue timeout passed, the breaker turned it away — ends the call with the last
    /// operation error, which is what the call failed with; `retries` counts only retries
    /// that ran.
    #[allow(clippy::too_many_arguments, reason = "the loop's state, borrowed from `execute`")]
    async fn retries<'b, Op, Fut, T, E, W, N, A, F>(
        &self,
        mut error: Error<E>,
        deadline: Option<Instant>,
        probe: &mut Permit<'b>,
        breaker: &'b CircuitBreaker,
        op: &mut Op,
        plan: &CallPlan,
        Hooks { when, notify, adjust, failure_when }: &mut Hooks<W, N, A, F>,
    ) -> Result<T, Error<E>>
    where
        Op: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        W: RetryWhen<E>,
        N: RetryNotify<Error<E>>,
        A: RetryAdjust<Error<E>>,
        F: RetryWhen<E>,
    {
        let (workers, retry) = (&*self.inner.workers, &self.inner.retry);
        let contained = &*workers.containment;
        let mut attempts = Attempts::new(retry.schedule(), plan.max_attempts, deadline);
        loop {
            let failed = attempts.made();
            let next_attempt = plan.attempt_timeout.unwrap_or(Duration::ZERO);
            let adjusted = |delay| {
                contained.call(UserCode::RetryAdjust, || adjust.adjust(&error, delay)).unwrap_or(delay)
            };
            let delay = match attempts.next_delay(adjusted, next_attempt) {
                Ok(delay) => delay,
                Err(stop) => return Err(retry_ends(error, plan, format_args!("{stop:?}"))),
            };
            if is_open(breaker) {
                return Err(retry_ends(error, plan, format_args!("the circuit is open")));
            }
            if !retry.allow_retry(workers.calls_completed()) {
                workers.counters.add(Count::BudgetExhausted);
                tracing::warn!(target: "bursar::retry", call = plan.name, "retry budget spent; returning the last error");
                return Err(error);
            }
            let _ = contained.call(UserCode::RetryNotify, || notify.notify(failed, &error, delay));
            tracing::debug!(target: "bursar::retry", call = plan.name, attempt = failed, ?delay, "attempt failed; retrying");
            if !workers.backing_off(sleep(delay)).await {
                return Err(retry_ends(error, plan, format_args!("the governor is shutting down")));
            }
            // The worker first, then the breaker: a retry waiting for a worker holds no probe
            // slot, and the breaker is asked as it is when the retry can run.
            let worker = match retry_worker(workers, plan.name).await {
                Ok(worker) => worker,
                Err(rejection) => {
                    return Err(retry_ends(error, plan, format_args!("no worker: {rejection}")));
                }
            };
            *probe = match breaker.try_acquire() {
                Ok(fresh) => fresh,
                Err(_open) => return Err(retry_ends(error, plan, format_args!("the circuit opened"))),
            };
            workers.counters.add(Count::Retries);
            let report = Report::new(probe, breaker);
            let result = attempt(worker, op, plan.attempt_timeout).await;
            report.outcome(&result, failure_when, contained);
            error = match result {
                Ok(value) => {
                    retry.retry_succeeded();
                    return Ok(value);
                }
                Err(error) => error,
            };
            if !retryable(&error, when, contained) {
                return Err(error);
            }
        }
    }
}

/// A call that has to wait for a worker while made from inside an operation of the same
/// governor waits behind the worker its caller holds: with every worker held that way, it
/// waits until the max task duration. Said, as a warning, every time.
#[cold]
fn warn_if_nested(workers: &Workers, call: &'static str) {
    if is_nested(&workers.drain) {
        tracing::warn!(
            target: "bursar::workers",
            call,
            "a call nested inside an operation of the same governor waits for a worker while its caller holds one; \
             if every worker is held this way it waits until the max task duration (call the inner work directly, \
             or give it a governor of its own)"
        );
    }
}

/// A retry's worker: at once if one is free, else after a wait in the queue.
async fn retry_worker<'w>(
    workers: &'w Workers,
    call: &'static str,
) -> Result<WorkerPermit<&'w Lane>, Rejection> {
    let ticket = WorkerTicket::reserve(&*workers.tasks)?;
    if let WorkerTicket::Waiting(_) = ticket {
        warn_if_nested(workers, call);
    }
    ticket.ready().await
}

/// Ends a call's retries with its last error, saying why no retry follows.
#[cold]
fn retry_ends<E>(error: Error<E>, plan: &CallPlan, why: std::fmt::Arguments<'_>) -> Error<E> {
    tracing::debug!(target: "bursar::retry", call = plan.name, %why, "retrying ends; returning the last error");
    error
}

/// Whether a failed attempt may be retried: the operation's error as `when` says (a `when`
/// that panics says no), and every attempt timeout.
fn retryable<E, W: RetryWhen<E>>(error: &Error<E>, when: &W, contained: &Containment) -> bool {
    match error {
        Error::Operation(inner) => {
            contained.call(UserCode::RetryWhen, || when.retryable(inner)).unwrap_or(false)
        }
        Error::Timeout { .. } => true,
        _ => false,
    }
}

/// A later attempt: the operation, holding its worker, under the attempt timeout if any.
async fn attempt<Op, Fut, T, E>(
    worker: WorkerPermit<&Lane>,
    op: &mut Op,
    timeout: Option<Duration>,
) -> Result<T, Error<E>>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let _worker = worker;
    let outcome = match timeout {
        None => op().await,
        Some(after) => {
            tokio::time::timeout(after, op()).await.map_err(|_elapsed| Error::Timeout { after })?
        }
    };
    outcome.map_err(Error::Operation)
}

/// Waits in the queue for a call's first worker, holding no half-open probe slot meanwhile:
/// a probe's permit is dropped (giving the slot back), so the probe is the first call that can
/// run. A wait can outlast the breaker's state too. So a call that gave its slot back, or whose
/// permit went stale while it waited (the circuit opened, half-opened or closed anew), asks the
/// breaker again, as at admission: it is turned away instead of calling the dependency the
/// breaker gave up on, or of joining a half-open probe; or it becomes the probe.
#[allow(clippy::manual_async_fn, reason = "an `async fn` keeps a second copy of its arguments in its future")]
fn queued<'b, L: Deref<Target = Lane> + Clone>(
    ticket: WorkerTicket<L>,
    admitted: Permit<'b>,
    breaker: &'b CircuitBreaker,
) -> impl Future<Output = Result<(WorkerPermit<L>, Permit<'b>), Rejection>> {
    async move {
        let kept = (!admitted.is_probe()).then_some(admitted);
        let worker = ticket.ready().await?;
        match kept {
            Some(permit) if !permit.is_stale() => Ok((worker, permit)),
            _ => match breaker.try_acquire() {
                Ok(fresh) => Ok((worker, fresh)),
                Err(open) => Err(Rejection::CircuitOpen { retry_after: open.retry_after }),
            },
        }
    }
}

pub(super) fn is_open(breaker: &CircuitBreaker) -> bool {
    matches!(breaker.state(), BreakerState::Open | BreakerState::ForcedOpen)
}

/// Reports one attempt to the breaker. Dropped without a report — the call was cancelled, or
/// the attempt panicked or was cut off — it reports nothing: the call reports a panic or a
/// cut-off as a failure itself, once the work is dropped (never from a drop, which may run
/// while a panic unwinds).
/// It borrows the permit, which its caller keeps, so the permit is not moved on every call.
struct Report<'p, 'a> {
    probe: &'p mut Permit<'a>,
    started: Option<Instant>,
}

impl<'p, 'a> Report<'p, 'a> {
    #[inline]
    fn new(probe: &'p mut Permit<'a>, breaker: &CircuitBreaker) -> Self {
        // Only a slow-call rule needs the attempt's duration.
        let started = breaker.times_calls().then(Instant::now);
        Report { probe, started }
    }

    /// Reports `result`; a `failure_when` that panics counts the error as a failure.
    #[inline(always)]
    fn outcome<T, E, F: RetryWhen<E>>(
        self,
        result: &Result<T, Error<E>>,
        failure_when: &F,
        contained: &Containment,
    ) {
        let outcome = match result {
            Ok(_) => Outcome::Success,
            Err(Error::Operation(error)) => {
                match contained.call(UserCode::FailureWhen, || failure_when.retryable(error)) {
                    Ok(false) => Outcome::Success,
                    Ok(true) | Err(_) => Outcome::Failure,
                }
            }
            Err(Error::Timeout { .. }) => Outcome::Failure,
            // Not an outcome of the dependency: reported as nothing (the permit's drop).
            Err(_) => return,
        };
        let elapsed = self.started.map_or(Duration::ZERO, |started| started.elapsed());
        self.probe.record_timed(outcome, elapsed);
    }
}

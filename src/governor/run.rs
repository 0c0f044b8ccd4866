//! The call path: [`Governor::run`] and the one future every governed call is, [`Calling`],
//! whose steps are `run`'s `# Order` — admission, the breaker, a worker, the attempt, the
//! backoff, and again the breaker and a worker for each retry — read top to bottom below.

use std::borrow::Borrow;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, sleep};

use super::Governor;
use super::breakers::{BreakerRef, CallBreaker};
use super::hooks::{CallHooks, DEFAULT_HOOKS};
use crate::breaker::{BreakerState, CircuitBreaker, Outcome};
use crate::contain::{Containment, UserCode, catch};
use crate::fleet::AttemptGuard;
use crate::memory::CostTooHigh;
use crate::retry::{Attempts, ExponentialDelays, Stop};
use crate::workers::limit::Verdict;
use crate::workers::{
    Admitted, Count, Lane, QueueSlot, QueueWait, Supervised, Watch, Work, Workers, governor_id, is_nested,
    marked,
};
use crate::{Error, Rejection};

/// One call's settings: the governor's defaults, changed by [`Call`](super::Call).
#[derive(Debug, Clone)]
pub(crate) struct CallPlan {
    pub(crate) max_attempts: u32,
    /// Whether each attempt takes a fleet lease (the governor has a fleet resource): read
    /// beside the attempt timeout, so calls without either pay one test.
    pub(crate) leased: bool,
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) name: &'static str,
    /// The breaker key; `None` uses the default breaker.
    pub(crate) key: Option<String>,
    /// The memory the call reserves while it runs, in KiB rounded up (`Call::cost`); 0: none.
    /// In KiB so that it fits beside `max_attempts` and the plan, which a call with its own
    /// settings copies, grows by no word.
    pub(crate) cost_kib: u32,
}

impl CallPlan {
    /// The governor's default plan, owned (a call borrows it; the tower layer keeps a copy).
    #[cfg(feature = "tower")]
    pub(crate) fn new(gov: &Governor) -> Self {
        gov.inner.default_plan.clone()
    }

    /// The plan the retry policy gives.
    pub(crate) fn of(retry: &crate::retry::RetryPolicy, leased: bool) -> Self {
        CallPlan {
            max_attempts: retry.max_attempts,
            leased,
            attempt_timeout: None,
            deadline: retry.deadline,
            name: "call",
            key: None,
            cost_kib: 0,
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
    ///    Each retry passes the breaker, then takes its worker, as the first attempt does: a
    ///    retry the breaker turns away takes no queue place.
    ///
    /// # Errors
    ///
    /// - [`Error::Rejected`]: the circuit is open, the queue was full, the queue timeout
    ///   passed, the governor is shutting down, health is critical, the fleet backend is down
    ///   (per `on_backend_down`), or the call's cost is more than the machine's memory less
    ///   the floor — before the first attempt. Never retried.
    /// - [`Error::Operation`]: the operation's own error, from the last attempt that ran.
    /// - [`Error::AttemptTimeout`]: the last attempt ran past its timeout.
    /// - [`Error::Timeout`]: the call ran past the max
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
    pub fn run<Op, Fut, T, E>(&self, op: Op) -> impl Future<Output = Result<T, Error<E>>>
    where
        Op: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.execute(
            op,
            &self.inner.default_plan,
            DEFAULT_HOOKS,
            Some(BreakerRef::Default(&self.inner.breakers.default)),
        )
    }

    /// A call of `op` with `plan` and `hooks`, and `breaker` if its caller chose one, from
    /// admission on.
    pub(crate) fn execute<'g, Op, Fut, T, E, H, P>(
        &'g self,
        op: Op,
        plan: P,
        hooks: H,
        breaker: Option<BreakerRef<'g>>,
    ) -> CallFuture<'g, Op, Fut, E, H, P>
    where
        Op: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        H: CallHooks<E>,
        P: Borrow<CallPlan>,
    {
        CallFuture::new((self, plan), op, hooks, breaker, Step::Admission)
    }
}

/// One governed call: a future whose steps are those of [`Governor::run`]'s `# Order`.
///
/// 1. [`Step::Admission`]: shutdown and health shedding, then the breaker, then a worker.
/// 2. [`Step::Queued`]: waiting in the queue for the worker, holding no probe slot.
/// 3. [`Step::Running`]: the attempt, holding its worker, under the attempt timeout.
/// 4. [`Step::BackingOff`]: the delay before a retry, holding no worker; then the breaker and a
///    worker again, as at admission.
/// 5. [`Step::Done`], settled: the outcome counted once and returned.
///
/// From the first attempt on the work is supervised: every poll is guarded (a panic becomes
/// [`Error::Panicked`]), and once it waits, the max task duration and the shutdown's
/// cancellation are watched.
pub(crate) type CallFuture<'g, Op, Fut, E, H, P> = Calling<'g, Op, Fut, E, H, (&'g Governor, P)>;

pin_project! {
    /// The call path's future, generic over how it holds its governor and plan (see [`Holds`]).
    #[project = CallingProj]
    pub(crate) struct Calling<'g, Op, Fut, E, H, G>
    where
        G: Holds<'g>,
    {
        // The step first: its operation is dropped before the call's state, whose drop then
        // gives the worker back before it counts the call as ended.
        #[pin]
        step: Step<'g, Fut, G::Lane>,
        call: CallState<'g, Op, E, H, G>,
    }
}

pin_project! {
    /// Where a call is.
    #[project = StepProj]
    #[project_replace = StepReplace]
    pub(crate) enum Step<'g, Fut, L>
    where
        L: Deref<Target = Lane>,
    {
        /// Not polled yet: nothing is held, but for a worker reserved ahead (the tower layer's
        /// readiness), which the call's record holds.
        Admission,
        /// Waiting for memory to reserve the call's cost (`Call::cost`), admitted, before the
        /// breaker and the queue.
        Reserving { wait: Wait<'g, Result<Duration, Rejection>> },
        /// Waiting in the queue for a worker: the wait is held inline (a ticket in the lane's
        /// line, and a timer only with a queue timeout).
        Queued { wait: QueueWait<L> },
        /// An attempt, whose worker the call's record holds (`Admitted`: it is given back
        /// before the call counts as ended, however it ends).
        Running { #[pin] attempt: Attempt<Fut> },
        /// The delay before a retry; `false` if the governor closed during it.
        BackingOff { delay: Wait<'g, bool> },
        /// Settled.
        Done,
    }
}

/// A wait of the call path (for memory, or a retry's delay): boxed, because only calls that
/// wait need one, and the call's own future stays small.
type Wait<'g, T> = Pin<Box<dyn Future<Output = T> + Send + 'g>>;

pin_project! {
    /// One attempt of the operation, under the attempt timeout if the call has one. The
    /// timeout's timer is boxed: only calls with an attempt timeout carry it.
    #[project = AttemptProj]
    pub(crate) enum Attempt<Fut> {
        Plain { #[pin] op: Fut },
        /// Under the attempt timeout, a fleet lease (`GovernorConfig::fleet`), or both.
        Guarded { #[pin] op: Fut, guard: Box<AttemptGuard> },
    }
}

/// What a call keeps besides its step.
pub(crate) struct CallState<'g, Op, E, H, G: Holds<'g>> {
    /// The governor and the call's plan (see [`Holds`]).
    handle: G,
    op: Op,
    hooks: H,
    /// The call's record, from admission to the end: counted in and out exactly once (out by
    /// the call's end, or by this state's drop), and holding the worker of the attempt that
    /// has one. It borrows the workers from `handle`, so that a call holds one handle.
    admitted: Option<Admitted>,
    /// The call's breaker, and the permit of its current attempt.
    breaker: CallBreaker<'g>,
    /// The retry deadline, counted from the call's start.
    deadline: Option<Instant>,
    /// The retries' state, made after the first retryable failure.
    retries: Option<Box<Retries<E>>>,
    /// The max task duration and the shutdown's cancellation, armed when the work first waits.
    watch: Watch<'g>,
}

/// A call whose state still holds its record counts out here: one dropped before its end, or
/// turned away after admission (its record marked rejected). Its running attempt, which the
/// step holds, has been dropped by then (see `Calling`); the state's fields (`op`, the hooks,
/// the breaker, the retries, the watch) are dropped after.
impl<'g, Op, E, H, G: Holds<'g>> Drop for CallState<'g, Op, E, H, G> {
    #[inline]
    fn drop(&mut self) {
        if self.admitted.is_some() {
            self.abandon();
        }
    }
}

impl<'g, Op, E, H, G: Holds<'g>> CallState<'g, Op, E, H, G> {
    /// The call's state is dropped holding its record: a half-open probe's slot goes back
    /// first, then the worker, then the call is counted out (as abandoned, unless it was
    /// rejected), so that a shutdown that sees the call gone sees the breaker free to probe
    /// again.
    #[cold]
    #[inline(never)]
    fn abandon(&mut self) {
        self.breaker.give_back_probe(self.handle.default_breaker());
        Admitted::leave_from(&mut self.admitted, &self.handle.gov().inner.workers);
    }
}

/// The state of a call's retries.
struct Retries<E> {
    attempts: Attempts<ExponentialDelays>,
    /// The last attempt's error, while the next one is not running: what the call ends with
    /// if the retry cannot run.
    last: Option<Error<E>>,
}

/// How a call holds its governor and its plan: the governor borrowed by a call awaited in place
/// (`run`, `call`), which holds its plan as its caller gave it; both shared, in one `Arc`, by
/// the tower layer's response future, which is `'static`. What the call's waits keep of the
/// governor follows: borrowed, or shared (an `Arc` cloned for a wait only when it is armed);
/// the call's record keeps nothing (its owner lends it the workers), and the default breaker is
/// reached through the handle itself (see `kept_default`).
pub(crate) trait Holds<'g>: Sized {
    /// What a call's armed waits (for memory, a retry's delay, the watch) keep of the workers.
    type Workers: Deref<Target = Workers> + Send + Sync + 'g;
    /// What a queued call's place and wait keep of the lane (its worker is the record's).
    type Lane: Deref<Target = Lane> + Clone + Send + Sync + 'g;
    fn gov(&self) -> &Governor;
    fn plan(&self) -> &CallPlan;
    fn workers(&self) -> Self::Workers;
    fn lane(&self) -> Self::Lane;
    /// The default breaker as the call keeps it: borrowed by a call that borrows its governor;
    /// `None` for one that owns its handle, which reaches the breaker through the handle (see
    /// `CallBreaker`) rather than own a second one.
    fn kept_default(&self) -> Option<BreakerRef<'g>>;
    /// The governor's default breaker.
    #[inline(always)]
    fn default_breaker(&self) -> &std::sync::Arc<CircuitBreaker> {
        &self.gov().inner.breakers.default
    }
}

impl<'g, P: Borrow<CallPlan>> Holds<'g> for (&'g Governor, P) {
    type Workers = &'g Workers;
    type Lane = &'g Lane;

    #[inline(always)]
    fn gov(&self) -> &Governor {
        self.0
    }

    #[inline(always)]
    fn plan(&self) -> &CallPlan {
        self.1.borrow()
    }

    #[inline(always)]
    fn workers(&self) -> Self::Workers {
        &self.0.inner.workers
    }

    #[inline(always)]
    fn lane(&self) -> Self::Lane {
        &self.0.inner.workers.tasks
    }

    #[inline(always)]
    fn kept_default(&self) -> Option<BreakerRef<'g>> {
        Some(BreakerRef::Default(&self.0.inner.breakers.default))
    }
}

/// What makes each attempt's operation: a closure for `run` and `call`, the request's sender
/// for the tower layer (a type that can be named in its response future).
pub(crate) trait Operation {
    type Attempt;
    fn attempt(&mut self) -> Self::Attempt;
}

impl<Op: FnMut() -> Fut, Fut> Operation for Op {
    type Attempt = Fut;

    #[inline(always)]
    fn attempt(&mut self) -> Fut {
        self()
    }
}

/// What a failed attempt leads to: the call ends with an error, or backs off to retry.
enum Next<E> {
    End(Error<E>),
    BackOff(Duration),
}

impl<'g, Op, Fut, E, H, G> Calling<'g, Op, Fut, E, H, G>
where
    G: Holds<'g>,
{
    /// A call that uses `breaker`, if its caller chose one (`Call::key`, `Call::breaker`),
    /// else the one its plan names.
    #[inline(always)]
    pub(crate) fn new(
        handle: G,
        op: Op,
        hooks: H,
        breaker: Option<BreakerRef<'g>>,
        step: Step<'g, Fut, G::Lane>,
    ) -> Self {
        // The default breaker is known without a lookup; the tower layer's keyed one is looked
        // up (and perhaps made) here, when the layer makes the call's future.
        let breaker = match (breaker, handle.plan().key.as_deref()) {
            (Some(breaker), _) => Some(breaker),
            (None, None) => handle.kept_default(),
            (None, Some(key)) => keyed(&handle, key),
        };
        let call = CallState {
            handle,
            op,
            hooks,
            admitted: None,
            breaker: CallBreaker::unasked(breaker),
            deadline: None,
            retries: None,
            watch: Watch::default(),
        };
        Calling { step, call }
    }

    /// A call admitted ahead, whose record holds its first worker (the tower layer's readiness):
    /// it starts at the breaker.
    #[cfg(feature = "tower")]
    #[inline(always)]
    pub(crate) fn reserved(handle: G, admitted: Admitted, op: Op, hooks: H) -> Self {
        let mut call = Self::new(handle, op, hooks, None, Step::Admission);
        call.call.admitted = Some(admitted);
        call
    }

    /// A call with nothing reserved ahead: it starts at admission, as `run`'s does.
    #[cfg(feature = "tower")]
    pub(crate) fn unreserved(handle: G, op: Op, hooks: H) -> Self {
        Self::new(handle, op, hooks, None, Step::Admission)
    }
}

impl<'g, Op, Fut, T, E, H, G> Future for Calling<'g, Op, Fut, E, H, G>
where
    Op: Operation<Attempt = Fut>,
    Fut: Future<Output = Result<T, E>>,
    H: CallHooks<E>,
    G: Holds<'g>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let CallingProj { mut step, call } = self.project();
        // Before the first attempt: admission, the breaker, the queue. No user code runs
        // there, so it is not supervised, and the queue has a time limit of its own.
        let first = match call.first_worker(step.as_mut(), cx) {
            Poll::Ready(Ok(first)) => first,
            Poll::Ready(Err(rejection)) => {
                step.set(Step::Done);
                return Poll::Ready(Err(rejection.into()));
            }
            Poll::Pending => return Poll::Pending,
        };
        let polled = catch(|| call.work(step.as_mut(), first, cx));
        let outcome = match polled {
            Ok(Poll::Ready(result)) => {
                // Counted by reference: the result moves only to the caller.
                call.finished(&result);
                return Poll::Ready(result);
            }
            Err(message) => Supervised::Panicked(message),
            Ok(Poll::Pending) => {
                let (max_duration, handle) = (call.workers().max_task_duration, &call.handle);
                ready!(call.watch.poll(max_duration, || handle.workers(), cx)).outcome(max_duration)
            }
        };
        Poll::Ready(call.settle(step, outcome))
    }
}

impl<'g, Op, Fut, T, E, H, G> CallState<'g, Op, E, H, G>
where
    Op: Operation<Attempt = Fut>,
    Fut: Future<Output = Result<T, E>>,
    H: CallHooks<E>,
    G: Holds<'g>,
{
    fn workers(&self) -> &Workers {
        &self.handle.gov().inner.workers
    }

    fn contained(&self) -> &Containment {
        &self.handle.gov().inner.workers.containment
    }

    /// Admission, the breaker and the first worker, if the call has not got them yet: `true`
    /// when the call has just got its first worker (its record holds it), `false` once the work
    /// has started. A rejection is the call's, counted.
    #[inline(always)]
    fn first_worker(
        &mut self,
        mut step: Pin<&mut Step<'g, Fut, G::Lane>>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<bool, Rejection>> {
        // Of the queue timeout, what a wait for memory took: the wait for a worker has the rest.
        let mut spent = Duration::ZERO;
        loop {
            let ticket = match step.as_mut().project() {
                StepProj::Admission => {
                    if self.handle.plan().cost_kib != 0 {
                        match self.admit_costly() {
                            Ok(None) => {}
                            Ok(Some(wait)) => {
                                // A worker reserved ahead does not sit idle while the call
                                // waits for memory: it goes back, and the call asks again.
                                self.release_worker();
                                step.set(Step::Reserving { wait });
                                continue;
                            }
                            Err(rejection) => return Poll::Ready(Err(self.reject(rejection))),
                        }
                    }
                    self.admit()
                }
                StepProj::Reserving { wait } => ready!(wait.as_mut().poll(cx)).and_then(|waited| {
                    spent = waited;
                    self.holds_memory();
                    self.admit()
                }),
                StepProj::Queued { wait } if self.retries.is_none() => {
                    ready!(wait.poll_served(cx)).and_then(|()| self.worker_came())
                }
                StepProj::Done => panic!("a governed call's future was polled after it completed"),
                _ => return Poll::Ready(Ok(false)),
            };
            match ticket {
                Ok(None) => return Poll::Ready(Ok(true)),
                Ok(Some(slot)) => step.set(self.queue(slot, spent)),
                Err(rejection) => return Poll::Ready(Err(self.reject(rejection))),
            }
        }
    }

    /// Admission of a call with a cost: counted in (a shutting-down or shedding governor turns
    /// it away), then its memory reserved, or the wait for it (within the queue timeout).
    #[cold]
    #[inline(never)]
    fn admit_costly(&mut self) -> Result<Option<Wait<'g, Result<Duration, Rejection>>>, Rejection> {
        let plan = self.handle.plan();
        if self.admitted.is_none() {
            self.admitted = Some(Admitted::enter(self.workers(), plan.name)?);
        }
        // The retry deadline counts the wait for memory too: it starts here, not at `admit`.
        if let Some(deadline) = plan.deadline {
            self.deadline = Instant::now().checked_add(deadline);
        }
        let (workers, cost) = (self.handle.workers(), u64::from(plan.cost_kib) * 1024);
        if workers.memory.try_reserve(cost) {
            self.holds_memory();
            return Ok(None);
        }
        workers.memory.check_ceiling(cost).map_err(CostTooHigh::refuse_call)?;
        workers.memory.waits(cost, plan.name);
        let within = workers.tasks.queue_timeout;
        // Closing the lanes does not reach a call waiting for memory: the close must.
        let wait = async move {
            let reserved = workers.until_closed(workers.memory.reserve(cost, within)).await;
            reserved.unwrap_or(Err(Rejection::ShuttingDown))
        };
        Ok(Some(Box::pin(wait)))
    }

    /// The call's cost is reserved: its record gives it back when the call ends, however it ends.
    fn holds_memory(&mut self) {
        let admitted = self.admitted.as_mut().expect("a call reserves memory once admitted");
        admitted.holds_memory(self.handle.plan().cost_kib);
    }

    /// Admission: a shutting-down or shedding governor turns the call away; then the breaker
    /// and a worker.
    #[inline(always)]
    fn admit(&mut self) -> Result<Option<QueueSlot<G::Lane>>, Rejection> {
        if self.admitted.is_none() {
            self.admitted = Some(Admitted::enter(self.workers(), self.handle.plan().name)?);
        }
        let plan = self.handle.plan();
        // The retry deadline counts from the call's start, queueing included; only a call
        // with a deadline reads the clock for it (a call with a cost read it before its wait
        // for memory).
        if let Some(deadline) = plan.deadline {
            if plan.cost_kib == 0 {
                self.deadline = Instant::now().checked_add(deadline);
            }
        }
        self.breaker_then_worker()
    }

    /// What every attempt passes before it runs: the breaker, then a worker, which the call's
    /// record holds (`None`), or else a place in the queue. An open circuit turns the attempt
    /// away without taking a queue place. A worker reserved ahead (the tower layer's readiness)
    /// is the first attempt's.
    #[inline(always)]
    fn breaker_then_worker(&mut self) -> Result<Option<QueueSlot<G::Lane>>, Rejection> {
        self.breaker.ask(self.handle.default_breaker()).map_err(circuit_open)?;
        let (admitted, handle) = (self.admitted.as_mut().expect("an attempt runs admitted"), &self.handle);
        if admitted.has_worker() {
            return Ok(None);
        }
        admitted.take_worker(&handle.gov().inner.workers, || handle.lane())
    }

    /// The wait for a worker. A probe's breaker permit is given back while the call waits, so
    /// that the probe is a call that can run.
    /// `spent`: what a wait for memory took of the queue timeout.
    #[cold]
    fn queue(&mut self, slot: QueueSlot<G::Lane>, spent: Duration) -> Step<'g, Fut, G::Lane> {
        warn_if_nested(self.workers(), self.handle.plan().name);
        self.breaker.give_back_probe(self.handle.default_breaker());
        Step::Queued { wait: QueueWait::new(slot, spent) }
    }

    /// The worker came after a wait. A breaker permit given back for the wait, or one that went
    /// stale meanwhile (the circuit opened, half-opened or closed anew), is asked for again: the
    /// call is turned away instead of calling a dependency the breaker gave up on, or becomes
    /// the probe.
    fn worker_came(&mut self) -> Result<Option<QueueSlot<G::Lane>>, Rejection> {
        self.admitted.as_mut().expect("a call waits admitted").holds_worker();
        let default = self.handle.default_breaker();
        if self.breaker.must_ask_again(default) {
            self.breaker.ask(default).map_err(circuit_open)?;
        }
        Ok(None)
    }

    /// Gives back the worker the call holds, if any.
    #[inline(always)]
    fn release_worker(&mut self) {
        if let Some(admitted) = &mut self.admitted {
            admitted.release_worker(&self.handle.gov().inner.workers);
        }
    }

    /// Records that the call was turned away before its first attempt; a worker it held (one
    /// reserved ahead, or one that came as the breaker opened) goes back at once.
    #[cold]
    fn reject(&mut self, rejection: Rejection) -> Rejection {
        let workers = &self.handle.gov().inner.workers;
        match &mut self.admitted {
            Some(admitted) => {
                admitted.release_worker(workers);
                admitted.reject(workers, rejection)
            }
            // Turned away at admission, where it was counted.
            None => rejection,
        }
    }

    /// The supervised work: attempts, and between them the backoff and the next worker.
    /// `first`: the work starts now, on the worker the call's record holds.
    fn work(
        &mut self,
        mut step: Pin<&mut Step<'g, Fut, G::Lane>>,
        first: bool,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, Error<E>>> {
        if first {
            // Replaced without the drop of the whole step: admission holds nothing by now.
            step.as_mut().project_replace(Step::Running { attempt: self.start_attempt() });
        }
        loop {
            let ticket = match step.as_mut().project() {
                StepProj::Running { attempt } => {
                    // Taken apart at once, so that a success's value moves alone: a whole
                    // result moved is copied by wide reads of the narrow stores that wrote it,
                    // which stall. The worker goes back before the outcome is judged.
                    // Marked while the operation is polled, and only then: a call it makes is
                    // nested; this call's own retry, queueing later, is not.
                    let governor = governor_id(&self.workers().drain);
                    let error = match ready!(marked(governor, || attempt.poll(cx))) {
                        Ok(value) => {
                            step.set(Step::Done);
                            self.release_worker();
                            self.attempt_succeeded();
                            return Poll::Ready(Ok(value));
                        }
                        Err(error) => error,
                    };
                    step.set(Step::Done);
                    self.release_worker();
                    let delay = match self.attempt_failed(error) {
                        Next::End(error) => return Poll::Ready(Err(error)),
                        Next::BackOff(delay) => delay,
                    };
                    let workers = self.handle.workers();
                    let delay = Box::pin(async move { workers.backing_off(sleep(delay)).await });
                    step.set(Step::BackingOff { delay });
                    continue;
                }
                StepProj::BackingOff { delay } => {
                    if !ready!(delay.as_mut().poll(cx)) {
                        step.set(Step::Done);
                        return Poll::Ready(Err(
                            self.retry_ends(format_args!("the governor is shutting down"))
                        ));
                    }
                    self.breaker_then_worker()
                }
                StepProj::Queued { wait } => ready!(wait.poll_served(cx)).and_then(|()| self.worker_came()),
                StepProj::Admission | StepProj::Reserving { .. } | StepProj::Done => {
                    unreachable!("the work starts with a worker")
                }
            };
            match ticket {
                Ok(None) => step.set(Step::Running { attempt: self.start_attempt() }),
                Ok(Some(slot)) => step.set(self.queue(slot, Duration::ZERO)),
                Err(rejection) => {
                    step.set(Step::Done);
                    self.release_worker();
                    return Poll::Ready(Err(self.retry_ends(format_args!("no retry: {rejection}"))));
                }
            }
        }
    }

    /// Makes the operation's future, under the attempt timeout if any. The attempt is timed if
    /// the breaker times calls, and counted as a retry if it is one.
    #[inline(always)]
    fn start_attempt(&mut self) -> Attempt<Fut> {
        if let Some(retries) = &mut self.retries {
            retries.last = None;
            self.handle.gov().inner.workers.counters.add(Count::Retries);
        }
        let always = self.handle.gov().inner.workers.times_attempt();
        self.breaker.start_timing(self.handle.default_breaker(), always);
        let op = self.op.attempt();
        let plan = self.handle.plan();
        match (plan.attempt_timeout, plan.leased) {
            (None, false) => Attempt::Plain { op },
            (timeout, _) => Attempt::Guarded {
                op,
                guard: AttemptGuard::start(timeout, self.handle.gov().inner.fleet.as_ref()),
            },
        }
    }

    /// An attempt succeeded: the breaker (and the adaptive limit) hear of it.
    #[inline(always)]
    fn attempt_succeeded(&mut self) {
        match self.workers().adaptive {
            None => self.report(None, None),
            Some(_) => self.report_adaptive(None),
        }
        if self.retries.is_some() {
            self.handle.gov().inner.retry.retry_succeeded();
        }
    }

    /// An attempt failed: the breaker hears of it, and a retryable failure backs off if another
    /// attempt may follow.
    fn attempt_failed(&mut self, error: Error<E>) -> Next<E> {
        match self.workers().adaptive {
            None => self.report(Some(&error), None),
            Some(_) => self.report_adaptive(Some(&error)),
        }
        let retry = &self.handle.gov().inner.retry;
        if self.retries.is_none() {
            // A success counts into the retry budget through the completed count; a failure here.
            retry.first_attempt_failed();
        }
        if !self.retryable(&error) {
            return Next::End(error);
        }
        let plan = self.handle.plan();
        if self.retries.is_none() {
            if plan.max_attempts <= 1 {
                // No retry can follow: said without making the retries' state.
                tracing::debug!(target: "bursar::retry", call = plan.name, stop = ?Stop::Attempts, "retrying ends");
                return Next::End(error);
            }
            let attempts = Attempts::new(retry.schedule(), plan.max_attempts, self.deadline);
            self.retries = Some(Box::new(Retries { attempts, last: None }));
        }
        self.back_off(error)
    }

    /// The delay before the next attempt, or why there is none: the attempts, the schedule and
    /// the deadline, the breaker, and the governor's retry budget decide.
    fn back_off(&mut self, error: Error<E>) -> Next<E> {
        let workers = &self.handle.gov().inner.workers;
        let (contained, plan) = (&*workers.containment, self.handle.plan());
        let retries = self.retries.as_mut().expect("made before the first retry");
        let failed = retries.attempts.made();
        let hooks = &mut self.hooks;
        let adjusted =
            |delay| contained.call(UserCode::RetryAdjust, || hooks.adjust(&error, delay)).unwrap_or(delay);
        let next_attempt = plan.attempt_timeout.unwrap_or(Duration::ZERO);
        let delay = match retries.attempts.next_delay(adjusted, next_attempt) {
            Ok(delay) => delay,
            Err(stop) => return Next::End(retry_ended(error, plan.name, format_args!("{stop:?}"))),
        };
        if is_open(self.breaker.breaker(self.handle.default_breaker())) {
            return Next::End(retry_ended(error, plan.name, format_args!("the circuit is open")));
        }
        if !self.handle.gov().inner.retry.allow_retry(workers.calls_completed()) {
            workers.counters.add(Count::BudgetExhausted);
            tracing::warn!(target: "bursar::retry", call = plan.name, "retry budget spent; returning the last error");
            return Next::End(error);
        }
        let _ = contained.call(UserCode::RetryNotify, || self.hooks.notify(failed, &error, delay));
        tracing::debug!(target: "bursar::retry", call = plan.name, attempt = failed, ?delay, "attempt failed; retrying");
        self.retries.as_mut().expect("made before the first retry").last = Some(error);
        Next::BackOff(delay)
    }

    /// A retry that cannot run ends the call with the last attempt's error.
    #[cold]
    fn retry_ends(&mut self, why: std::fmt::Arguments<'_>) -> Error<E> {
        let last = self.retries.as_mut().and_then(|retries| retries.last.take());
        retry_ended(last.expect("a retry follows a failed attempt"), self.handle.plan().name, why)
    }

    /// Whether a failed attempt may be retried: the operation's error as `when` says (a `when`
    /// that panics says no), and every attempt timeout.
    fn retryable(&self, error: &Error<E>) -> bool {
        match error {
            Error::Operation(error) => {
                self.contained().call(UserCode::RetryWhen, || self.hooks.retryable(error)).unwrap_or(false)
            }
            Error::AttemptTimeout { .. } => true,
            _ => false,
        }
    }

    /// Tells the breaker how the attempt ended; an error `failure_when` says is not the
    /// dependency's fault counts as a success, and a `failure_when` that panics as a failure.
    #[inline(always)]
    fn report(&mut self, error: Option<&Error<E>>, now: Option<Instant>) {
        let outcome = match error {
            None => Outcome::Success,
            Some(Error::Operation(error)) => {
                match self.contained().call(UserCode::FailureWhen, || self.hooks.is_failure(error)) {
                    Ok(false) => Outcome::Success,
                    Ok(true) | Err(_) => Outcome::Failure,
                }
            }
            Some(Error::AttemptTimeout { .. }) => Outcome::Failure,
            // Not an outcome of the dependency: reported as nothing (the permit's drop).
            Some(_) => return,
        };
        self.breaker.record(self.handle.default_breaker(), outcome, now);
    }

    /// [`report`](Self::report), and the attempt's latency and verdict to the adaptive limit:
    /// an attempt timeout or an error `overload_when` says is an overload (one that panics
    /// says no), another error is only counted, a success is served. An attempt that was not
    /// timed is fed only if it was an overload.
    #[inline(never)]
    fn report_adaptive(&mut self, error: Option<&Error<E>>) {
        let verdict = match error {
            None => Verdict::Served,
            Some(Error::Operation(error)) => {
                match self.contained().call(UserCode::OverloadWhen, || self.hooks.is_overload(error)) {
                    Ok(true) => Verdict::Overloaded,
                    Ok(false) | Err(_) => Verdict::Failed,
                }
            }
            Some(Error::AttemptTimeout { .. }) => Verdict::Overloaded,
            Some(_) => Verdict::Failed,
        };
        let started = self.breaker.started();
        if started.is_none() && verdict != Verdict::Overloaded {
            // Not timed (see `Workers::times_attempt`): only an overload is news without a latency.
            return self.report(error, None);
        }
        let now = Instant::now();
        self.workers().observe(started, now, verdict);
        self.report(error, Some(now));
    }

    /// Counts the call's result, once: the work finished on its own.
    #[inline(always)]
    fn finished(&mut self, result: &Result<T, Error<E>>) {
        // Counted out where it is, not moved out first (see `Admitted::settled`).
        let workers = &self.handle.gov().inner.workers;
        if let Some(admitted) = &mut self.admitted {
            admitted.settled(workers, result, Work::Call);
        }
        if result.is_err() {
            // A probe's permit left unreported (a lost lease, a retry turned away at the
            // queue) goes back before the call counts as ended.
            self.breaker.give_back_probe(self.handle.default_breaker());
        }
        Admitted::leave_from(&mut self.admitted, workers);
    }

    /// Counts how the work ended, once, and returns the call's result. Work cut off or
    /// panicked still holds its operation: it is dropped in place, contained, since its drop is
    /// user code; then the breaker hears of it — after the unwinding, never from a drop.
    fn settle(
        &mut self,
        mut step: Pin<&mut Step<'g, Fut, G::Lane>>,
        outcome: Supervised<Result<T, Error<E>>>,
    ) -> Result<T, Error<E>> {
        // Cut off between attempts (backing off, or a retry waiting for a worker with its
        // breaker permit), the call ran nothing the breaker should hear of.
        let attempt_ran = matches!(step.as_mut().project(), StepProj::Running { .. });
        if !matches!(outcome, Supervised::Finished(_)) {
            let _ = self.contained().call(UserCode::OperationDrop, || step.set(Step::Done));
            // Its worker goes back before the breaker hears of it, as after any attempt.
            self.release_worker();
        }
        match outcome {
            Supervised::Panicked(_) => {
                self.breaker.record(self.handle.default_breaker(), Outcome::Failure, None)
            }
            Supervised::TimedOut(_) if attempt_ran => {
                self.breaker.record(self.handle.default_breaker(), Outcome::Failure, None);
            }
            _ => {}
        }
        // Cancelled by the shutdown: a probe's permit goes back before the call counts as ended.
        self.breaker.give_back_probe(self.handle.default_breaker());
        // In place: if anything on the way panics, the state's drop still counts the call out.
        Admitted::settle_from(&mut self.admitted, &self.handle.gov().inner.workers, outcome, Work::Call)
    }
}

/// The breaker of calls with `key` (see `Breakers::for_key`): a key's, or the default one as
/// [`Holds::kept_default`] keeps it.
#[cold]
fn keyed<'g, G: Holds<'g>>(handle: &G, key: &str) -> Option<BreakerRef<'g>> {
    match handle.gov().inner.breakers.for_key(Some(key)) {
        BreakerRef::Default(_) => handle.kept_default(),
        BreakerRef::Keyed(keyed) => Some(BreakerRef::Keyed(keyed)),
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

/// Ends a call's retries with its last error, saying why no retry follows.
#[cold]
fn retry_ended<E>(error: Error<E>, call: &'static str, why: std::fmt::Arguments<'_>) -> Error<E> {
    tracing::debug!(target: "bursar::retry", call, %why, "retrying ends; returning the last error");
    error
}

impl<Fut, T, E> Future for Attempt<Fut>
where
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AttemptProj::Plain { op } => op.poll(cx).map(|result| result.map_err(Error::Operation)),
            AttemptProj::Guarded { op, guard } => guard.poll_attempt(op, cx),
        }
    }
}

fn circuit_open(open: crate::breaker::NotPermitted) -> Rejection {
    Rejection::CircuitOpen { retry_after: open.retry_after }
}

#[inline(always)]
pub(super) fn is_open(breaker: &CircuitBreaker) -> bool {
    matches!(breaker.state(), BreakerState::Open | BreakerState::ForcedOpen)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The waits for memory and a retry's delay, the attempt timeout's timer, the retries'
    /// state and the watch are boxed apart, so a call's future is its operation's future and a
    /// few words besides.
    #[tokio::test]
    async fn a_call_future_carries_no_wait_timer_or_retry_state_inline() {
        let word = std::mem::size_of::<usize>();
        let gov = Governor::builder().build().expect("a valid governor");
        let call = gov.run(|| std::future::ready(Ok::<_, std::io::Error>(1_u64)));
        assert!(std::mem::size_of_val(&call) <= 28 * word, "{} bytes", std::mem::size_of_val(&call));
        assert_eq!(std::mem::size_of::<Wait<'_, bool>>(), 2 * word);
        assert_eq!(std::mem::size_of::<Option<Box<Retries<std::io::Error>>>>(), word);
        assert_eq!(call.await.expect("ready"), 1);
    }

    /// A queued call holds its wait inline, unboxed: its queue place, its ticket in the lane's
    /// line and the box of a queue timeout's timer (if the lane has one); the lane keeps an
    /// entry of a ticket and a waker (see `line.rs`). So a call's step is no larger queued
    /// than running a small operation, but for the `metrics` feature's clock reading.
    #[test]
    fn a_queued_calls_wait_is_its_place_its_ticket_and_an_optional_timer() {
        let word = std::mem::size_of::<usize>();
        let clock = std::mem::size_of::<crate::telemetry::QueueClock>();
        assert_eq!(std::mem::size_of::<QueueWait<&Lane>>(), 3 * word + clock);
        type SmallStep<'g> = Step<'g, std::future::Ready<Result<u64, std::io::Error>>, &'g Lane>;
        assert_eq!(std::mem::size_of::<SmallStep<'_>>(), (4 * word).max(3 * word + clock));
    }
}

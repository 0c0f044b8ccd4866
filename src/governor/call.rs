//! [`Call`]: one governed call with its own retry settings, built by [`Governor::call`].

use std::borrow::Cow;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::Governor;
use super::breakers::BreakerRef;
use super::hooks::{DEFAULT_HOOKS, Hooks};
use super::run::CallPlan;
use crate::Error;
use crate::breaker::CircuitBreaker;
use crate::retry::{AnyError, NoError, RetryAdjust, RetryNotify, RetryWhen};

impl Governor {
    /// Starts a governed call of `op` with settings of its own; `.await` it.
    ///
    /// [`run`](Governor::run) is the same call with the governor's defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let gov = bursar::Governor::builder().build()?;
    /// let mut attempts = 0;
    /// let page = gov
    ///     .call(|| {
    ///         attempts += 1;
    ///         let attempt = attempts;
    ///         async move {
    ///             match attempt {
    ///                 1 => Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
    ///                 _ => Ok("<html>"),
    ///             }
    ///         }
    ///     })
    ///     .when(|error: &std::io::Error| error.kind() == std::io::ErrorKind::ConnectionReset)
    ///     .attempts(5)
    ///     .timeout(Duration::from_secs(30))
    ///     .name("load-profile-page")
    ///     .await?;
    /// assert_eq!(page, "<html>");
    /// assert_eq!(gov.status().workers.retries, 1);
    /// # Ok(()) }
    /// ```
    pub fn call<Op>(&self, op: Op) -> Call<'_, Op> {
        let plan = Cow::Borrowed(&self.inner.default_plan);
        Call { gov: self, op, plan, hooks: DEFAULT_HOOKS, breaker: None }
    }
}

/// A governed call being set up; `.await` it.
///
/// Awaiting it polls its [`CallFuture`] in place: no allocation, and no `Send` bound. The
/// future is `Send` when the operation, its future, its output and error and every hook are,
/// so an operation that is not `Send` (one holding an `Rc`, or a `!Send` browser handle) can
/// be awaited on a current-thread runtime or a `LocalSet`.
///
/// # Default
///
/// Every setting not given is the governor's: its [`RetryConfig`](crate::RetryConfig)
/// attempts and deadline, every operation error retryable, no per-attempt timeout.
#[must_use = "a call does nothing until it is awaited"]
pub struct Call<'g, Op, W = AnyError, N = (), A = (), F = AnyError, O = NoError> {
    gov: &'g Governor,
    op: Op,
    /// The governor's default plan, borrowed until a setter changes it.
    plan: Cow<'g, CallPlan>,
    hooks: Hooks<W, N, A, F, O>,
    /// The breaker chosen by `key` or `breaker`; `None`: the default one.
    breaker: Option<BreakerRef<'g>>,
}

impl<'g, Op, Fut, T, E, W, N, A, F, O> Call<'g, Op, W, N, A, F, O>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    /// Retries only operation errors for which `when` is true; others are returned at once.
    /// Attempt timeouts are always retryable; rejections by the governor never are.
    pub fn when<W2: Fn(&E) -> bool>(self, when: W2) -> Call<'g, Op, W2, N, A, F, O> {
        let Call { gov, op, plan, hooks, breaker } = self;
        Call { gov, op, plan, hooks: hooks.with_when(when), breaker }
    }

    /// Calls `notify(failed_attempt, &error, delay)` before each retry.
    pub fn notify<N2: FnMut(u32, &Error<E>, Duration)>(self, notify: N2) -> Call<'g, Op, W, N2, A, F, O> {
        let Call { gov, op, plan, hooks, breaker } = self;
        Call { gov, op, plan, hooks: hooks.with_notify(notify), breaker }
    }

    /// Replaces each retry's delay with `adjust(&error, delay)`, e.g. a server's `Retry-After`.
    pub fn adjust<A2: FnMut(&Error<E>, Duration) -> Duration>(
        self,
        adjust: A2,
    ) -> Call<'g, Op, W, N, A2, F, O> {
        let Call { gov, op, plan, hooks, breaker } = self;
        Call { gov, op, plan, hooks: hooks.with_adjust(adjust), breaker }
    }

    /// Counts only operation errors for which `failure_when` is true as failures of the
    /// circuit breaker; other errors count as successes (the dependency answered). Timeouts
    /// and panics always count; cancelled and rejected calls never do.
    pub fn failure_when<F2: Fn(&E) -> bool>(self, failure_when: F2) -> Call<'g, Op, W, N, A, F2, O> {
        let Call { gov, op, plan, hooks, breaker } = self;
        Call { gov, op, plan, hooks: hooks.with_failure_when(failure_when), breaker }
    }

    /// Tells an adaptive worker limit (`workers.limit`, see
    /// [`LimitKind`](crate::LimitKind)) that the dependency is overloaded when
    /// `overload_when` is true of an operation error — an HTTP 429 or 503, say: the limit is
    /// cut at once. Attempt timeouts always say so. Other errors say nothing about load, and
    /// their latency is not taken as the dependency's (a fast error must not make it look
    /// fast). With `limit = "fixed"` it is never called.
    ///
    /// It runs contained: one that panics counts as "not an overload".
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use bursar::LimitKind;
    ///
    /// let gov = bursar::Governor::builder().limit(LimitKind::Gradient).max_workers(64).build()?;
    /// let answer = gov
    ///     .call(|| async { Err::<(), u16>(429) })
    ///     .overload_when(|status: &u16| matches!(status, 429 | 503))
    ///     .attempts(1)
    ///     .await;
    /// assert!(matches!(answer, Err(bursar::Error::Operation(429))));
    /// # Ok(()) }
    /// ```
    pub fn overload_when<O2: Fn(&E) -> bool>(self, overload_when: O2) -> Call<'g, Op, W, N, A, F, O2> {
        let Call { gov, op, plan, hooks, breaker } = self;
        Call { gov, op, plan, hooks: hooks.with_overload_when(overload_when), breaker }
    }

    /// Uses the circuit breaker of `key` (a site, a session) instead of the default one.
    /// Keyed breakers live in a registry bounded by `breaker.max_keys`; the key `"default"`
    /// is the default breaker. The breaker is looked up (or made) here, by the borrowed key:
    /// the key is copied only into a new breaker's entry.
    ///
    /// A caller that makes many calls with one key can look its breaker up once, with
    /// [`Governor::breaker_for`], and pass it to [`breaker`](Self::breaker).
    #[inline]
    pub fn key(mut self, key: impl AsRef<str>) -> Self {
        self.breaker = Some(self.gov.inner.breakers.for_key(Some(key.as_ref())));
        self
    }

    /// Uses `breaker` — one the caller keeps, from [`Governor::breaker_for`] — instead of the
    /// default one: the same as [`key`](Self::key) with that breaker's key, without looking
    /// it up again for every call.
    ///
    /// A breaker the registry has since evicted to make room (it holds at most
    /// `breaker.max_keys`; one a caller still holds counts as in use and goes last) still
    /// works for the calls given it, but no longer shows in `status().breakers`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # // Health off: a busy machine's sample must not shed the doctest's calls.
    /// # let health = bursar::health::HealthConfig::disabled();
    /// let gov = bursar::Governor::builder().health(health).build()?;
    /// let site = gov.breaker_for("example.com");
    /// for _ in 0..3 {
    ///     let refused = || async { Err::<(), _>(std::io::Error::other("503")) };
    ///     assert!(gov.call(refused).attempts(1).breaker(&site).await.is_err());
    /// }
    /// let breakers = gov.status().breakers;
    /// assert_eq!(breakers["example.com"].consecutive_failures, 3);
    /// assert_eq!(breakers["default"].consecutive_failures, 0);
    /// # Ok(()) }
    /// ```
    pub fn breaker(mut self, breaker: &'g CircuitBreaker) -> Self {
        self.breaker = Some(BreakerRef::Default(breaker));
        self
    }

    /// Attempts in all, the first included: 0 is taken as 1, more than 1000 as 1000 (the same
    /// as [`RetryExt`](crate::retry::RetryExt)'s `attempts`).
    pub fn attempts(mut self, max_attempts: u32) -> Self {
        self.plan.to_mut().max_attempts = crate::retry::clamp_attempts(max_attempts);
        self
    }

    /// Each attempt may run at most `timeout`; one that runs longer is cancelled and, if
    /// attempts remain, retried. The last one is reported as [`Error::AttemptTimeout`] and counted in
    /// [`WorkerStatus::attempt_timeouts`](crate::WorkerStatus::attempt_timeouts). A timeout
    /// below 1 ms acts as 1 ms, tokio's timer resolution (unlike the configuration's limits,
    /// which `build()` checks, a call's setters cannot fail).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.plan.to_mut().attempt_timeout = Some(timeout);
        self
    }

    /// No retry starts that would end later than `deadline` after the call began (time spent
    /// in the queue for the first worker counts).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.plan.to_mut().deadline = Some(deadline);
        self
    }

    /// The name the call's `tracing` events carry.
    pub fn name(mut self, name: &'static str) -> Self {
        self.plan.to_mut().name = name;
        self
    }

    /// Declares that the call takes `bytes` of memory while it runs (a browser context: 100–300
    /// MB). With a memory floor (`health.memory_floor`), admission waits — within the queue
    /// timeout, before the breaker and the queue for a worker — while the available memory at
    /// the health monitor's last sample, less the costs of the admitted work still running and
    /// this one, would fall below the floor; a wait longer than the queue timeout is rejected
    /// with [`Rejection::QueueTimeout`](crate::Rejection::QueueTimeout), and a cost more than
    /// the machine's memory less the floor, which no wait could admit, at once with
    /// [`Rejection::CostTooHigh`](crate::Rejection::CostTooHigh). The wait for memory and
    /// the wait for a worker after it share the one queue timeout. The bytes stay
    /// reserved, across retries, until the call ends however it ends (dropped too), and show
    /// in `status().workers.memory`. 0, the default, reserves nothing; other costs are rounded up
    /// to a whole KiB (at most 4 TiB).
    ///
    /// # Examples
    ///
    /// ```
    /// use bursar::health::{HealthConfig, Readings, Sampler};
    ///
    /// /// 3 GiB available of 10 GiB.
    /// struct Machine;
    ///
    /// impl Sampler for Machine {
    ///     async fn sample(&mut self) -> Readings {
    ///         let mut readings = Readings::new(10.0, 70.0, 8);
    ///         (readings.memory_available, readings.memory_total) = Some((3 << 30, 10 << 30)).unzip();
    ///         readings
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // Keep 10 % of memory (1 GiB) free: 2 GiB for the work in flight.
    /// let health = HealthConfig::default().memory_floor(10.0);
    /// let gov = bursar::Governor::builder().health(health).sampler(Machine).build()?;
    /// tokio::time::sleep(std::time::Duration::from_secs(1)).await; // the first sample
    ///
    /// let page = gov
    ///     .call(|| async {
    ///         let memory = gov.status().workers.memory;
    ///         assert_eq!((memory.reserved, memory.floor), (300 << 20, Some(1 << 30)));
    ///         Ok::<_, std::io::Error>("<html>")
    ///     })
    ///     .cost(300 << 20)
    ///     .await?;
    /// assert_eq!(page, "<html>");
    /// assert_eq!(gov.status().workers.memory.reserved, 0, "given back when the call ended");
    /// # Ok(()) }
    /// ```
    pub fn cost(mut self, bytes: u64) -> Self {
        self.plan.to_mut().cost_kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        self
    }

    /// Runs the call: see [`Governor::run`] for the order of events and the errors. The same
    /// as `.await` on the call itself.
    ///
    /// # Errors
    ///
    /// As [`Governor::run`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`Governor::run`].
    pub fn run(self) -> CallFuture<'g, Op, Fut, E, W, N, A, F, O>
    where
        W: RetryWhen<E>,
        N: RetryNotify<Error<E>>,
        A: RetryAdjust<Error<E>>,
        F: RetryWhen<E>,
        O: RetryWhen<E>,
    {
        let Call { gov, op, plan, hooks, breaker } = self;
        let breaker = breaker.unwrap_or(BreakerRef::Default(&gov.inner.breakers.default));
        CallFuture { inner: gov.execute(op, plan, hooks, Some(breaker)) }
    }
}

impl<'g, Op, Fut, T, E, W, N, A, F, O> IntoFuture for Call<'g, Op, W, N, A, F, O>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    W: RetryWhen<E>,
    N: RetryNotify<Error<E>>,
    A: RetryAdjust<Error<E>>,
    F: RetryWhen<E>,
    O: RetryWhen<E>,
{
    type Output = Result<T, Error<E>>;
    type IntoFuture = CallFuture<'g, Op, Fut, E, W, N, A, F, O>;

    fn into_future(self) -> Self::IntoFuture {
        self.run()
    }
}

pin_project! {
    /// The future of a [`Call`]: what `.await` on it, and [`Call::run`], poll. Its steps are
    /// those of [`Governor::run`]'s `# Order`.
    ///
    /// Like an `async fn`'s future it is not `Unpin` when the operation's future is not: to
    /// poll it by reference (in a `select!` loop, say), pin it first with
    /// [`std::pin::pin!`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`Governor::run`]: dropping it frees everything the call holds.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct CallFuture<'g, Op, Fut, E, W, N, A, F, O> {
        #[pin]
        inner: CallOf<'g, Op, Fut, E, W, N, A, F, O>,
    }
}

/// The call path's future for a [`Call`]'s hooks and plan.
type CallOf<'g, Op, Fut, E, W, N, A, F, O> =
    super::run::CallFuture<'g, Op, Fut, E, Hooks<W, N, A, F, O>, Cow<'g, CallPlan>>;

impl<Op, Fut, T, E, W, N, A, F, O> Future for CallFuture<'_, Op, Fut, E, W, N, A, F, O>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    W: RetryWhen<E>,
    N: RetryNotify<Error<E>>,
    A: RetryAdjust<Error<E>>,
    F: RetryWhen<E>,
    O: RetryWhen<E>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<Op, Fut, E, W, N, A, F, O> std::fmt::Debug for CallFuture<'_, Op, Fut, E, W, N, A, F, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallFuture").finish_non_exhaustive()
    }
}

impl<Op, W, N, A, F, O> std::fmt::Debug for Call<'_, Op, W, N, A, F, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call").field("plan", &self.plan).finish_non_exhaustive()
    }
}

//! Retry without a governor: an extension trait on any closure that makes a future.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::RetryBudget;
use super::attempts::{Attempts, clamp_attempts};
use super::hooks::{AnyError, RetryAdjust, RetryNotify, RetryWhen};
use crate::contain::{Containment, UserCode};
use crate::{CallbackStatus, Error};

/// Adds [`retry`](RetryExt::retry) to every `FnMut() -> impl Future<Output = Result<T, E>>`.
///
/// # Examples
///
/// ```
/// use bursar::retry::{ExponentialBackoff, RetryExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let mut calls = 0;
/// let fetch = || {
///     calls += 1;
///     let attempt = calls;
///     async move { if attempt < 3 { Err("connection reset") } else { Ok("<html>") } }
/// };
/// let page = fetch
///     .retry(ExponentialBackoff::new())
///     .when(|error: &&str| error.contains("reset"))
///     .await;
/// assert_eq!(page, Ok("<html>"));
/// # }
/// ```
pub trait RetryExt<Fut>: FnMut() -> Fut + Sized {
    /// Retries the operation with the delays of `schedule` — any `IntoIterator<Item =
    /// Duration>` — for at most 3 attempts in all (change it with
    /// [`attempts`](Retry::attempts)).
    fn retry<'a, S>(self, schedule: S) -> Retry<'a, Self, S::IntoIter>
    where
        S: IntoIterator<Item = Duration>,
    {
        let limits = Limits { max_attempts: 3, deadline: None, budget: None };
        let delays = schedule.into_iter();
        Retry { op: self, delays, limits, when: AnyError, notify: (), adjust: (), borrows: PhantomData }
    }
}

impl<F: FnMut() -> Fut, Fut> RetryExt<Fut> for F {}

/// A retrying operation, built by [`RetryExt::retry`]; `.await` it, or call
/// [`run`](Self::run) to await it without the one allocation `.await` makes.
///
/// # Default
///
/// | setting | default |
/// |---|---|
/// | attempts | 3 (the first call included) |
/// | when | every error is retried |
/// | deadline | none |
/// | budget | none |
#[must_use = "a retry does nothing until it is awaited"]
pub struct Retry<'a, Op, I, W = AnyError, N = (), A = ()> {
    op: Op,
    delays: I,
    limits: Limits,
    when: W,
    notify: N,
    adjust: A,
    borrows: PhantomData<&'a ()>,
}

/// What ends retrying besides `when`.
#[derive(Debug)]
struct Limits {
    max_attempts: u32,
    deadline: Option<Duration>,
    budget: Option<Arc<RetryBudget>>,
}

impl<'a, Op, Fut, T, E, I, W, N, A> Retry<'a, Op, I, W, N, A>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    I: Iterator<Item = Duration>,
{
    /// Attempts in all, the first included: 0 is taken as 1, more than 1000 as 1000 (the same
    /// as [`Call::attempts`](crate::Call::attempts)).
    pub fn attempts(mut self, max_attempts: u32) -> Self {
        self.limits.max_attempts = clamp_attempts(max_attempts);
        self
    }

    /// No retry starts that would end later than `deadline` after the call began (the same as
    /// [`Call::deadline`](crate::Call::deadline); here the call begins with its first attempt).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.limits.deadline = Some(deadline);
        self
    }

    /// Each call deposits into `budget`, each retry withdraws; a spent budget ends retrying.
    pub fn budget(mut self, budget: Arc<RetryBudget>) -> Self {
        self.limits.budget = Some(budget);
        self
    }

    /// Retries only errors for which `when` is true; any other error is returned at once.
    pub fn when<W2: Fn(&E) -> bool>(self, when: W2) -> Retry<'a, Op, I, W2, N, A> {
        let Retry { op, delays, limits, notify, adjust, .. } = self;
        Retry { op, delays, limits, when, notify, adjust, borrows: PhantomData }
    }

    /// Calls `notify(failed_attempt, &error, delay)` before each retry. The error is an
    /// [`Error`], as [`Call::notify`](crate::Call::notify)'s: here always
    /// [`Error::Operation`], since without a governor only the operation's own errors are
    /// retried.
    pub fn notify<N2: FnMut(u32, &Error<E>, Duration)>(self, notify: N2) -> Retry<'a, Op, I, W, N2, A> {
        let Retry { op, delays, limits, when, adjust, .. } = self;
        Retry { op, delays, limits, when, notify, adjust, borrows: PhantomData }
    }

    /// Replaces each delay with `adjust(&error, delay)`, e.g. a server's `Retry-After`. The
    /// error is an [`Error`], as for [`notify`](Self::notify).
    pub fn adjust<A2: FnMut(&Error<E>, Duration) -> Duration>(
        self,
        adjust: A2,
    ) -> Retry<'a, Op, I, W, N, A2> {
        let Retry { op, delays, limits, when, notify, .. } = self;
        Retry { op, delays, limits, when, notify, adjust, borrows: PhantomData }
    }

    /// Runs the attempts; the last error is returned when retrying ends.
    ///
    /// # Errors
    ///
    /// The operation's error: one `when` rejects, or the last one when the attempts, the
    /// schedule, the deadline or the budget run out.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future drops the attempt or the sleep in progress.
    pub async fn run(mut self) -> Result<T, E>
    where
        W: RetryWhen<E>,
        N: RetryNotify<Error<E>>,
        A: RetryAdjust<Error<E>>,
    {
        let Limits { max_attempts, deadline, budget } = self.limits;
        let deadline = deadline.and_then(|deadline| Instant::now().checked_add(deadline));
        let mut attempts = Attempts::new(self.delays, max_attempts, deadline);
        if let Some(budget) = &budget {
            budget.deposit(Instant::now());
        }
        loop {
            let error = match (self.op)().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let failed = attempts.made();
            // Each hook runs contained and decides as `gov.call`'s: a `when` that panics retries
            // nothing, an `adjust` that panics keeps the scheduled delay, a `notify` that panics
            // lets the retry go on.
            let hooks = &*HOOKS;
            if !hooks.call(UserCode::RetryWhen, || self.when.retryable(&error)).unwrap_or(false) {
                return Err(error);
            }
            // The hooks see the error as `gov.call`'s see theirs.
            let error = Error::Operation(error);
            let adjust = &mut self.adjust;
            let adjusted =
                |delay| hooks.call(UserCode::RetryAdjust, || adjust.adjust(&error, delay)).unwrap_or(delay);
            let delay = match attempts.next_delay(adjusted, Duration::ZERO) {
                Ok(delay) => delay,
                Err(stop) => {
                    tracing::debug!(target: "bursar::retry", ?stop, "retrying ends");
                    return Err(operation(error));
                }
            };
            if budget.as_ref().is_some_and(|budget| !budget.withdraw(Instant::now())) {
                tracing::warn!(target: "bursar::retry", "retry budget spent; returning the last error");
                return Err(operation(error));
            }
            let _ = hooks.call(UserCode::RetryNotify, || self.notify.notify(failed, &error, delay));
            tracing::debug!(target: "bursar::retry", attempt = failed, ?delay, "attempt failed; retrying");
            sleep(delay).await;
        }
    }
}

impl<'a, Op, Fut, T, E, I, W, N, A> IntoFuture for Retry<'a, Op, I, W, N, A>
where
    Op: FnMut() -> Fut + Send + 'a,
    Fut: Future<Output = Result<T, E>> + Send + 'a,
    T: Send + 'a,
    E: Send + 'a,
    I: Iterator<Item = Duration> + Send + 'a,
    W: RetryWhen<E> + Send + 'a,
    N: RetryNotify<Error<E>> + Send + 'a,
    A: RetryAdjust<Error<E>> + Send + 'a,
{
    type Output = Result<T, E>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// Where the hooks of every retry without a governor run: there is no governor to count them,
/// so they are counted process-wide ([`hook_status`]).
static HOOKS: LazyLock<Containment> = LazyLock::new(Containment::default);

/// The panics caught in the hooks (`when`, `notify`, `adjust`) of retries made without a
/// governor ([`RetryExt`]), in this process, by hook name. Each was also an `ERROR` event, and
/// the retry went on as the hook's docs say.
///
/// # Examples
///
/// ```
/// use bursar::retry::{RetryExt, hook_status};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let before = hook_status().panics.get("when").copied().unwrap_or(0);
/// let failed = (|| async { Err::<(), _>("reset") })
///     .retry(vec![std::time::Duration::from_secs(1)])
///     .when(|_: &&str| -> bool { panic!("a bug in the predicate") })
///     .await;
/// assert_eq!(failed, Err("reset"), "a `when` that panics retries nothing");
/// assert_eq!(hook_status().panics["when"], before + 1);
/// # }
/// ```
pub fn hook_status() -> CallbackStatus {
    HOOKS.status()
}

/// The operation's error, wrapped for the hooks.
fn operation<E>(error: Error<E>) -> E {
    error.into_operation().expect("the hooks see an operation's error")
}

impl<Op, I, W, N, A> std::fmt::Debug for Retry<'_, Op, I, W, N, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retry").field("limits", &self.limits).finish_non_exhaustive()
    }
}

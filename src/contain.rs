//! Containment of user code: the one place where bursar calls what a user handed it.
//!
//! Every callback — a sampler, a health check, a recovery, a breaker's transition callback, a
//! retry hook, a pool manager, the drop of an operation's future — runs through
//! [`Containment`]. A panic there is caught, becomes an `ERROR` event naming the callback and
//! is counted; the part that called it goes on with the documented fallback. A callback the
//! part waits for is bounded by a limit ([`Containment::within`]) and a hang is counted the
//! same way, as a `WARN` event (a hang is often a loaded machine rather than a bug). No user
//! code runs while the thread is already unwinding: a second panic there would abort the
//! process, so the call is skipped (an `ERROR` event, counted as a panic).

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::counter_set::CounterSet;

/// Runs `code`, turning a panic into its message: the one place bursar catches a panic. The
/// operation's own supervision uses it bare (a panic there is the call's outcome,
/// [`Error::Panicked`](crate::Error::Panicked)); every other piece of user code goes through
/// [`Containment`], which also logs and counts.
#[inline(always)]
pub(crate) fn catch<R>(code: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(code)).map_err(into_message)
}

/// The message of a caught panic, its payload dropped. The payload's drop is user code too (a
/// `panic_any` of a type whose `Drop` panics): it runs under a catch of its own, and what that
/// catches is forgotten, not dropped.
#[cold]
fn into_message(payload: Box<dyn Any + Send>) -> String {
    let message = panic_message(payload.as_ref());
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
    message
}

/// The text of a panic payload: the `&str` or `String` given to `panic!`.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// The kinds of user code bursar calls, as named in events and in the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserCode {
    /// The drop of an operation's future, when bursar cancels it.
    OperationDrop,
    /// A health [`Sampler`](crate::health::Sampler).
    Sampler,
    /// A custom health check.
    CheckResult,
    /// An `on_error` recovery callback.
    Recovery,
    /// An `on_critical` emergency action.
    EmergencyAction,
    /// A breaker's transition callback.
    Transition,
    /// A retry `when` predicate.
    RetryWhen,
    /// A `failure_when` predicate, of a call or of a breaker's `call_when`.
    FailureWhen,
    /// An `overload_when` predicate of a call.
    OverloadWhen,
    /// A retry `notify` hook.
    RetryNotify,
    /// A retry `adjust` hook.
    RetryAdjust,
    /// `Manager::create`.
    ManagerCreate,
    /// `Manager::check`.
    ManagerCheck,
    /// `Manager::destroy`.
    ManagerDestroy,
    /// `Manager::is_broken`.
    ManagerIsBroken,
    /// `Manager::process_group`.
    ManagerProcessGroup,
    /// A tower service wrapped by the governor's layer.
    TowerService,
    /// The metrics recorder, through the `metrics` facade.
    MetricsRecorder,
    /// A [`FleetBackend`](crate::fleet::FleetBackend)'s operations (the user's own backend, or
    /// `RedisBackend`).
    FleetBackend,
}

impl UserCode {
    const ALL: [UserCode; 19] = [
        UserCode::OperationDrop,
        UserCode::Sampler,
        UserCode::CheckResult,
        UserCode::Recovery,
        UserCode::EmergencyAction,
        UserCode::Transition,
        UserCode::RetryWhen,
        UserCode::FailureWhen,
        UserCode::OverloadWhen,
        UserCode::RetryNotify,
        UserCode::RetryAdjust,
        UserCode::ManagerCreate,
        UserCode::ManagerCheck,
        UserCode::ManagerDestroy,
        UserCode::ManagerIsBroken,
        UserCode::ManagerProcessGroup,
        UserCode::TowerService,
        UserCode::MetricsRecorder,
        UserCode::FleetBackend,
    ];
    const COUNT: usize = Self::ALL.len();

    /// The callback's name in events and in the status.
    pub(crate) fn name(self) -> &'static str {
        match self {
            UserCode::OperationDrop => "operation_drop",
            UserCode::Sampler => "sampler",
            UserCode::CheckResult => "health_check",
            UserCode::Recovery => "on_error",
            UserCode::EmergencyAction => "on_critical",
            UserCode::Transition => "on_transition",
            UserCode::RetryWhen => "when",
            UserCode::FailureWhen => "failure_when",
            UserCode::OverloadWhen => "overload_when",
            UserCode::RetryNotify => "notify",
            UserCode::RetryAdjust => "adjust",
            UserCode::ManagerCreate => "manager_create",
            UserCode::ManagerCheck => "manager_check",
            UserCode::ManagerDestroy => "manager_destroy",
            UserCode::ManagerIsBroken => "manager_is_broken",
            UserCode::ManagerProcessGroup => "manager_process_group",
            UserCode::TowerService => "tower_service",
            UserCode::MetricsRecorder => "metrics_recorder",
            UserCode::FleetBackend => "fleet_backend",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for UserCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How contained user code failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// It panicked with this message.
    Panicked(String),
    /// It did not finish within the limit the caller set.
    Hung(Duration),
    /// It was not run: the thread was unwinding from another panic.
    Unwinding,
}

impl Fault {
    /// The panic's own message; for other faults, what happened.
    pub(crate) fn into_message(self) -> String {
        match self {
            Fault::Panicked(message) => message,
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Panicked(message) => write!(f, "panicked: {message}"),
            Fault::Hung(limit) => write!(f, "did not finish within {limit:?}"),
            Fault::Unwinding => f.write_str("not run while the thread unwinds from a panic"),
        }
    }
}

/// Runs user code contained and counts how it failed: one per governor, shared by its parts;
/// a part used on its own has one of its own.
#[derive(Default)]
pub(crate) struct Containment {
    panics: CounterSet<{ UserCode::COUNT }>,
    hangs: CounterSet<{ UserCode::COUNT }>,
}

impl Containment {
    /// Runs `code`; a panic in it is caught, logged and counted.
    ///
    /// # Errors
    ///
    /// [`Fault::Panicked`] if it panicked, [`Fault::Unwinding`] if it was not run because the
    /// thread is unwinding.
    pub(crate) fn call<R>(&self, kind: UserCode, code: impl FnOnce() -> R) -> Result<R, Fault> {
        if std::thread::panicking() {
            return Err(self.fault(kind, Fault::Unwinding));
        }
        self.call_outside_drop(kind, code)
    }

    /// [`call`](Self::call) for code that is never called from a `Drop`, so never while the
    /// thread unwinds: without that check, for paths where it would be a measurable part.
    ///
    /// # Errors
    ///
    /// [`Fault::Panicked`] if it panicked.
    #[inline]
    pub(crate) fn call_outside_drop<R>(&self, kind: UserCode, code: impl FnOnce() -> R) -> Result<R, Fault> {
        catch(code).map_err(|message| self.fault(kind, Fault::Panicked(message)))
    }

    /// `future`, with a panic in any of its polls (or its drop) caught, logged and counted. It
    /// is polled where it lies, without a box: on paths such as a pool's checkout an
    /// allocation per call would cost more than the rest of the call.
    ///
    /// # Errors
    ///
    /// [`Fault::Panicked`] if a poll panicked.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it drops `future`, contained.
    pub(crate) async fn in_place<F: Future>(&self, kind: UserCode, future: F) -> Result<F::Output, Fault> {
        let future = pin!(Some(future));
        let mut contained = InPlace { containment: self, kind, future };
        poll_fn(|cx| contained.poll(cx)).await
    }

    /// Calls `make` and runs the future it makes, both contained, given up after `limit`: a
    /// hang is logged and counted.
    ///
    /// # Errors
    ///
    /// [`Fault::Hung`] after `limit`, or the fault of [`call`](Self::call) or
    /// [`in_place`](Self::in_place).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it drops the future, contained.
    pub(crate) async fn within<F: Future>(
        &self,
        kind: UserCode,
        limit: Duration,
        make: impl FnOnce() -> F,
    ) -> Result<F::Output, Fault> {
        let future = self.call(kind, make)?;
        match tokio::time::timeout(limit, self.in_place(kind, future)).await {
            Ok(output) => output,
            Err(_elapsed) => Err(self.fault(kind, Fault::Hung(limit))),
        }
    }

    /// Panics caught so far, in all.
    #[cfg(test)]
    pub(crate) fn panics(&self) -> u64 {
        UserCode::ALL.iter().map(|kind| self.panics.get(kind.index())).sum()
    }

    /// What the status shows: panics and hangs by callback, those with none left out.
    pub(crate) fn status(&self) -> CallbackStatus {
        let by_callback = |counters: &CounterSet<{ UserCode::COUNT }>| {
            UserCode::ALL
                .iter()
                .map(|kind| (kind.name().to_owned(), counters.get(kind.index())))
                .filter(|(_, count)| *count > 0)
                .collect::<BTreeMap<_, _>>()
        };
        #[allow(unused_mut, reason = "only the metrics feature adds the recorder's count")]
        let mut panics = by_callback(&self.panics);
        #[cfg(feature = "metrics")]
        {
            // Relaxed: a statistic.
            let recorder = RECORDER_PANICS.load(std::sync::atomic::Ordering::Relaxed);
            if recorder > 0 {
                *panics.entry(UserCode::MetricsRecorder.name().to_owned()).or_default() += recorder;
            }
        }
        let hangs = by_callback(&self.hangs);
        CallbackStatus { panicked: panics.values().sum(), hung: hangs.values().sum(), panics, hangs }
    }

    /// Logs and counts `fault`, then returns it.
    pub(crate) fn fault(&self, kind: UserCode, fault: Fault) -> Fault {
        let counters = if let Fault::Hung(_) = fault { &self.hangs } else { &self.panics };
        counters.add(kind.index(), 1);
        log(kind, &fault);
        fault
    }

    /// Polls `future`, which its owner pinned in an `Option`, with a panic caught, logged and
    /// counted. For a path where even [`in_place`](Self::in_place)'s own future is too much:
    /// the owner polls this from its own future and calls [`drop_in_place`](Self::drop_in_place)
    /// once it has ended (or panicked), or when the owner gives up first; the owner learns
    /// from that call whether the drop panicked, to count it where it counts the poll's.
    #[inline]
    pub(crate) fn poll_in_place<F: Future>(
        &self,
        kind: UserCode,
        future: Pin<&mut Option<F>>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<F::Output, Fault>> {
        self.make_and_poll_in_place(kind, future, &mut None::<fn() -> F>, cx)
    }

    /// [`poll_in_place`](Self::poll_in_place) of the future `make` returns, made in the first
    /// poll, in the same guard: the call that makes a future is user code too (a method may
    /// panic before it returns one), and one guard for both costs less than one each.
    #[inline]
    pub(crate) fn make_and_poll_in_place<F: Future>(
        &self,
        kind: UserCode,
        mut future: Pin<&mut Option<F>>,
        make: &mut Option<impl FnOnce() -> F>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<F::Output, Fault>> {
        let polled = catch(|| {
            if let Some(make) = make.take() {
                future.set(Some(make()));
            }
            future.as_mut().as_pin_mut().map(|made| made.poll(cx))
        });
        match polled {
            Ok(Some(Poll::Pending)) => Poll::Pending,
            Ok(Some(Poll::Ready(output))) => Poll::Ready(Ok(output)),
            Ok(None) => Poll::Ready(Err(Fault::Panicked("polled after it ended".to_owned()))),
            Err(message) => Poll::Ready(Err(self.fault(kind, Fault::Panicked(message)))),
        }
    }

    /// Drops a future pinned in an `Option` in place, contained (its drop is user code). While
    /// the thread unwinds nothing is dropped here: the pinned slot drops it afterwards, as any
    /// unwinding frame would.
    ///
    /// Returns whether the drop panicked (logged and counted here), so a part that keeps its
    /// own count of its user code's panics can count it too. A drop skipped while the thread
    /// unwinds is no panic of the user's code: `false`.
    #[inline]
    pub(crate) fn drop_in_place<F>(&self, kind: UserCode, mut future: Pin<&mut Option<F>>) -> bool {
        future.is_some() && matches!(self.call(kind, move || future.set(None)), Err(Fault::Panicked(_)))
    }
}

/// The event of a fault: a hang is often a loaded machine rather than a bug, so a warning; a
/// panic, or code skipped while the thread unwinds, an error.
fn log(kind: UserCode, fault: &Fault) {
    match fault {
        Fault::Hung(limit) => {
            tracing::warn!(target: "bursar", callback = kind.name(), ?limit, "user code did not finish in time; given up");
        }
        Fault::Panicked(_) | Fault::Unwinding => {
            tracing::error!(target: "bursar", callback = kind.name(), %fault, "user code failed; contained");
        }
    }
}

impl fmt::Debug for Containment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Containment").field("status", &self.status()).finish()
    }
}

/// User code that panicked or hung, as [`Status::callbacks`](crate::Status::callbacks) counts
/// it: a panic was caught (or the code was skipped because the thread was unwinding), a hang
/// was given up at its limit. The part that called the code went on; see the table in the
/// crate docs for what each part does instead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct CallbackStatus {
    /// Panics caught in all: alert on any.
    pub panicked: u64,
    /// Hangs given up in all.
    pub hung: u64,
    /// Panics by callback name (`"sampler"`, `"on_transition"`, …); callbacks without any are
    /// left out.
    pub panics: BTreeMap<String, u64>,
    /// Hangs by callback name.
    pub hangs: BTreeMap<String, u64>,
}

/// Panics of the process's metrics recorder: it is process-wide, so its count is too.
#[cfg(feature = "metrics")]
static RECORDER_PANICS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Runs `record`, a call into the `metrics` recorder (user code installed process-wide),
/// contained: a panic is an `ERROR` event and counted under `metrics_recorder` in every
/// governor's status. On a thread that is unwinding nothing is recorded (a second panic would
/// abort the process).
#[cfg(feature = "metrics")]
#[inline]
pub(crate) fn recording(record: impl FnOnce()) {
    if std::thread::panicking() {
        return;
    }
    if let Err(panic) = catch(record) {
        // Relaxed: a statistic.
        RECORDER_PANICS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        log(UserCode::MetricsRecorder, &Fault::Panicked(panic));
    }
}

/// The state of [`Containment::in_place`]: the future, pinned in the caller's frame, is
/// dropped contained as soon as it ends, or when this is dropped.
struct InPlace<'a, F> {
    containment: &'a Containment,
    kind: UserCode,
    future: Pin<&'a mut Option<F>>,
}

impl<F: Future> InPlace<'_, F> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<F::Output, Fault>> {
        let polled = std::task::ready!(self.containment.poll_in_place(self.kind, self.future.as_mut(), cx));
        // Dropped as soon as it ends, so what it holds is freed then; a panic there is counted
        // in this containment alone, which is all it reports to.
        let _faulted = self.containment.drop_in_place(self.kind, self.future.as_mut());
        Poll::Ready(polled)
    }
}

impl<F> Drop for InPlace<'_, F> {
    fn drop(&mut self) {
        let _faulted = self.containment.drop_in_place(self.kind, self.future.as_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_caught_named_and_counted() {
        let containment = Containment::default();
        let fault = containment.call(UserCode::Sampler, || panic!("sensor gone")).unwrap_err();
        assert_eq!(fault, Fault::Panicked("sensor gone".to_owned()));
        assert_eq!(containment.call(UserCode::Sampler, || 7), Ok(7));
        let status = containment.status();
        assert_eq!((status.panicked, status.hung), (1, 0));
        assert_eq!(status.panics, BTreeMap::from([("sampler".to_owned(), 1)]));
    }

    struct PanicsOnDrop;

    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("drop panicked");
            }
        }
    }

    #[test]
    fn a_drop_that_panics_is_contained() {
        let containment = Containment::default();
        let _ = containment.call(UserCode::OperationDrop, || drop(PanicsOnDrop));
        assert_eq!(containment.status().panics, BTreeMap::from([("operation_drop".to_owned(), 1)]));
    }

    /// A panic whose payload's own drop panics (`panic_any(PanicsOnDrop)`) stays caught.
    #[test]
    fn a_panic_payload_whose_drop_panics_is_contained() {
        let containment = Containment::default();
        let fault = containment.call(UserCode::Sampler, || std::panic::panic_any(PanicsOnDrop)).unwrap_err();
        assert_eq!(fault, Fault::Panicked("<non-string panic payload>".to_owned()));
        assert_eq!(
            catch(|| std::panic::panic_any(PanicsOnDrop)),
            Err::<(), _>("<non-string panic payload>".to_owned())
        );
        assert_eq!(containment.status().panics, BTreeMap::from([("sampler".to_owned(), 1)]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_future_that_panics_or_hangs_is_contained_and_counted() {
        let containment = Containment::default();
        let panicked = containment.in_place(UserCode::CheckResult, async { panic!("check broke") });
        assert_eq!(panicked.await, Err(Fault::Panicked("check broke".to_owned())));
        let hung =
            containment.within(UserCode::CheckResult, Duration::from_secs(3), std::future::pending::<()>);
        assert_eq!(hung.await, Err(Fault::Hung(Duration::from_secs(3))));
        let fine = containment.within(UserCode::CheckResult, Duration::from_secs(3), || async { 5 });
        assert_eq!(fine.await, Ok(5));
        let never_made = containment.within(
            UserCode::CheckResult,
            Duration::from_secs(3),
            || -> std::future::Ready<()> { panic!("the closure itself panicked") },
        );
        assert_eq!(never_made.await, Err(Fault::Panicked("the closure itself panicked".to_owned())));
        let status = containment.status();
        assert_eq!((status.panicked, status.hung), (2, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_future_run_in_place_is_contained_and_dropped_contained() {
        let containment = Containment::default();
        let panicked = containment.in_place(UserCode::ManagerCheck, async { panic!("check broke") });
        assert_eq!(panicked.await, Err(Fault::Panicked("check broke".to_owned())));
        let fine = containment.in_place(UserCode::ManagerCreate, async { 5 });
        assert_eq!(fine.await, Ok(5));
        let dropped = PanicsOnDrop;
        let cut_off = containment.in_place(UserCode::ManagerCheck, async move {
            let _dropped = dropped;
            std::future::pending::<()>().await
        });
        assert!(tokio::time::timeout(Duration::from_secs(1), cut_off).await.is_err());
        let status = containment.status();
        let panics = [("manager_check".to_owned(), 2)];
        assert_eq!((status.panics, status.hung), (BTreeMap::from(panics), 0));
    }

    #[test]
    fn no_user_code_runs_while_the_thread_unwinds() {
        struct CallsOnDrop<'a>(&'a Containment, &'a std::sync::atomic::AtomicBool);
        impl Drop for CallsOnDrop<'_> {
            fn drop(&mut self) {
                let ran = self.0.call(UserCode::Transition, || {
                    self.1.store(true, std::sync::atomic::Ordering::SeqCst);
                    panic!("a second panic would abort")
                });
                assert_eq!(ran, Err(Fault::Unwinding));
            }
        }
        let (containment, ran) = (Containment::default(), std::sync::atomic::AtomicBool::new(false));
        let unwound = catch_unwind(AssertUnwindSafe(|| {
            let _guard = CallsOnDrop(&containment, &ran);
            panic!("the operation panicked");
        }));
        assert!(unwound.is_err());
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst), "the callback did not run");
        assert_eq!(containment.panics(), 1);
    }
}

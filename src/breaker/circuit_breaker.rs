//! [`CircuitBreaker`]: the public face of one breaker, mostly documentation over its
//! [`Engine`].

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio::time::Instant;

use super::config::BreakerConfig;
use super::engine::Engine;
use super::notify::Callback;
use super::permit::{NotPermitted, OwnedPermit, Permit};
use super::status::BreakerStatus;
use super::transition::{BreakerState, Transition};
use crate::BuildError;
use crate::contain::Containment;

/// Stops calls to a dependency that keeps failing, then lets a few probe calls find out when
/// it has recovered. See the [module documentation](super) for the states and rules.
///
/// Share one breaker per dependency behind an [`Arc`]. Run a call through it with
/// [`call`](Self::call), or hold its [`Permit`] yourself: [`try_acquire`](Self::try_acquire),
/// then [`success`](Permit::success) or [`failure`](Permit::failure). The breaker reads tokio's
/// clock itself, and only when it needs to (the closed path reads none), so a test on a paused
/// clock moves it with `tokio::time::advance`; the `*_at` variants take the instant instead.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use bursar::breaker::{BreakerConfig, BreakerState, CircuitBreaker};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), bursar::BuildError> {
/// let breaker = CircuitBreaker::new(&BreakerConfig::default())?;
/// for _ in 0..5 {
///     breaker.try_acquire().expect("closed").failure();
/// }
/// assert_eq!(breaker.state(), BreakerState::Open);
/// tokio::time::sleep(Duration::from_secs(20)).await;
/// let rejected = breaker.try_acquire().unwrap_err();
/// assert_eq!(rejected.retry_after, Duration::from_secs(100));
///
/// // After the open wait, one probe goes through; its success closes the breaker.
/// tokio::time::sleep(rejected.retry_after).await;
/// let probe = breaker.try_acquire().expect("a probe");
/// assert!(probe.is_probe() && breaker.try_acquire().is_err());
/// probe.success();
/// assert_eq!(breaker.state(), BreakerState::Closed);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct CircuitBreaker {
    pub(crate) engine: Engine,
    /// Set when a keyed call used the breaker without asking its registry (the governor
    /// remembers each thread's last key); the registry's eviction takes it as a recent use.
    pub(crate) used_unseen: AtomicBool,
}

impl CircuitBreaker {
    /// A closed breaker following `config`.
    ///
    /// # Errors
    ///
    /// [`BuildError::Invalid`] naming the first field of `config` that breaks a rule; see
    /// [`BreakerConfig::validate`].
    pub fn new(config: &BreakerConfig) -> Result<Self, BuildError> {
        config.validate()?;
        Ok(CircuitBreaker::from_valid(config))
    }

    /// A breaker from a configuration already validated.
    pub(crate) fn from_valid(config: &BreakerConfig) -> Self {
        CircuitBreaker { engine: Engine::new(config), used_unseen: AtomicBool::new(false) }
    }

    /// Names the breaker in its `tracing` events (field `breaker`).
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.engine.name = Some(name.into());
        self
    }

    /// Calls `callback` with every transition, in order, once each. It runs outside the
    /// breaker's lock on the thread that caused the transition (or on one still delivering an
    /// earlier one), so it may use the breaker, even cause a transition itself. Keep it short.
    ///
    /// # Panics
    ///
    /// A panic in `callback` is caught: it becomes an `ERROR` event (target `bursar`, field
    /// `callback = "on_transition"`) and is counted in
    /// [`callback_panics`](Self::callback_panics). The transition stands, the probe slots stay
    /// exact, and the caller whose call delivered it goes on as if the callback had returned.
    /// No transition is delivered on a thread that is unwinding from a panic (a second panic
    /// there would abort the process): it waits for the next delivery.
    #[must_use]
    pub fn with_on_transition(self, callback: impl Fn(&Transition) + Send + Sync + 'static) -> Self {
        self.with_boxed_callback(Box::new(callback))
    }

    pub(crate) fn with_boxed_callback(mut self, callback: Callback) -> Self {
        self.engine.set_callback(callback);
        self
    }

    /// Counts the callback's panics in `containment` (the governor's) too.
    pub(crate) fn contained_by(mut self, containment: Arc<Containment>) -> Self {
        self.engine.notifier.contained_by(containment);
        self
    }

    /// Panics of the breaker's callbacks caught so far: the transition callback (see
    /// [`with_on_transition`](Self::with_on_transition)) and the predicates of
    /// [`call_when`](Self::call_when).
    pub fn callback_panics(&self) -> u64 {
        self.engine.notifier.panics()
    }

    /// Admits a call now or rejects it at once; never waits.
    ///
    /// - Closed or disabled: admitted, with one atomic load and no clock read (unless a
    ///   slow-call rule needs the call's start).
    /// - Open: rejected, without a lock, until the open wait has passed; then the first caller
    ///   turns the breaker half-open and becomes a probe.
    /// - Half-open: admitted as a probe while one of the `half_open_probes` slots is free. The
    ///   slot is reserved here, before the probe runs, and given back by the permit.
    /// - Forced open: rejected, without a lock.
    ///
    /// # Errors
    ///
    /// [`NotPermitted`] with a hint of when to come back, if the call may not go through.
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<Permit<'_>, NotPermitted> {
        let admitted = self.engine.admit(Instant::now);
        admitted.map(|ticket| Permit::new(self, ticket, self.times_calls().then(Instant::now)))
    }

    /// [`try_acquire`](Self::try_acquire) at `now` instead of the clock's reading, for tests
    /// that pass explicit instants.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_at(&self, now: Instant) -> Result<Permit<'_>, NotPermitted> {
        let admitted = self.engine.admit(|| now);
        admitted.map(|ticket| Permit::new(self, ticket, self.times_calls().then_some(now)))
    }

    /// Whether outcomes need the call's duration (a slow-call rule is set).
    #[inline]
    pub(crate) fn times_calls(&self) -> bool {
        self.engine.times_calls()
    }

    /// [`try_acquire`](Self::try_acquire) for a permit that holds an `Arc` of the breaker, to
    /// move into a `'static` future.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_owned(self: &Arc<Self>) -> Result<OwnedPermit, NotPermitted> {
        let admitted = self.engine.admit(Instant::now);
        admitted
            .map(|ticket| OwnedPermit::new(Arc::clone(self), ticket, self.times_calls().then(Instant::now)))
    }

    /// [`try_acquire_owned`](Self::try_acquire_owned) at `now`, for tests.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_owned_at(self: &Arc<Self>, now: Instant) -> Result<OwnedPermit, NotPermitted> {
        let admitted = self.engine.admit(|| now);
        admitted.map(|ticket| OwnedPermit::new(Arc::clone(self), ticket, self.times_calls().then_some(now)))
    }

    /// Where the breaker stands, without a lock.
    #[inline]
    pub fn state(&self) -> BreakerState {
        self.engine.state()
    }

    /// The name given with [`with_name`](Self::with_name).
    pub fn name(&self) -> Option<&str> {
        self.engine.name.as_deref()
    }

    /// Opens the breaker until [`reset`](Self::reset): every call is rejected.
    pub fn force_open(&self) {
        self.force_open_at(Instant::now());
    }

    /// [`force_open`](Self::force_open) at `now`, for tests.
    pub fn force_open_at(&self, now: Instant) {
        self.engine.change(|machine| machine.force_open(now));
    }

    /// Switches the breaker off until [`reset`](Self::reset): every call is admitted and
    /// nothing is counted.
    pub fn disable(&self) {
        self.disable_at(Instant::now());
    }

    /// [`disable`](Self::disable) at `now`, for tests.
    pub fn disable_at(&self, now: Instant) {
        self.engine.change(|machine| machine.disable(now));
    }

    /// Closes the breaker with clean counts and the first open wait, whatever its state.
    /// Calls admitted before the reset no longer count when they end.
    pub fn reset(&self) {
        self.reset_at(Instant::now());
    }

    /// [`reset`](Self::reset) at `now`, for tests.
    pub fn reset_at(&self, now: Instant) {
        self.engine.change(|machine| machine.reset(now));
    }

    /// The fleet holds the breaker open until `until`, and after it until it says otherwise.
    pub(crate) fn fleet_hold_open(&self, now: Instant, until: Instant) {
        self.engine.steer(|machine| machine.hold_open(now, until));
    }

    /// The fleet lets this instance run its one probe.
    pub(crate) fn fleet_probe(&self, now: Instant) {
        self.engine.steer(|machine| machine.release_for_probe(now));
    }

    /// The fleet closed: a breaker it held closes.
    pub(crate) fn fleet_closed(&self, now: Instant) {
        self.engine.steer(|machine| machine.release_closed(now));
    }

    /// The fleet cannot be asked: a breaker it held follows its own rules again.
    pub(crate) fn fleet_let_go(&self) {
        self.engine.steer(|machine| {
            machine.release_to_local();
            None
        });
    }

    /// The breaker's state and counts now.
    pub fn status(&self) -> BreakerStatus {
        self.status_at(Instant::now())
    }

    /// The breaker's state and counts at `now`, for tests.
    pub fn status_at(&self, now: Instant) -> BreakerStatus {
        self.engine.status(now)
    }
}

impl Default for CircuitBreaker {
    /// A breaker with the [default configuration](BreakerConfig#default).
    fn default() -> Self {
        CircuitBreaker::from_valid(&BreakerConfig::default())
    }
}

//! The engine behind [`CircuitBreaker`](super::CircuitBreaker). Admission to a closed (or
//! disabled) breaker, a closed-state success and the rejections of an open or forced-open
//! breaker touch only atomics: the [`Gate`], the window and the [`ReopenTime`]. Everything
//! else runs under the lock around the [`Machine`]: failures (so a trip is decided once),
//! probes (so their slots are exact), transitions and the manual controls.
//!
//! The transitions made while the lock is held ([`Locked`]) are installed in the gate at once
//! and delivered to the callback once the lock is released.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::config::BreakerConfig;
use super::failure_window::FailureWindow;
use super::gate::{Gate, GateWord};
use super::notify::{Callback, Notifier};
use super::permit::NotPermitted;
use super::reopen::ReopenTime;
use super::state::{Admission, Machine, Timing};
use super::status::BreakerStatus;
use super::transition::{BreakerState, Transition};
use super::trip_rules::{FailureRate, trip_reason};

#[derive(Debug)]
pub(crate) struct Engine {
    pub(super) gate: Gate,
    pub(super) machine: Mutex<Machine>,
    pub(super) window: Option<FailureWindow>,
    pub(super) reopen: ReopenTime,
    pub(super) notifier: Notifier,
    pub(crate) name: Option<String>,
    pub(super) failure_rate: Option<FailureRate>,
    pub(super) failure_threshold: u32,
    pub(super) slow_call: Option<Duration>,
    open_wait: Duration,
}

/// How a call was admitted; kept by its permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ticket {
    /// An ordinary call of the closed period in the word.
    Closed(GateWord),
    /// A half-open probe of period `epoch`.
    Probe(u64),
    /// The breaker was disabled: nothing is counted.
    Disabled,
}

impl Engine {
    /// An engine following a configuration already validated.
    pub(crate) fn new(config: &BreakerConfig) -> Self {
        Engine {
            gate: Gate::new(),
            machine: Mutex::new(Machine::new(Timing::new(config))),
            window: config.failure_rate.as_ref().map(|rate| FailureWindow::new(rate.window)),
            reopen: ReopenTime::default(),
            notifier: Notifier::default(),
            name: None,
            failure_rate: config.failure_rate.clone(),
            failure_threshold: config.failure_threshold,
            slow_call: config.slow_call.map(|slow| slow.threshold),
            open_wait: config.open_wait,
        }
    }

    /// Whether outcomes need the call's duration (a slow-call rule is set).
    #[inline]
    pub(crate) fn times_calls(&self) -> bool {
        self.slow_call.is_some()
    }

    pub(crate) fn set_callback(&mut self, callback: Callback) {
        let containment = self.notifier.containment();
        self.notifier = Notifier::new(callback, containment);
    }

    #[inline]
    pub(crate) fn state(&self) -> BreakerState {
        self.gate.load().state()
    }

    /// `now` is read only when the breaker is not closed: the hot path reads no clock.
    #[inline(always)]
    pub(crate) fn admit(&self, now: impl FnOnce() -> Instant) -> Result<Ticket, NotPermitted> {
        let word = self.gate.load();
        if word.state() == BreakerState::Closed {
            return Ok(Ticket::Closed(word));
        }
        self.admit_unless_closed(word, now)
    }

    /// [`admit`](Self::admit) for every state but closed. Out of line, so that the closed
    /// path's ticket stays in registers: merged with these arms it went through the stack and
    /// a failed store-to-load forward there cost a closed path several times its own length.
    #[inline(never)]
    fn admit_unless_closed(
        &self,
        word: GateWord,
        now: impl FnOnce() -> Instant,
    ) -> Result<Ticket, NotPermitted> {
        let state = word.state();
        match state {
            BreakerState::Closed => Ok(Ticket::Closed(word)),
            BreakerState::Disabled => Ok(Ticket::Disabled),
            // The same answers the machine gives, without its lock.
            BreakerState::ForcedOpen => Err(NotPermitted { retry_after: self.open_wait, state }),
            BreakerState::Open => {
                let now = now();
                match self.reopen.remaining(now) {
                    Some(retry_after) => Err(NotPermitted { retry_after, state }),
                    None => self.admit_under_lock(now),
                }
            }
            BreakerState::HalfOpen => self.admit_under_lock(now()),
        }
    }

    /// Whether a ticket still stands for the breaker as it is: a closed call's period has not
    /// ended, a disabled breaker is still disabled. A probe's ticket always does (its slot is
    /// its own until it reports or is dropped).
    pub(crate) fn is_current(&self, ticket: &Ticket) -> bool {
        match ticket {
            Ticket::Closed(word) => self.gate.load().same_period(*word),
            Ticket::Disabled => self.state() == BreakerState::Disabled,
            Ticket::Probe(_) => true,
        }
    }

    #[cold]
    fn admit_under_lock(&self, now: Instant) -> Result<Ticket, NotPermitted> {
        self.with_lock(|locked| {
            let (admission, transition) = locked.admit(now);
            locked.apply(transition, self.gate.load().failures());
            match admission {
                Admission::Call if locked.state() == BreakerState::Closed => {
                    Ok(Ticket::Closed(self.gate.load()))
                }
                Admission::Call => Ok(Ticket::Disabled),
                Admission::Probe { epoch } => Ok(Ticket::Probe(epoch)),
                Admission::Rejected { retry_after } => {
                    Err(NotPermitted { retry_after, state: locked.state() })
                }
            }
        })
    }

    /// A manual control: `step` moves the machine.
    pub(crate) fn change(&self, step: impl FnOnce(&mut Machine) -> Option<Transition>) {
        self.with_lock(|locked| {
            let (failures, epoch) = (self.gate.load().failures(), locked.epoch());
            let transition = step(locked);
            // A reset of a closed breaker starts a new period without a transition.
            if locked.epoch() != epoch {
                locked.install(failures);
            }
            locked.report(transition);
        });
    }

    /// A step of the fleet (`fleet::breaker`). Installed when it started a new period or moved
    /// the end of a held open one — and only then: the fleet's syncs of a breaker it leaves
    /// alone must not clear its failures in a row or its window.
    pub(crate) fn steer(&self, step: impl FnOnce(&mut Machine) -> Option<Transition>) {
        self.with_lock(|locked| {
            let before = (locked.epoch(), locked.open_window());
            let transition = step(locked);
            if (locked.epoch(), locked.open_window()) != before {
                locked.install(self.gate.load().failures());
            }
            locked.report(transition);
        });
    }

    pub(crate) fn status(&self, now: Instant) -> BreakerStatus {
        let machine = self.machine.lock();
        let reading = self.window.as_ref().map(|window| window.reading(now)).unwrap_or_default();
        BreakerStatus {
            state: machine.state(),
            failure_rate: reading.rate(),
            calls_in_window: reading.calls,
            consecutive_failures: self.gate.load().failures(),
            retry_after: machine.retry_after(now),
        }
    }

    /// Closed, or open with its wait over: a registry evicts such a breaker first.
    pub(crate) fn is_idle(&self, now: Instant) -> bool {
        let machine = self.machine.lock();
        if machine.is_held() {
            return false; // the fleet's: a new breaker would admit calls until the next sync
        }
        match machine.state() {
            BreakerState::Closed => true,
            BreakerState::Open => machine.retry_after(now) == Some(Duration::ZERO),
            _ => false,
        }
    }
}

// Recording how admitted calls ended. A success in the closed state is atomics only; a
// failure takes the lock, so that the failure that trips the breaker is decided once; a probe
// takes it to free its slot exactly.

impl Engine {
    /// Whether a success that took `elapsed` counts as a failure: slower than the slow-call
    /// threshold.
    #[inline(always)]
    pub(crate) fn is_slow(&self, elapsed: Duration) -> bool {
        self.slow_call.is_some_and(|threshold| elapsed > threshold)
    }

    /// Records how an admitted call ended: `failed`, the slow-call rule already applied.
    /// `now` is read only if needed: a closed-state success without a failure-rate window
    /// reads no clock.
    #[inline(always)]
    pub(crate) fn finish(&self, ticket: Ticket, failed: bool, now: impl FnOnce() -> Instant) {
        match ticket {
            Ticket::Closed(word) if failed => self.closed_failure(word, now()),
            Ticket::Closed(word) => self.closed_success(word, now),
            Ticket::Probe(epoch) => self.probe_ended(epoch, !failed, now()),
            Ticket::Disabled => {}
        }
    }

    /// A permit dropped without an outcome: a probe gives its slot back.
    #[inline]
    pub(crate) fn abandon(&self, ticket: Ticket) {
        if let Ticket::Probe(epoch) = ticket {
            self.machine.lock().release_probe(epoch);
        }
    }

    /// The hot path: atomics only.
    #[inline]
    fn closed_success(&self, ticket: GateWord, now: impl FnOnce() -> Instant) {
        if let Some(window) = &self.window {
            if !self.gate.load().same_period(ticket) {
                return;
            }
            window.record(now, false);
        }
        self.gate.clear_failures(ticket);
    }

    #[cold]
    fn closed_failure(&self, ticket: GateWord, now: Instant) {
        self.with_lock(|locked| {
            let Some(failures) = self.gate.add_failure(ticket) else { return };
            let reading = self.window.as_ref().map(|window| {
                window.record(|| now, true);
                window.reading(now)
            });
            let rate = self.failure_rate.as_ref().zip(reading);
            if let Some(reason) = trip_reason(failures, self.failure_threshold, rate) {
                let transition = locked.trip(now, reason);
                locked.apply(transition, failures);
            }
        });
    }

    fn probe_ended(&self, epoch: u64, succeeded: bool, now: Instant) {
        self.with_lock(|locked| {
            if locked.epoch() != epoch {
                return; // a probe of an earlier period
            }
            let failures = if succeeded { 0 } else { self.gate.load().failures().saturating_add(1) };
            let transition = locked.end_probe(epoch, succeeded, now);
            // Installed even without a transition: a success zeroes the failures in a row.
            locked.install(failures);
            locked.report(transition);
        });
    }
}

// The breaker's lock as the engine uses it.

impl Engine {
    /// Runs `work` under the machine's lock, then delivers the transitions it reported.
    fn with_lock<R>(&self, work: impl FnOnce(&mut Locked<'_>) -> R) -> R {
        let mut machine = self.machine.lock();
        let mut locked = Locked { engine: self, machine: &mut machine, changed: false };
        let result = work(&mut locked);
        let changed = locked.changed;
        drop(machine);
        if changed {
            self.notifier.deliver();
        }
        result
    }
}

/// The locked machine, and the transitions reported while it was locked.
struct Locked<'a> {
    engine: &'a Engine,
    machine: &'a mut Machine,
    changed: bool,
}

impl Locked<'_> {
    /// Installs and reports `transition`, if there is one.
    fn apply(&mut self, transition: Option<Transition>, failures: u32) {
        if transition.is_some() {
            self.install(failures);
            self.report(transition);
        }
    }

    /// Publishes the machine's state. What goes with it is written first: a clean window (so
    /// a new closed period's own calls' records cannot be cleared, and an open, half-open,
    /// forced-open or disabled breaker shows no rate of a period that has ended) or an open
    /// period's end.
    fn install(&self, failures: u32) {
        let (state, epoch) = (self.state(), self.epoch());
        let failures = if state == BreakerState::Closed { 0 } else { failures };
        if let Some(window) = &self.engine.window {
            window.clear();
        }
        if let Some((opened, until)) = self.open_window() {
            self.engine.reopen.set(opened, until);
        }
        self.engine.gate.publish(GateWord::new(state, epoch, failures));
    }

    fn report(&mut self, transition: Option<Transition>) {
        if let Some(transition) = transition {
            transition.log(self.engine.name.as_deref());
            self.engine.notifier.queue(transition);
            self.changed = true;
        }
    }
}

impl Deref for Locked<'_> {
    type Target = Machine;

    fn deref(&self) -> &Machine {
        self.machine
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Machine {
        self.machine
    }
}

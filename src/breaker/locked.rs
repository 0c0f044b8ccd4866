//! The breaker's lock as the engine uses it: the locked [`Machine`], and the transitions made
//! while it was held — installed in the gate at once, delivered to the callback once the lock
//! is released.

use std::ops::{Deref, DerefMut};

use super::engine::Engine;
use super::gate::GateWord;
use super::state::Machine;
use super::transition::{BreakerState, Transition};

impl Engine {
    /// Runs `work` under the machine's lock, then delivers the transitions it reported.
    pub(super) fn with_lock<R>(&self, work: impl FnOnce(&mut Locked<'_>) -> R) -> R {
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
pub(super) struct Locked<'a> {
    engine: &'a Engine,
    machine: &'a mut Machine,
    changed: bool,
}

impl Locked<'_> {
    /// Installs and reports `transition`, if there is one.
    pub(super) fn apply(&mut self, transition: Option<Transition>, failures: u32) {
        if transition.is_some() {
            self.install(failures);
            self.report(transition);
        }
    }

    /// Publishes the machine's state. What goes with it is written first: a clean window (so
    /// a new closed period's own calls' records cannot be cleared, and an open, half-open,
    /// forced-open or disabled breaker shows no rate of a period that has ended) or an open
    /// period's end.
    pub(super) fn install(&self, failures: u32) {
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

    pub(super) fn report(&mut self, transition: Option<Transition>) {
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

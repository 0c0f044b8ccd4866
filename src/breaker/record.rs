//! Recording how admitted calls ended. A success in the closed state is atomics only; a
//! failure takes the lock, so that the failure that trips the breaker is decided once; a probe
//! takes it to free its slot exactly.

use std::time::Duration;

use tokio::time::Instant;

use super::engine::{Engine, Ticket};
use super::gate::GateWord;
use super::permit::Outcome;
use super::trip::trip_reason;

impl Engine {
    /// Records how an admitted call ended.
    /// `now` is read only if needed: a closed-state success without a failure-rate window
    /// reads no clock.
    #[inline(always)]
    pub(crate) fn finish(
        &self,
        ticket: Ticket,
        outcome: Outcome,
        elapsed: Duration,
        now: impl FnOnce() -> Instant,
    ) {
        let slow = self.slow_call.is_some_and(|threshold| elapsed > threshold);
        let failed = outcome == Outcome::Failure || slow;
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
            window.record(now(), false);
        }
        self.gate.clear_failures(ticket);
    }

    #[cold]
    fn closed_failure(&self, ticket: GateWord, now: Instant) {
        self.with_lock(|locked| {
            let Some(failures) = self.gate.add_failure(ticket) else { return };
            let reading = self.window.as_ref().map(|window| {
                window.record(now, true);
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

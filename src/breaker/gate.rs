//! The breaker's hot word: its state, its period and its failures in a row packed in one
//! `AtomicU64`, so that admitting a call to a closed breaker is one load and recording a
//! success at most one compare-and-swap — no lock.
//!
//! Only transitions, made under the breaker's lock, change the state and period bits. The
//! lock-free success path may only zero the failure bits, and only in the period its permit
//! was issued in: an outcome that arrives after the period ended is stale and changes nothing.

use std::sync::atomic::Ordering;

use crate::sync::AtomicU64;

use super::transition::BreakerState;

const FAILURE_BITS: u32 = 16;
const STATE_BITS: u32 = 3;
const FAILURE_MASK: u64 = (1 << FAILURE_BITS) - 1;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;
const PERIOD_SHIFT: u32 = FAILURE_BITS + STATE_BITS;

/// One reading of the gate. A closed-state permit keeps the word it was admitted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GateWord(u64);

impl GateWord {
    /// `epoch` keeps its low 45 bits: a permit would have to live through 2^45 transitions to
    /// be mistaken for a current one.
    pub(crate) fn new(state: BreakerState, epoch: u64, failures: u32) -> Self {
        let failures = u64::from(failures).min(FAILURE_MASK);
        GateWord(epoch << PERIOD_SHIFT | (state as u64) << FAILURE_BITS | failures)
    }

    #[inline]
    pub(crate) fn state(self) -> BreakerState {
        match (self.0 >> FAILURE_BITS) & STATE_MASK {
            0 => BreakerState::Closed,
            1 => BreakerState::Open,
            2 => BreakerState::HalfOpen,
            3 => BreakerState::ForcedOpen,
            _ => BreakerState::Disabled,
        }
    }

    /// Failures in a row (saturating at 65 535; thresholds are at most 1000).
    #[inline]
    pub(crate) fn failures(self) -> u32 {
        (self.0 & FAILURE_MASK) as u32
    }

    /// Whether both words belong to the same state of the same period.
    #[inline]
    pub(crate) fn same_period(self, other: GateWord) -> bool {
        self.0 >> FAILURE_BITS == other.0 >> FAILURE_BITS
    }

    #[inline]
    fn with_failures(self, failures: u64) -> Self {
        GateWord(self.0 & !FAILURE_MASK | failures.min(FAILURE_MASK))
    }
}

#[derive(Debug)]
pub(crate) struct Gate(AtomicU64);

impl Gate {
    pub(crate) fn new() -> Self {
        Gate(AtomicU64::new(GateWord::new(BreakerState::Closed, 0, 0).0))
    }

    #[inline]
    pub(crate) fn load(&self) -> GateWord {
        // Acquire: pairs with `publish`, so a call admitted in a new period sees the cleared
        // window that period started with, and its own record cannot be cleared by it.
        GateWord(self.0.load(Ordering::Acquire))
    }

    /// Installs a transition's word. Call only under the breaker's lock.
    pub(crate) fn publish(&self, word: GateWord) {
        // Release: see `load`. A swap, not a store: a read-modify-write is ordered after every
        // compare-and-swap of the failure bits it races, so a stale success can never land on
        // the new period's word. (loom 0.7 finds that interleaving against a plain store; the
        // swap costs nothing on this cold, locked path.)
        self.0.swap(word.0, Ordering::Release);
    }

    /// A success of period `ticket`: zeroes the failures in a row, unless the period ended.
    #[inline]
    pub(crate) fn clear_failures(&self, ticket: GateWord) {
        self.update(ticket, |_| 0);
    }

    /// A failure of period `ticket`: adds one to the failures in a row and returns them, or
    /// `None` if the period ended.
    pub(crate) fn add_failure(&self, ticket: GateWord) -> Option<u32> {
        self.update(ticket, |failures| failures + 1).map(GateWord::failures)
    }

    #[inline]
    fn update(&self, ticket: GateWord, change: impl Fn(u64) -> u64) -> Option<GateWord> {
        let mut current = self.load();
        loop {
            if !current.same_period(ticket) {
                return None;
            }
            let next = current.with_failures(change(u64::from(current.failures())));
            if next == current {
                return Some(current);
            }
            // Relaxed: only the failure bits change, and they carry nothing but themselves.
            match self.0.compare_exchange(current.0, next.0, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some(next),
                Err(actual) => current = GateWord(actual),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_keeps_state_period_and_failures_apart() {
        let states = [
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
            BreakerState::ForcedOpen,
            BreakerState::Disabled,
        ];
        for state in states {
            let word = GateWord::new(state, (1 << 45) - 1, 70_000);
            assert_eq!((word.state(), word.failures()), (state, 65_535));
        }
        let closed = GateWord::new(BreakerState::Closed, 7, 3);
        assert!(closed.same_period(GateWord::new(BreakerState::Closed, 7, 0)));
        assert!(!closed.same_period(GateWord::new(BreakerState::Closed, 8, 3)));
    }

    #[test]
    fn failures_change_only_within_the_ticket_period() {
        let gate = Gate::new();
        let ticket = gate.load();
        assert_eq!(gate.add_failure(ticket), Some(1));
        assert_eq!(gate.add_failure(ticket), Some(2));
        gate.clear_failures(ticket);
        assert_eq!(gate.load().failures(), 0);
        gate.publish(GateWord::new(BreakerState::Open, 1, 4));
        assert_eq!(gate.add_failure(ticket), None);
        gate.clear_failures(ticket);
        assert_eq!(gate.load().failures(), 4, "a stale success changes nothing");
    }
}

/// Every interleaving of the gate's lock-free updates, explored by loom.
#[cfg(all(test, bursar_loom))]
mod loom_models {
    use loom::sync::Arc;
    use loom::thread;

    use super::*;

    /// Two failures recorded at once in the same period are both counted: no lost update.
    #[test]
    fn loom_gate_racing_failures_are_all_counted() {
        loom::model(|| {
            let gate = Arc::new(Gate::new());
            let ticket = gate.load();
            let other = Arc::clone(&gate);
            let racing = thread::spawn(move || other.add_failure(ticket));
            let mine = gate.add_failure(ticket);
            let theirs = racing.join().unwrap();
            let mut seen = [mine.unwrap(), theirs.unwrap()];
            seen.sort_unstable();
            assert_eq!(seen, [1, 2]);
            assert_eq!(gate.load().failures(), 2);
        });
    }

    /// A success from the old period racing a transition never clears the new period's
    /// failures, and a failure racing a success ends as one of the two orders.
    #[test]
    fn loom_gate_stale_success_never_touches_a_new_period() {
        loom::model(|| {
            let gate = Arc::new(Gate::new());
            let old = gate.load();
            assert_eq!(gate.add_failure(old), Some(1));
            let other = Arc::clone(&gate);
            let success = thread::spawn(move || other.clear_failures(old));
            // The transition, as the breaker's lock would publish it: a new period, 3 failures.
            gate.publish(GateWord::new(BreakerState::Open, 1, 3));
            success.join().unwrap();
            let word = gate.load();
            assert_eq!((word.state(), word.failures()), (BreakerState::Open, 3));
        });
    }

    #[test]
    fn loom_gate_a_failure_and_a_success_end_in_one_order_or_the_other() {
        loom::model(|| {
            let gate = Arc::new(Gate::new());
            let ticket = gate.load();
            let other = Arc::clone(&gate);
            let failure = thread::spawn(move || other.add_failure(ticket));
            gate.clear_failures(ticket);
            let counted = failure.join().unwrap();
            let failures = gate.load().failures();
            assert_eq!(counted, Some(1), "the failure always counts as the first in a row");
            assert!(failures == 0 || failures == 1, "{failures}");
        });
    }
}

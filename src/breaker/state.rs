//! The pure state machine behind a breaker: open waits, half-open probe slots and the manual
//! states. No clock, no atomics, no I/O: every step takes `now` and returns the
//! [`Transition`] it made, so it is tested on its own. The closed state's counting lives in the
//! breaker's atomics instead; [`trip_reason`](super::trip_rules::trip_reason) judges those counts.

use std::time::Duration;

use tokio::time::Instant;

use super::config::BreakerConfig;
use super::transition::{BreakerState, Transition, TransitionReason};

/// The settings the machine needs, copied out of a validated [`BreakerConfig`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    open_wait: Duration,
    multiplier: f64,
    max_open_wait: Duration,
    half_open_probes: u32,
    probes_to_close: u32,
}

impl Timing {
    pub(crate) fn new(config: &BreakerConfig) -> Self {
        Timing {
            open_wait: config.open_wait,
            multiplier: config.open_wait_multiplier,
            max_open_wait: config.max_open_wait,
            half_open_probes: config.half_open_probes,
            probes_to_close: config.probes_to_close,
        }
    }

    /// The wait after `wait` when a probe fails: multiplied, capped.
    fn grow(&self, wait: Duration) -> Duration {
        if self.multiplier == 1.0 {
            return wait;
        }
        let grown = Duration::try_from_secs_f64(wait.as_secs_f64() * self.multiplier);
        grown.map_or(self.max_open_wait, |grown| grown.min(self.max_open_wait))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed,
    Open { since: Instant, until: Instant },
    HalfOpen { probes_in_flight: u32, successes: u32 },
    ForcedOpen,
    Disabled,
}

/// Whether a fleet-wide breaker (`fleet::breaker`) holds the machine, overriding its own
/// timing: the fleet decides when it stops rejecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// The machine follows its own rules.
    Free,
    /// Open for the fleet: it does not turn half-open when its wait ends.
    Open,
    /// Half-open for the fleet's one probe: one slot, and one outcome decides.
    Probe,
}

/// What [`Machine::admit`] decided for one caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// An ordinary call: the breaker is closed or disabled.
    Call,
    /// A probe holding one of the half-open slots of period `epoch`.
    Probe { epoch: u64 },
    /// Rejected; retry after this long (see [`NotPermitted`](super::NotPermitted) for what it means per state).
    Rejected { retry_after: Duration },
}

#[derive(Debug)]
pub(crate) struct Machine {
    phase: Phase,
    /// Counts transitions, so an outcome can tell whether it belongs to the current period.
    epoch: u64,
    /// The current (or, when closed, the first) open wait.
    wait: Duration,
    timing: Timing,
    hold: Hold,
}

impl Machine {
    pub(crate) fn new(timing: Timing) -> Self {
        Machine { phase: Phase::Closed, epoch: 0, wait: timing.open_wait, timing, hold: Hold::Free }
    }

    pub(crate) fn state(&self) -> BreakerState {
        match self.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
            Phase::ForcedOpen => BreakerState::ForcedOpen,
            Phase::Disabled => BreakerState::Disabled,
        }
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// How long until an open breaker admits its first probe; `None` unless open.
    pub(crate) fn retry_after(&self, now: Instant) -> Option<Duration> {
        match self.phase {
            Phase::Open { until, .. } => Some(until.saturating_duration_since(now)),
            _ => None,
        }
    }

    /// When an open breaker opened and when its wait ends; `None` unless open.
    pub(crate) fn open_window(&self) -> Option<(Instant, Instant)> {
        match self.phase {
            Phase::Open { since, until } => Some((since, until)),
            _ => None,
        }
    }

    /// Admits or rejects one caller; an open breaker whose wait has passed turns half-open and
    /// gives this caller the first probe slot.
    pub(crate) fn admit(&mut self, now: Instant) -> (Admission, Option<Transition>) {
        let mut transition = None;
        if let Phase::Open { until, .. } = self.phase {
            if now < until {
                return (Admission::Rejected { retry_after: until - now }, None);
            }
            if self.hold == Hold::Open {
                // The fleet decides when it probes: its next sync comes soon.
                return (Admission::Rejected { retry_after: Duration::ZERO }, None);
            }
            let half_open = Phase::HalfOpen { probes_in_flight: 0, successes: 0 };
            transition = Some(self.move_to(half_open, now, TransitionReason::WaitElapsed));
        }
        let slots = self.probe_slots();
        let admission = match &mut self.phase {
            Phase::Closed | Phase::Disabled => Admission::Call,
            Phase::HalfOpen { probes_in_flight, .. } if *probes_in_flight < slots => {
                *probes_in_flight += 1;
                Admission::Probe { epoch: self.epoch }
            }
            // Every probe slot is taken: the probes decide soon, no wait is known.
            Phase::HalfOpen { .. } => Admission::Rejected { retry_after: Duration::ZERO },
            // Open by hand for as long as it takes (an open phase was handled above): suggest
            // the ordinary wait.
            Phase::ForcedOpen | Phase::Open { .. } => {
                Admission::Rejected { retry_after: self.timing.open_wait }
            }
        };
        (admission, transition)
    }

    /// Opens a closed breaker for the first open wait.
    pub(crate) fn trip(&mut self, now: Instant, reason: TransitionReason) -> Option<Transition> {
        if self.phase != Phase::Closed {
            return None;
        }
        self.wait = self.timing.open_wait;
        Some(self.open(now, reason))
    }

    /// Ends a probe of period `epoch` that succeeded or failed; a probe of an earlier period
    /// changes nothing.
    pub(crate) fn end_probe(&mut self, epoch: u64, succeeded: bool, now: Instant) -> Option<Transition> {
        let successes = self.release_probe(epoch)?;
        if !succeeded {
            self.wait = self.timing.grow(self.wait);
            return Some(self.open(now, TransitionReason::ProbeFailed));
        }
        *successes += 1;
        if *successes < self.timing.probes_to_close && self.hold != Hold::Probe {
            return None;
        }
        self.wait = self.timing.open_wait;
        Some(self.move_to(Phase::Closed, now, TransitionReason::ProbesSucceeded))
    }

    /// Gives the slot of a probe of period `epoch` back without an outcome (cancelled,
    /// ignored or dropped); returns the period's successes, or `None` for an earlier period.
    pub(crate) fn release_probe(&mut self, epoch: u64) -> Option<&mut u32> {
        let Phase::HalfOpen { probes_in_flight, successes } = &mut self.phase else { return None };
        if epoch != self.epoch {
            return None;
        }
        *probes_in_flight -= 1;
        Some(successes)
    }

    /// Half-open slots: the configured ones, or the fleet's single probe.
    fn probe_slots(&self) -> u32 {
        if self.hold == Hold::Probe { 1 } else { self.timing.half_open_probes }
    }

    /// Whether a fleet-wide breaker holds the machine open or half-open.
    pub(crate) fn is_held(&self) -> bool {
        self.hold != Hold::Free
    }

    pub(crate) fn force_open(&mut self, now: Instant) -> Option<Transition> {
        self.move_unless_there(Phase::ForcedOpen, now, TransitionReason::ForcedOpen)
    }

    pub(crate) fn disable(&mut self, now: Instant) -> Option<Transition> {
        self.move_unless_there(Phase::Disabled, now, TransitionReason::Disabled)
    }

    /// Closes the breaker and forgets the grown wait. Always starts a new period, so calls
    /// admitted before the reset no longer count; the transition is `None` if it was closed.
    pub(crate) fn reset(&mut self, now: Instant) -> Option<Transition> {
        self.wait = self.timing.open_wait;
        let was_closed = self.phase == Phase::Closed;
        let transition = self.move_to(Phase::Closed, now, TransitionReason::Reset);
        (!was_closed).then_some(transition)
    }

    fn open(&mut self, now: Instant, reason: TransitionReason) -> Transition {
        // The wait is at most 365 days (validated), so this only fails on a far-future `now`.
        let until = now.checked_add(self.wait).unwrap_or(now);
        let mut transition = self.move_to(Phase::Open { since: now, until }, now, reason);
        transition.open_wait = Some(self.wait);
        transition
    }

    fn move_unless_there(
        &mut self,
        phase: Phase,
        now: Instant,
        reason: TransitionReason,
    ) -> Option<Transition> {
        (self.phase != phase).then(|| self.move_to(phase, now, reason))
    }

    fn move_to(&mut self, phase: Phase, now: Instant, reason: TransitionReason) -> Transition {
        let from = self.state();
        self.phase = phase;
        self.epoch += 1;
        // Every change frees the machine; the fleet's own steps hold it again after.
        self.hold = Hold::Free;
        Transition { from, to: self.state(), at: now, reason, open_wait: None }
    }
}

// The fleet's steps (`fleet::breaker`): the fleet can hold a breaker open, release it for the
// fleet's one probe, and let it go. The manual states win over all of them.

impl Machine {
    /// Holds the breaker open until `until` (and after, until the fleet says otherwise). A
    /// breaker already held open only moves its end, without a transition.
    pub(crate) fn hold_open(&mut self, now: Instant, until: Instant) -> Option<Transition> {
        match self.phase {
            Phase::ForcedOpen | Phase::Disabled => None,
            Phase::Open { since, .. } if self.hold == Hold::Open => {
                self.phase = Phase::Open { since, until };
                None
            }
            _ => {
                let mut transition =
                    self.move_to(Phase::Open { since: now, until }, now, TransitionReason::FleetOpened);
                transition.open_wait = Some(until.saturating_duration_since(now));
                self.hold = Hold::Open;
                Some(transition)
            }
        }
    }

    /// Turns a breaker held open half-open for the fleet's one probe: one slot, and its
    /// outcome closes or reopens the breaker.
    pub(crate) fn release_for_probe(&mut self, now: Instant) -> Option<Transition> {
        if self.hold != Hold::Open {
            return None;
        }
        let half_open = Phase::HalfOpen { probes_in_flight: 0, successes: 0 };
        let transition = self.move_to(half_open, now, TransitionReason::FleetProbe);
        self.hold = Hold::Probe;
        Some(transition)
    }

    /// The fleet closed: a held breaker closes with the first open wait.
    pub(crate) fn release_closed(&mut self, now: Instant) -> Option<Transition> {
        if self.hold == Hold::Free {
            return None;
        }
        self.wait = self.timing.open_wait;
        Some(self.move_to(Phase::Closed, now, TransitionReason::FleetClosed))
    }

    /// The fleet cannot be asked: a held breaker follows its own rules again from where it
    /// is (open until its wait ends, or half-open with its own slots).
    pub(crate) fn release_to_local(&mut self) {
        self.hold = Hold::Free;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn machine(configure: impl FnOnce(&mut BreakerConfig)) -> Machine {
        let mut config = BreakerConfig::default();
        configure(&mut config);
        Machine::new(Timing::new(&config))
    }

    fn tripped(machine: &mut Machine, now: Instant) {
        let transition = machine.trip(now, TransitionReason::ConsecutiveFailures { failures: 5 }).unwrap();
        assert_eq!((transition.from, transition.to), (BreakerState::Closed, BreakerState::Open));
    }

    fn probe(machine: &mut Machine, now: Instant) -> u64 {
        match machine.admit(now).0 {
            Admission::Probe { epoch } => epoch,
            other => panic!("expected a probe, got {other:?}"),
        }
    }

    #[test]
    fn an_open_machine_counts_down_then_admits_one_probe() {
        let mut machine = machine(|_| {});
        let start = Instant::now();
        tripped(&mut machine, start);
        assert_eq!(machine.retry_after(start + 20 * SECOND), Some(100 * SECOND));
        let early = machine.admit(start + 119 * SECOND);
        assert_eq!(early, (Admission::Rejected { retry_after: SECOND }, None));
        let (admission, transition) = machine.admit(start + 120 * SECOND);
        assert_eq!(admission, Admission::Probe { epoch: 2 });
        assert_eq!(transition.unwrap().reason, TransitionReason::WaitElapsed);
        let busy = machine.admit(start + 121 * SECOND).0;
        assert_eq!(busy, Admission::Rejected { retry_after: Duration::ZERO });
    }

    #[test]
    fn a_failed_probe_multiplies_the_wait_up_to_the_cap() {
        let mut machine = machine(|config| {
            config.open_wait_multiplier = 2.0;
            config.max_open_wait = 600 * SECOND;
        });
        let mut now = Instant::now();
        tripped(&mut machine, now);
        let mut waits = vec![machine.retry_after(now).unwrap()];
        for _ in 0..4 {
            now += waits[waits.len() - 1];
            let epoch = probe(&mut machine, now);
            let reopened = machine.end_probe(epoch, false, now).unwrap();
            waits.push(reopened.open_wait.unwrap());
        }
        assert_eq!(waits, [120, 240, 480, 600, 600].map(|secs| secs * SECOND));
    }

    #[test]
    fn closing_restores_the_first_wait() {
        let mut machine = machine(|config| config.open_wait_multiplier = 3.0);
        let mut now = Instant::now();
        tripped(&mut machine, now);
        now += 120 * SECOND;
        let epoch = probe(&mut machine, now);
        machine.end_probe(epoch, false, now);
        now += 360 * SECOND;
        let epoch = probe(&mut machine, now);
        let closed = machine.end_probe(epoch, true, now).unwrap();
        assert_eq!((closed.to, closed.reason), (BreakerState::Closed, TransitionReason::ProbesSucceeded));
        tripped(&mut machine, now);
        assert_eq!(machine.retry_after(now), Some(120 * SECOND));
    }

    #[test]
    fn probes_need_enough_successes_and_slots_come_back() {
        let mut machine = machine(|config| {
            config.half_open_probes = 2;
            config.probes_to_close = 3;
        });
        let now = Instant::now();
        tripped(&mut machine, now);
        let later = now + 120 * SECOND;
        let (first, second) = (probe(&mut machine, later), probe(&mut machine, later));
        assert!(matches!(machine.admit(later).0, Admission::Rejected { .. }));
        assert!(machine.release_probe(first).is_some());
        assert_eq!(machine.end_probe(second, true, later), None);
        for _ in 0..2 {
            let epoch = probe(&mut machine, later);
            let ended = machine.end_probe(epoch, true, later);
            assert_eq!(ended.is_some(), machine.state() == BreakerState::Closed);
        }
        assert_eq!(machine.state(), BreakerState::Closed);
    }

    #[test]
    fn an_outcome_of_an_earlier_period_changes_nothing() {
        let mut machine = machine(|config| config.half_open_probes = 2);
        let now = Instant::now() + 1000 * SECOND;
        tripped(&mut machine, now - 120 * SECOND);
        let (stale, fresh) = (probe(&mut machine, now), probe(&mut machine, now));
        machine.end_probe(fresh, false, now).unwrap();
        assert_eq!(machine.end_probe(stale, true, now), None);
        assert_eq!(machine.state(), BreakerState::Open);
    }

    #[test]
    fn manual_states_reject_admit_and_reset() {
        let mut machine = machine(|_| {});
        let now = Instant::now();
        assert_eq!(machine.force_open(now).unwrap().to, BreakerState::ForcedOpen);
        assert_eq!(machine.force_open(now), None, "already forced open");
        assert_eq!(machine.admit(now).0, Admission::Rejected { retry_after: 120 * SECOND });
        assert_eq!(machine.retry_after(now), None);
        assert_eq!(machine.disable(now).unwrap().from, BreakerState::ForcedOpen);
        assert_eq!(machine.admit(now).0, Admission::Call);
        assert_eq!(machine.trip(now, TransitionReason::ProbeFailed), None, "only a closed breaker trips");
        assert_eq!(machine.reset(now).unwrap().to, BreakerState::Closed);
        let epoch = machine.epoch();
        assert_eq!(machine.reset(now), None);
        assert_eq!(machine.epoch(), epoch + 1, "a reset always starts a new period");
    }

    #[test]
    fn the_fleet_holds_open_past_the_wait_then_allows_one_probe() {
        let mut machine = machine(|config| config.half_open_probes = 3);
        let now = Instant::now();
        let held = machine.hold_open(now, now + SECOND).unwrap();
        assert_eq!(
            (held.to, held.reason, held.open_wait),
            (BreakerState::Open, TransitionReason::FleetOpened, Some(SECOND))
        );
        assert_eq!(machine.hold_open(now, now + 2 * SECOND), None, "only the end moves");
        let late = now + 5 * SECOND;
        assert_eq!(machine.admit(late), (Admission::Rejected { retry_after: Duration::ZERO }, None));
        assert_eq!(machine.release_for_probe(late).unwrap().reason, TransitionReason::FleetProbe);
        let epoch = probe(&mut machine, late);
        assert!(matches!(machine.admit(late).0, Admission::Rejected { .. }), "one slot, not three");
        let closed = machine.end_probe(epoch, true, late).unwrap();
        assert_eq!((closed.to, machine.is_held()), (BreakerState::Closed, false));
        machine.hold_open(late, late + SECOND);
        assert_eq!(machine.release_closed(late).unwrap().reason, TransitionReason::FleetClosed);
        machine.force_open(late);
        assert_eq!(machine.hold_open(late, late + SECOND), None, "the manual states win");
    }

    #[test]
    fn let_go_the_machine_ends_its_wait_by_its_own_rules() {
        let mut machine = machine(|_| {});
        let now = Instant::now();
        machine.hold_open(now, now + SECOND);
        machine.release_to_local();
        assert_eq!(machine.admit(now + SECOND).0, Admission::Probe { epoch: 2 });
        assert_eq!(machine.release_closed(now + SECOND), None, "not held: the fleet's close is not its");
    }
}

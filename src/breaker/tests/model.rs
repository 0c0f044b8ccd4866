//! Any sequence of calls — successes, failures, slow successes, cancellations — with time
//! passing and manual controls in between leaves the breaker exactly where a plain model says:
//! the same state, the same admissions and rejections, the same counts.

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::Index;
use tokio::time::Instant;

use super::support::breaker;
use crate::breaker::{BreakerState, FailureRate, Outcome, Permit, RateWindow, SlowCall};

const THRESHOLD: u32 = 3;
const OPEN_WAIT: u64 = 10;
const MAX_OPEN_WAIT: u64 = 40;
const PROBES: u32 = 2;
const PROBES_TO_CLOSE: u32 = 2;
const SLOW_AFTER: u64 = 5;
const WINDOW: usize = 6;
const MIN_CALLS: usize = 4;

#[derive(Debug, Clone)]
enum Step {
    Acquire,
    Record { permit: Index, failed: bool },
    Drop(Index),
    Advance(u64),
    ForceOpen,
    Disable,
    Reset,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => Just(Step::Acquire),
        5 => (any::<Index>(), any::<bool>()).prop_map(|(permit, failed)| Step::Record { permit, failed }),
        1 => any::<Index>().prop_map(Step::Drop),
        2 => (0..=2 * OPEN_WAIT).prop_map(Step::Advance),
        1 => prop_oneof![Just(Step::ForceOpen), Just(Step::Disable), Just(Step::Reset)],
    ]
}

/// What a permit is in the model: a call or a probe of a period, or a call of a disabled breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Call(u64),
    Probe(u64),
    Uncounted,
}

/// The breaker as the documentation describes it. Times are seconds since the test began.
#[derive(Debug)]
struct Model {
    state: BreakerState,
    period: u64,
    failures_in_a_row: u32,
    /// The last outcomes of the closed state, `true` for a failure.
    window: VecDeque<bool>,
    wait: u64,
    until: u64,
    probes: u32,
    successes: u32,
}

impl Model {
    fn new() -> Self {
        let (state, window) = (BreakerState::Closed, VecDeque::new());
        Model {
            state,
            period: 0,
            failures_in_a_row: 0,
            window,
            wait: OPEN_WAIT,
            until: 0,
            probes: 0,
            successes: 0,
        }
    }

    /// `Ok(kind)` if admitted, else the rejecting state and `retry_after` in seconds.
    fn acquire(&mut self, now: u64) -> Result<Kind, (BreakerState, u64)> {
        if self.state == BreakerState::Open && now >= self.until {
            self.enter(BreakerState::HalfOpen);
            (self.probes, self.successes) = (0, 0);
        }
        match self.state {
            BreakerState::Closed => Ok(Kind::Call(self.period)),
            BreakerState::Disabled => Ok(Kind::Uncounted),
            BreakerState::Open => Err((BreakerState::Open, self.until - now)),
            BreakerState::ForcedOpen => Err((BreakerState::ForcedOpen, OPEN_WAIT)),
            BreakerState::HalfOpen if self.probes < PROBES => {
                self.probes += 1;
                Ok(Kind::Probe(self.period))
            }
            BreakerState::HalfOpen => Err((BreakerState::HalfOpen, 0)),
        }
    }

    fn record(&mut self, kind: Kind, failed: bool, now: u64) {
        match kind {
            Kind::Call(period) if period == self.period => self.closed_call(failed, now),
            Kind::Probe(period) if period == self.period => {
                self.probes -= 1;
                if failed {
                    self.failures_in_a_row += 1;
                    self.wait = (self.wait * 2).min(MAX_OPEN_WAIT);
                    self.open(now);
                } else {
                    self.failures_in_a_row = 0;
                    self.successes += 1;
                    if self.successes == PROBES_TO_CLOSE {
                        self.close();
                    }
                }
            }
            _ => {}
        }
    }

    fn closed_call(&mut self, failed: bool, now: u64) {
        if self.window.len() == WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(failed);
        if !failed {
            self.failures_in_a_row = 0;
            return;
        }
        self.failures_in_a_row += 1;
        let failures = self.window.iter().filter(|&&failed| failed).count();
        let rate_reached = self.window.len() >= MIN_CALLS && 2 * failures >= self.window.len();
        if self.failures_in_a_row >= THRESHOLD || rate_reached {
            self.open(now);
        }
    }

    fn drop_permit(&mut self, kind: Kind) {
        if kind == Kind::Probe(self.period) {
            self.probes -= 1;
        }
    }

    fn open(&mut self, now: u64) {
        self.enter(BreakerState::Open);
        self.until = now + self.wait;
    }

    /// Closes (a reset also when closed) with clean counts and the first wait.
    fn close(&mut self) {
        self.enter(BreakerState::Closed);
        (self.failures_in_a_row, self.wait) = (0, OPEN_WAIT);
        self.window.clear();
    }

    fn enter_unless_there(&mut self, state: BreakerState) {
        if self.state != state {
            self.enter(state);
        }
    }

    /// Every change of state starts the failure-rate window anew.
    fn enter(&mut self, state: BreakerState) {
        self.state = state;
        self.period += 1;
        self.window.clear();
    }

    /// `(state, failures in a row, calls in window, failure rate, retry_after)` at `now`.
    fn expected(&self, now: u64) -> (BreakerState, u32, u32, f64, Option<Duration>) {
        let calls = self.window.len();
        let failures = self.window.iter().filter(|&&failed| failed).count();
        let rate = if calls == 0 { 0.0 } else { failures as f64 / calls as f64 };
        let retry_after =
            (self.state == BreakerState::Open).then(|| Duration::from_secs(self.until.saturating_sub(now)));
        (self.state, self.failures_in_a_row, calls as u32, rate, retry_after)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn the_breaker_agrees_with_the_model_at_every_step(steps in proptest::collection::vec(step(), 1..300)) {
        let breaker = breaker(|config| {
            config.failure_threshold = THRESHOLD;
            config.open_wait = Duration::from_secs(OPEN_WAIT);
            config.open_wait_multiplier = 2.0;
            config.max_open_wait = Duration::from_secs(MAX_OPEN_WAIT);
            config.half_open_probes = PROBES;
            config.probes_to_close = PROBES_TO_CLOSE;
            config.slow_call = Some(SlowCall { threshold: Duration::from_secs(SLOW_AFTER) });
            let window = RateWindow::Count(WINDOW as u32);
            config.failure_rate = Some(FailureRate { threshold: 0.5, window, min_calls: MIN_CALLS as u32 });
        });
        let mut model = Model::new();
        let (start, mut now) = (Instant::now(), 0u64);
        // Each permit with the second it was admitted at: the permit times its call itself.
        let mut held: Vec<(Permit<'_>, Kind, u64)> = Vec::new();
        for step in steps {
            let at = start + Duration::from_secs(now);
            match step {
                Step::Acquire => match (breaker.try_acquire_at(at), model.acquire(now)) {
                    (Ok(permit), Ok(kind)) => {
                        prop_assert_eq!(permit.is_probe(), matches!(kind, Kind::Probe(_)));
                        held.push((permit, kind, now));
                    }
                    (Err(open), Err((state, retry_after))) => {
                        prop_assert_eq!((open.state, open.retry_after), (state, Duration::from_secs(retry_after)));
                    }
                    (real, modelled) => prop_assert!(false, "breaker {:?}, model {:?}", real.map(|_| ()), modelled),
                },
                Step::Record { permit, failed } if !held.is_empty() => {
                    let (permit, kind, admitted) = held.remove(permit.index(held.len()));
                    let outcome = if failed { Outcome::Failure } else { Outcome::Success };
                    permit.record_at(outcome, at);
                    model.record(kind, failed || now - admitted > SLOW_AFTER, now);
                }
                Step::Drop(permit) if !held.is_empty() => {
                    let (permit, kind, _) = held.remove(permit.index(held.len()));
                    drop(permit);
                    model.drop_permit(kind);
                }
                Step::Record { .. } | Step::Drop(_) => {}
                Step::Advance(seconds) => now += seconds,
                Step::ForceOpen => {
                    breaker.force_open_at(at);
                    model.enter_unless_there(BreakerState::ForcedOpen);
                }
                Step::Disable => {
                    breaker.disable_at(at);
                    model.enter_unless_there(BreakerState::Disabled);
                }
                Step::Reset => {
                    breaker.reset_at(at);
                    model.close();
                }
            }
            let at = start + Duration::from_secs(now);
            let snapshot = breaker.status_at(at);
            let real = (snapshot.state, snapshot.consecutive_failures, snapshot.calls_in_window, snapshot.failure_rate, snapshot.retry_after);
            prop_assert_eq!(real, model.expected(now));
            prop_assert_eq!(breaker.state(), model.state);
        }
    }
}

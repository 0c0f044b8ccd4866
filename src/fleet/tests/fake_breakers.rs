//! The fake backend's fleet-wide breakers: votes, state, epoch and probe lease per key, on
//! tokio's clock, as the Redis scripts keep them.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::fleet::{BreakerKey, BreakerVote, FleetBreakerView, ProbeOutcome};

#[derive(Debug, Default)]
pub(super) struct BreakerBook {
    keys: HashMap<String, FakeBreaker>,
    /// Probe leases granted, over every key.
    pub(super) probes_granted: u64,
    /// Probe outcomes of an epoch that was no longer current.
    pub(super) stale_outcomes: u64,
}

#[derive(Debug, Default)]
struct FakeBreaker {
    votes: HashMap<String, Instant>,
    /// When the open time ends; `None` while closed.
    open_until: Option<Instant>,
    epoch: u64,
    /// The probe lease: its holder and expiry.
    probe: Option<(String, Instant)>,
}

impl FakeBreaker {
    fn view(&mut self, instance: &str, now: Instant) -> FleetBreakerView {
        self.votes.retain(|_, expiry| *expiry > now);
        self.probe = self.probe.take().filter(|(_, expiry)| *expiry > now);
        let votes = u32::try_from(self.votes.len()).unwrap_or(u32::MAX);
        match self.open_until {
            None => FleetBreakerView::closed(votes, self.epoch),
            Some(until) => {
                let mine = self.probe.as_ref().is_some_and(|(holder, _)| holder == instance);
                FleetBreakerView::open(votes, self.epoch, until.saturating_duration_since(now), mine)
            }
        }
    }

    fn open(&mut self, now: Instant, open_for: Duration) {
        self.open_until = Some(now + open_for);
        self.epoch += 1;
        self.probe = None;
    }
}

impl BreakerBook {
    fn breaker(&mut self, key: BreakerKey<'_>) -> &mut FakeBreaker {
        self.keys.entry(format!("{}:{}", key.resource, key.key)).or_default()
    }

    pub(super) fn vote(&mut self, vote: BreakerVote<'_>) -> FleetBreakerView {
        let now = Instant::now();
        let breaker = self.breaker(vote.breaker);
        breaker.votes.insert(vote.breaker.instance.to_owned(), now + vote.window);
        let view = breaker.view(vote.breaker.instance, now);
        if breaker.open_until.is_some() || view.votes < vote.quorum {
            return view;
        }
        breaker.open(now, vote.open_for);
        breaker.view(vote.breaker.instance, now)
    }

    pub(super) fn sync(&mut self, key: BreakerKey<'_>, probe_ttl: Duration) -> FleetBreakerView {
        let now = Instant::now();
        let breaker = self.breaker(key);
        let view = breaker.view(key.instance, now);
        let time_over = breaker.open_until.is_some_and(|until| until <= now);
        if !time_over || breaker.probe.is_some() {
            return view;
        }
        breaker.epoch += 1;
        breaker.probe = Some((key.instance.to_owned(), now + probe_ttl));
        self.probes_granted += 1;
        self.breaker(key).view(key.instance, now)
    }

    pub(super) fn probe_ended(&mut self, outcome: ProbeOutcome<'_>) -> FleetBreakerView {
        let now = Instant::now();
        let breaker = self.breaker(outcome.breaker);
        let current = breaker.open_until.is_some() && breaker.epoch == outcome.epoch;
        if current && outcome.succeeded {
            (breaker.open_until, breaker.probe) = (None, None);
            breaker.votes.clear();
        } else if current {
            breaker.open(now, outcome.open_for);
        } else {
            self.stale_outcomes += 1;
        }
        self.breaker(outcome.breaker).view(outcome.breaker.instance, now)
    }
}

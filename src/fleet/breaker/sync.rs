//! The task that keeps a governor's fleet-wide breakers in step with the fleet: every
//! `sync_every` it reads each one (taking the probe lease when it is free), and it sends the
//! votes and probe outcomes the local breakers' transitions queue. What the backend answers
//! steers the local breaker; when the backend cannot be asked, every local breaker is let go to
//! follow its own rules until it answers again.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tokio::time::Instant;

use super::shared::{Event, FleetBreakers, SharedKey};
use super::{BreakerKey, BreakerVote, FleetBreakerState, FleetBreakerView, ProbeOutcome};
use crate::breaker::CircuitBreaker;
use crate::fleet::FleetError;

impl FleetBreakers {
    /// Runs until the governor stops it (its background tasks are aborted).
    pub(crate) async fn run(self: Arc<Self>) {
        let Some(mut events) = self.receiver.lock().take() else { return };
        let mut next_sync = Instant::now();
        loop {
            // Queued outcomes first: a sync read before one is sent would be stale.
            match tokio::time::timeout_at(next_sync, events.recv()).await {
                Ok(Some(event)) => self.send(event).await,
                Ok(None) => return,
                Err(_) => {
                    self.sync_all().await;
                    next_sync = Instant::now() + self.config.sync_every;
                }
            }
        }
    }

    async fn sync_all(&self) {
        for (index, shared) in self.keys.iter().enumerate() {
            let breaker = self.key(shared);
            let answer = self.asker.ask(|backend| backend.breaker_sync(breaker, self.config.probe_ttl)).await;
            self.apply(index, "breaker_sync", answer);
        }
    }

    async fn send(&self, event: Event) {
        let (index, operation, answer) = match event {
            Event::Vote { key, open_for } => {
                let breaker = self.key(&self.keys[key]);
                let (window, quorum) = (self.config.vote_window, self.config.quorum);
                let vote = BreakerVote::new(breaker, window, quorum, open_for);
                (key, "breaker_vote", self.asker.ask(|backend| backend.breaker_vote(vote)).await)
            }
            Event::ProbeEnded { key, epoch, succeeded, open_for } => {
                let breaker = self.key(&self.keys[key]);
                let outcome = ProbeOutcome::new(breaker, epoch, succeeded, open_for);
                (
                    key,
                    "breaker_probe_ended",
                    self.asker.ask(|backend| backend.breaker_probe_ended(outcome)).await,
                )
            }
        };
        self.apply(index, operation, answer);
    }

    fn key<'a>(&'a self, shared: &'a SharedKey) -> BreakerKey<'a> {
        BreakerKey::new(&self.resource, &shared.key, &self.instance)
    }

    fn apply(&self, index: usize, operation: &'static str, answer: Result<FleetBreakerView, FleetError>) {
        let shared = &self.keys[index];
        match answer {
            Ok(view) => {
                self.backend_answered();
                *shared.view.lock() = Some(view);
                if let Some(local) = self.local(&shared.key) {
                    self.steer(shared, &local, view);
                }
            }
            Err(error) => self.backend_failed(operation, &shared.key, &error),
        }
    }

    /// Moves the local breaker to the fleet's view.
    fn steer(&self, shared: &SharedKey, local: &CircuitBreaker, view: FleetBreakerView) {
        let now = Instant::now();
        match view.state {
            FleetBreakerState::Closed => {
                shared.in_probe.store(false, Relaxed);
                local.fleet_closed(now);
            }
            FleetBreakerState::Probing if view.probe_is_mine => {
                if shared.released_epoch.swap(view.epoch, Relaxed) != view.epoch {
                    local.fleet_hold_open(now, now);
                    shared.in_probe.store(true, Relaxed);
                    local.fleet_probe(now);
                }
            }
            FleetBreakerState::Open | FleetBreakerState::Probing => {
                shared.in_probe.store(false, Relaxed);
                // Another's probe: reject, lock-free, until the next sync tells more.
                let open_for = if view.state == FleetBreakerState::Open {
                    view.open_for
                } else {
                    self.config.sync_every
                };
                local.fleet_hold_open(now, now + open_for);
            }
        }
    }

    fn backend_answered(&self) {
        if self.local_only.swap(false, Relaxed) {
            let resource = &self.resource;
            tracing::info!(target: "bursar::fleet", %resource, "the fleet backend answers again: fleet-wide breakers are shared again");
        }
    }

    #[cold]
    fn backend_failed(&self, operation: &'static str, key: &str, error: &FleetError) {
        let resource = &self.resource;
        if self.local_only.swap(true, Relaxed) {
            tracing::warn!(target: "bursar::fleet", %resource, key, operation, %error, "a fleet breaker operation failed");
            return;
        }
        tracing::error!(target: "bursar::fleet", %resource, key, operation, %error, "the fleet backend is down: fleet-wide breakers fall back to local only");
        for shared in &self.keys {
            shared.in_probe.store(false, Relaxed);
            // Let go, the local breaker no longer runs the fleet's probe: if the backend still
            // names this instance's probe when it answers again, it is steered for it anew,
            // so that one probe runs and its outcome reaches the fleet.
            shared.released_epoch.store(0, Relaxed);
            if let Some(local) = self.local(&shared.key) {
                local.fleet_let_go();
            }
        }
    }
}

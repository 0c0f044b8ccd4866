//! [`Membership`]: this governor among the fleet's live instances — a heartbeat every third of
//! the lease TTL from a background task (a failed one again a quarter period later), and leaving when the governor stops, so that
//! `local_share` divides the cap among the instances that are alive, not the ones that held a
//! lease lately.

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::task::AbortHandle;

use super::engine::Fleet;

/// The heartbeat task of one governor's fleet resource. Leaving stops it and removes the
/// instance; dropping it without leaving (the last governor handle dropped) leaves from a task.
#[derive(Debug)]
pub(crate) struct Membership {
    fleet: Arc<Fleet>,
    /// The heartbeat task, until the instance leaves.
    beating: Mutex<Option<AbortHandle>>,
}

impl Membership {
    /// Starts the heartbeat: the first one at once, then one every third of the TTL.
    pub(crate) fn start(fleet: &Arc<Fleet>) -> Self {
        let beat = fleet.runtime.spawn(Arc::clone(fleet).beat_forever());
        Membership { fleet: Arc::clone(fleet), beating: Mutex::new(Some(beat.abort_handle())) }
    }

    /// Stops the heartbeat and removes the instance from the live ones; the second call does
    /// nothing. From here on a port lease makes no claim in the host's plan. While a port this
    /// governor claimed is still held (a connection lent before the shutdown holds its ports
    /// until its lease is dropped; a claim may be on its way), the instance must keep
    /// counting, or those claims would stop counting and another process of the host could
    /// take the ports: it then goes on beating and leaves from a task once the last is
    /// dropped — never, if a lease is leaked.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the heartbeat is stopped at the first poll (or handed to the task); an
    /// instance whose removal was cut off stops counting when its last heartbeat runs out.
    pub(crate) async fn leave(&self) {
        let Some(beat) = self.beating.lock().take() else {
            return;
        };
        if self.fleet.start_leaving() > 0 {
            self.fleet.runtime.spawn(Arc::clone(&self.fleet).leave_when_no_port_is_held(beat));
            return;
        }
        beat.abort();
        self.fleet.leave().await;
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        if let Some(beat) = self.beating.get_mut().take() {
            self.fleet.start_leaving();
            // A runtime shutting down drops the task: the instance then expires at its TTL.
            self.fleet.runtime.spawn(Arc::clone(&self.fleet).leave_when_no_port_is_held(beat));
        }
    }
}

impl Fleet {
    async fn beat_forever(self: Arc<Self>) {
        let mut every = tokio::time::interval(self.config.renew_every());
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let (resource, instance, ttl) = (&self.config.resource, &self.instance, self.instance_ttl());
            match self.ask("heartbeat", |backend| backend.heartbeat(resource, instance, ttl)).await {
                Ok(live) => {
                    self.saw_instances(live);
                    self.retry_lease_releases().await;
                    self.retry_releases().await;
                }
                // A failure is logged by `ask`. The instance counts until one period after the
                // next regular beat, so that beat arriving late would drop it (and another
                // process of the host could take its ports): try again in a quarter period.
                Err(_) => every.reset_after(self.config.renew_every() / 4),
            }
        }
    }

    /// How long an instance counts after its last heartbeat: two heartbeat periods, so one
    /// late heartbeat does not drop it, and one killed stops counting within two thirds of the
    /// lease TTL — the others see it at their next heartbeat, within one TTL of the kill.
    pub(super) fn instance_ttl(&self) -> std::time::Duration {
        self.config.lease_ttl - self.config.renew_every()
    }

    async fn leave(&self) {
        let (resource, instance) = (&self.config.resource, &self.instance);
        // A failure is logged by `ask`; the instance then expires at its TTL.
        let _ = self.ask("leave", |backend| backend.leave(resource, instance)).await;
    }

    /// No claim on the host's plan starts from now on; returns how many are held or on their
    /// way, and says so if any is.
    fn start_leaving(&self) -> u64 {
        let Some(ports) = &self.ports else { return 0 };
        let in_use = ports.start_leaving();
        if in_use > 0 {
            let resource = &self.config.resource;
            tracing::info!(target: "bursar::fleet", %resource, claims = in_use, "stopped with ports claimed on the host: the instance stays live until their leases are dropped");
        }
        in_use
    }

    /// Keeps beating until no port claimed on the host is held or on its way, then stops
    /// `beat` and leaves.
    async fn leave_when_no_port_is_held(self: Arc<Self>, beat: AbortHandle) {
        if let Some(ports) = &self.ports {
            ports.until_none_in_use().await;
        }
        beat.abort();
        self.leave().await;
    }
}

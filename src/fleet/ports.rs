//! A host's port plan: the governor's port leases claimed under the host's name, one backend
//! round trip per lease, so that two processes on one machine never lease the same port.
//!
//! A claim names the port's holder, `"<instance>:<n>"`; the backend counts a claim only while
//! its instance is live, so a process that dies gives its ports back when its heartbeats run
//! out, and a process that left gives them back at once. A release names its claim, so a late
//! one cannot free a later claim of the same port. A release the backend did not answer is
//! tried again at each heartbeat.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::engine::Fleet;
use super::{FleetError, OnBackendDown, PortClaim, PortPlanStatus};

/// The state of this governor's part in its host's port plan. Counts are `Relaxed`
/// statistics, each read on its own.
#[derive(Debug)]
pub(crate) struct HostPorts {
    host: String,
    claimed: AtomicU64,
    held: AtomicU64,
    held_elsewhere: AtomicU64,
    unshared: AtomicU64,
    released: AtomicU64,
    /// The backend answered that it keeps no port plan: every lease is local from then on.
    unsupported: AtomicBool,
    /// Releases the backend did not answer, by claim: tried again at each heartbeat.
    unreleased: Mutex<Vec<(String, Vec<u16>)>>,
    /// Claims held or on their way to the backend: a governor that stopped keeps beating
    /// until none is, so none stops counting while its port is in use.
    in_use: AtomicU64,
    /// The governor stopped: no claim is made from now on (a port is leased locally).
    leaving: AtomicBool,
    /// Woken when `in_use` falls to 0.
    none_in_use: Notify,
}

impl HostPorts {
    pub(super) fn new(host: String) -> Self {
        HostPorts {
            host,
            claimed: AtomicU64::new(0),
            held: AtomicU64::new(0),
            held_elsewhere: AtomicU64::new(0),
            unshared: AtomicU64::new(0),
            released: AtomicU64::new(0),
            unsupported: AtomicBool::new(false),
            unreleased: Mutex::new(Vec::new()),
            in_use: AtomicU64::new(0),
            leaving: AtomicBool::new(false),
            none_in_use: Notify::new(),
        }
    }

    /// A claim starts, unless the governor is leaving.
    fn enter(&self) -> Option<InUse<'_>> {
        // SeqCst, here and in `start_leaving`: each side writes its own, then reads the
        // other's, so a claim either sees the leave or is seen by it.
        self.in_use.fetch_add(1, SeqCst);
        let in_use = InUse(self);
        (!self.leaving.load(SeqCst)).then_some(in_use)
    }

    fn exit(&self) {
        if self.in_use.fetch_sub(1, SeqCst) == 1 {
            self.none_in_use.notify_waiters();
        }
    }

    /// The governor stopped: no claim starts from now on; returns how many are held or on
    /// their way.
    pub(super) fn start_leaving(&self) -> u64 {
        self.leaving.store(true, SeqCst);
        self.in_use.load(SeqCst)
    }

    /// Returns once no claim is held or on its way: its port leases all dropped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits.
    pub(super) async fn until_none_in_use(&self) {
        loop {
            let mut dropped = pin!(self.none_in_use.notified());
            // Listening before looking, so the last drop between the two wakes this wait.
            dropped.as_mut().enable();
            if self.in_use.load(SeqCst) == 0 {
                return;
            }
            dropped.await;
        }
    }

    pub(super) fn status(&self) -> PortPlanStatus {
        PortPlanStatus {
            host: self.host.clone(),
            held: self.held.load(Relaxed),
            claimed: self.claimed.load(Relaxed),
            held_elsewhere: self.held_elsewhere.load(Relaxed),
            unshared: self.unshared.load(Relaxed),
            released: self.released.load(Relaxed),
            unreleased: self.unreleased.lock().iter().map(|(_, ports)| ports.len() as u64).sum(),
        }
    }
}

/// One claim counted in [`HostPorts::in_use`] until dropped: on its way, or held by a
/// [`PortClaimGuard`] (which takes it over: the `InUse` is forgotten).
struct InUse<'a>(&'a HostPorts);

impl Drop for InUse<'_> {
    fn drop(&mut self) {
        self.0.exit();
    }
}

/// What a claim of candidate ports found.
#[derive(Debug)]
pub(crate) enum Claimed {
    /// The candidate at `index` is this process's; every one before it is held by another
    /// live instance on the host.
    Port {
        /// Its place among the candidates.
        index: usize,
        /// The claim, released when dropped.
        claim: PortClaimGuard,
    },
    /// Every candidate is held by another live instance on the host.
    AllHeld,
    /// The backend could not be asked: `on_backend_down` lets the port be leased by this
    /// process alone (`local`), or refuses it.
    Unshared {
        /// Whether the port may be leased without a claim.
        local: bool,
    },
}

/// One port's claim in the host's plan; dropping it releases the claim from a task.
#[derive(Debug)]
pub(crate) struct PortClaimGuard {
    fleet: Arc<Fleet>,
    id: String,
    port: u16,
}

impl Drop for PortClaimGuard {
    fn drop(&mut self) {
        if let Some(ports) = &self.fleet.ports {
            ports.held.fetch_sub(1, Relaxed);
            ports.exit();
        }
        self.fleet.release_ports(std::mem::take(&mut self.id), vec![self.port]);
    }
}

/// The candidates of a claim on its way: if the claim is dropped before the backend answers,
/// whichever candidate it claimed is released.
struct Asking<'a> {
    fleet: &'a Arc<Fleet>,
    id: Option<String>,
    candidates: &'a [u16],
}

impl Drop for Asking<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.fleet.release_ports(id, self.candidates.to_vec());
        }
    }
}

impl Fleet {
    /// Whether this governor's ports are claimed in its host's plan (`fleet.share_ports`).
    pub(crate) fn shares_ports(&self) -> bool {
        self.ports.is_some()
    }

    /// The host whose port plan this governor claims in, if it shares ports.
    pub(crate) fn ports_host(&self) -> Option<&str> {
        self.ports.as_ref().map(|ports| ports.host.as_str())
    }

    /// Claims the first of `candidates` that no other live instance on the host holds.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a claim dropped before the backend answered is released from a task,
    /// whichever candidate it took.
    pub(crate) async fn claim_port(self: &Arc<Self>, candidates: &[u16]) -> Claimed {
        let Some(ports) = &self.ports else { return Claimed::Unshared { local: true } };
        if ports.unsupported.load(Relaxed) {
            return Claimed::Unshared { local: true };
        }
        let Some(in_use) = ports.enter() else {
            let (resource, host) = (&self.config.resource, &ports.host);
            tracing::debug!(target: "bursar::fleet", %resource, %host, "the governor stopped: a port is leased without a claim in the host's plan");
            return Claimed::Unshared { local: true };
        };
        let id = self.lease_id();
        let mut asking = Asking { fleet: self, id: Some(id.clone()), candidates };
        let claim = PortClaim {
            resource: &self.config.resource,
            host: &ports.host,
            instance: &self.instance,
            claim_id: &id,
            instance_ttl: self.instance_ttl(),
            candidates,
        };
        let answer = self.ask("claim_port", |backend| backend.claim_port(claim)).await;
        asking.id = None;
        // The backend may be the user's: an index past the candidates is a wrong answer.
        let answer = answer.and_then(|index| match index {
            Some(index) if index >= candidates.len() => {
                let reason = format!("answered candidate {index} of {}", candidates.len());
                let error = FleetError::Unexpected { reason };
                self.backend_failed("claim_port", &error);
                Err(error)
            }
            index => Ok(index),
        });
        match answer {
            Ok(Some(index)) => {
                ports.claimed.fetch_add(1, Relaxed);
                ports.held.fetch_add(1, Relaxed);
                ports.held_elsewhere.fetch_add(index as u64, Relaxed);
                std::mem::forget(in_use); // the guard counts it from here
                let claim = PortClaimGuard { fleet: Arc::clone(self), id, port: candidates[index] };
                Claimed::Port { index, claim }
            }
            Ok(None) => {
                ports.held_elsewhere.fetch_add(candidates.len() as u64, Relaxed);
                Claimed::AllHeld
            }
            Err(error) => {
                // Whatever a failed claim took is released once the backend answers again; a
                // backend without port plans took nothing.
                if !matches!(error, FleetError::Unsupported { .. }) {
                    self.release_ports(id, candidates.to_vec());
                }
                self.unshared(ports, &error)
            }
        }
    }

    #[cold]
    fn unshared(&self, ports: &HostPorts, error: &FleetError) -> Claimed {
        let (resource, host) = (&self.config.resource, &ports.host);
        if let FleetError::Unsupported { .. } = error {
            if !ports.unsupported.swap(true, Relaxed) {
                tracing::warn!(target: "bursar::fleet", %resource, %host, "the fleet backend keeps no port plan: ports are leased by each process alone");
            }
            return Claimed::Unshared { local: true };
        }
        let local = self.config.on_backend_down != OnBackendDown::FailClosed;
        if local {
            ports.unshared.fetch_add(1, Relaxed);
            tracing::warn!(target: "bursar::fleet", %resource, %host, "fleet backend down: a port is leased without a claim in the host's plan");
        } else {
            tracing::warn!(target: "bursar::fleet", %resource, %host, "fleet backend down: no port is leased (`fail_closed`)");
        }
        Claimed::Unshared { local }
    }

    /// Releases `ports` from claim `id`, from a task; a release the backend does not answer is
    /// kept for the next heartbeat.
    fn release_ports(self: &Arc<Self>, id: String, ports: Vec<u16>) {
        let fleet = Arc::clone(self);
        // A runtime shutting down drops the task: the instance then expires at its TTL, and its
        // claims with it.
        self.runtime.spawn(async move {
            fleet.release_or_keep(id, ports).await;
        });
    }

    /// Releases `ports` from claim `id`, or keeps them for the next heartbeat; `false` if the
    /// backend did not answer.
    async fn release_or_keep(&self, id: String, ports: Vec<u16>) -> bool {
        let Some(plan) = &self.ports else { return true };
        let (resource, host) = (&self.config.resource, &plan.host);
        let answer =
            self.ask("release_ports", |backend| backend.release_ports(resource, host, &id, &ports)).await;
        match answer {
            Ok(released) => {
                plan.released.fetch_add(u64::from(released), Relaxed);
                true
            }
            Err(FleetError::Unsupported { .. }) => true,
            // `ask` logged it.
            Err(_) => {
                plan.unreleased.lock().push((id, ports));
                false
            }
        }
    }

    /// Tries again the releases the backend did not answer (from the heartbeat), until one
    /// fails: the rest wait for the next heartbeat, so a backend that is down again holds the
    /// heartbeat up for one time limit at most.
    pub(super) async fn retry_releases(&self) {
        let Some(plan) = &self.ports else { return };
        let mut kept = std::mem::take(&mut *plan.unreleased.lock()).into_iter();
        while let Some((id, ports)) = kept.next() {
            if !self.release_or_keep(id, ports).await {
                plan.unreleased.lock().extend(kept);
                return;
            }
        }
    }
}

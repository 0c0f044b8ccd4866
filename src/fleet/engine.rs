//! [`Fleet`]: one fleet resource of a governor — the backend, its state as last seen, and the
//! counts of the status section.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use parking_lot::Mutex;

use super::backend::BackendFuture;
use super::breaker::FleetBreakers;
use super::ports::HostPorts;
use super::{BackendState, FleetBackend, FleetConfig, FleetError, FleetStatus, LeaseRequest, OnBackendDown};
use crate::contain::{Containment, Fault, UserCode};

/// One fleet resource: every count is `Relaxed`, each one a statistic read on its own.
#[derive(Debug)]
pub(crate) struct Fleet {
    /// How this resource and its breakers ask the backend.
    asker: Asker,
    pub(super) config: FleetConfig,
    /// This governor among the fleet's instances.
    pub(super) instance: String,
    pub(super) runtime: tokio::runtime::Handle,
    next_lease: AtomicU64,
    /// A [`BackendState`] as its index.
    backend_state: AtomicU8,
    /// The live instances the backend last told; 0 before it told any.
    live_instances: AtomicU32,
    pub(super) held: AtomicU64,
    pub(super) unleased: AtomicU64,
    pub(super) acquired: AtomicU64,
    pub(super) lost: AtomicU64,
    fallbacks: AtomicU64,
    refused: AtomicU64,
    backend_errors: AtomicU64,
    /// The fleet-wide breakers (`fleet.breaker`), if any.
    breakers: Option<Arc<FleetBreakers>>,
    /// This governor's part in its host's port plan (`fleet.share_ports`).
    pub(super) ports: Option<HostPorts>,
    /// Lease ids whose release the backend did not answer (or that a failed acquire may have
    /// granted while it was down), oldest first, with when each was kept: sent again after
    /// each heartbeat that lands, for one TTL.
    pub(super) unreleased: Mutex<std::collections::VecDeque<(String, tokio::time::Instant)>>,
}

/// How a call may run when the backend is down.
pub(super) enum Fallback {
    /// Without a lease (counted in `unleased` until it ends).
    Unleased,
    Refused,
}

impl Fleet {
    pub(crate) fn new(
        config: FleetConfig,
        backend: Arc<dyn FleetBackend>,
        runtime: tokio::runtime::Handle,
        containment: Arc<Containment>,
    ) -> Self {
        let instance = instance_id();
        let asker = Asker { backend, timeout: config.backend_timeout, containment };
        let breakers = config
            .breaker
            .clone()
            .map(|breaker| Arc::new(FleetBreakers::new(breaker, &config.resource, &instance, asker.clone())));
        let ports = config.share_ports.then(|| HostPorts::new(config.host_name()));
        Fleet {
            ports,
            asker,
            config,
            instance,
            runtime,
            next_lease: AtomicU64::new(0),
            backend_state: AtomicU8::new(BackendState::Unknown as u8),
            live_instances: AtomicU32::new(0),
            held: AtomicU64::new(0),
            unleased: AtomicU64::new(0),
            acquired: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            backend_errors: AtomicU64::new(0),
            breakers,
            unreleased: Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// The fleet-wide breakers, if `fleet.breaker` names any.
    pub(crate) fn breakers(&self) -> Option<&Arc<FleetBreakers>> {
        self.breakers.as_ref()
    }

    /// A lease id no other lease of the fleet has.
    pub(super) fn lease_id(&self) -> String {
        format!("{}:{}", self.instance, self.next_lease.fetch_add(1, Relaxed))
    }

    pub(super) fn request<'a>(&'a self, lease_id: &'a str) -> LeaseRequest<'a> {
        let config = &self.config;
        LeaseRequest::new(&config.resource, lease_id, &self.instance, config.cap, config.lease_ttl)
    }

    /// Asks the backend, within `backend_timeout`; the answer moves the backend's state, and a
    /// failure is a `tracing` event (an `ERROR` when the backend goes down, a `WARN` after).
    pub(super) async fn ask<'a, T>(
        &'a self,
        operation: &'static str,
        make: impl FnOnce(&'a dyn FleetBackend) -> BackendFuture<'a, T>,
    ) -> Result<T, FleetError> {
        let answer = self.asker.ask(make).await;
        match &answer {
            Ok(_) => self.backend_answered(),
            // An operation the backend lacks says nothing of whether it is up.
            Err(FleetError::Unsupported { .. }) => {}
            Err(error) => self.backend_failed(operation, error),
        }
        answer
    }

    /// Whether the backend's last answer was a failure.
    pub(super) fn is_down(&self) -> bool {
        self.backend_state.load(Relaxed) == BackendState::Down as u8
    }

    fn backend_answered(&self) {
        if self.backend_state.swap(BackendState::Up as u8, Relaxed) == BackendState::Down as u8 {
            tracing::info!(target: "bursar::fleet", resource = %self.config.resource, "the fleet backend answers again");
        }
    }

    #[cold]
    pub(super) fn backend_failed(&self, operation: &'static str, error: &FleetError) {
        self.backend_errors.fetch_add(1, Relaxed);
        let resource = &self.config.resource;
        if self.backend_state.swap(BackendState::Down as u8, Relaxed) != BackendState::Down as u8 {
            let mode = self.config.on_backend_down;
            tracing::error!(target: "bursar::fleet", %resource, operation, %error, ?mode, "the fleet backend is down");
        } else {
            tracing::warn!(target: "bursar::fleet", %resource, operation, %error, "a fleet backend operation failed");
        }
    }

    /// Remembers the live instances the backend told; at least this one, which is running
    /// (its first heartbeat may not have landed before an acquire's answer).
    pub(super) fn saw_instances(&self, live: u32) {
        self.live_instances.store(live.max(1), Relaxed);
    }

    /// What `on_backend_down` allows a call the backend could not admit.
    #[cold]
    pub(super) fn fallback(&self) -> Fallback {
        let resource = &self.config.resource;
        let admitted = match self.config.on_backend_down {
            OnBackendDown::FailClosed => false,
            OnBackendDown::FailOpen => {
                self.unleased.fetch_add(1, Relaxed);
                true
            }
            OnBackendDown::LocalShare => self.take_share(),
        };
        if admitted {
            self.fallbacks.fetch_add(1, Relaxed);
            tracing::warn!(target: "bursar::fleet", %resource, "fleet backend down: the call runs without a lease");
            Fallback::Unleased
        } else {
            self.refused.fetch_add(1, Relaxed);
            tracing::warn!(target: "bursar::fleet", %resource, "fleet backend down: the call is refused");
            Fallback::Refused
        }
    }

    /// A place of this process's share, `cap / live instances` (none before the backend told
    /// how many are live), if the calls it runs — leased before the backend went down, or not —
    /// leave one.
    fn take_share(&self) -> bool {
        let live = self.live_instances.load(Relaxed);
        let share = u64::from(self.config.cap).checked_div(u64::from(live)).unwrap_or(0);
        let leased = self.held.load(Relaxed);
        let fits = |running: u64| (running + leased < share).then_some(running + 1);
        self.unleased.fetch_update(Relaxed, Relaxed, fits).is_ok()
    }

    /// A call that ran without a lease ended.
    pub(super) fn unleased_ended(&self) {
        self.unleased.fetch_sub(1, Relaxed);
    }

    pub(crate) fn status(&self) -> FleetStatus {
        let live = self.live_instances.load(Relaxed);
        FleetStatus {
            resource: self.config.resource.clone(),
            cap: self.config.cap,
            backend: match self.backend_state.load(Relaxed) {
                0 => BackendState::Unknown,
                1 => BackendState::Up,
                _ => BackendState::Down,
            },
            leases_held: self.held.load(Relaxed),
            leases_to_release: self.leases_to_release(),
            running_unleased: self.unleased.load(Relaxed),
            live_instances: (live > 0).then_some(live),
            acquired: self.acquired.load(Relaxed),
            lost: self.lost.load(Relaxed),
            fallbacks: self.fallbacks.load(Relaxed),
            refused: self.refused.load(Relaxed),
            backend_errors: self.backend_errors.load(Relaxed),
            breakers: self.breakers.as_ref().map(|breakers| breakers.status()).unwrap_or_default(),
            ports: self.ports.as_ref().map(HostPorts::status),
        }
    }

    /// How long a call waits before asking again when the cap is reached: the earliest
    /// lease's expiry, but never longer than [`FULL_POLL`] since leases are released early.
    pub(super) fn full_pause(retry_in: Duration) -> Duration {
        retry_in.clamp(Duration::from_millis(1), FULL_POLL)
    }
}

/// How the parts of one fleet resource ask its backend: contained, within `backend_timeout`.
#[derive(Debug, Clone)]
pub(crate) struct Asker {
    backend: Arc<dyn FleetBackend>,
    timeout: Duration,
    /// Where the backend's code runs: it may be the user's.
    containment: Arc<Containment>,
}

impl Asker {
    /// One backend operation, made by `make` (see [`timed`]).
    pub(super) async fn ask<'a, T>(
        &'a self,
        make: impl FnOnce(&'a dyn FleetBackend) -> BackendFuture<'a, T>,
    ) -> Result<T, FleetError> {
        timed(&self.containment, self.timeout, || make(&*self.backend)).await
    }
}

/// The backend's `answer`, or [`FleetError::TimedOut`] after `after`.
/// Asks the backend — the user's code, when it is their own `FleetBackend` — through the
/// containment helper: `make` and every poll of the future it makes are under `catch`, so a
/// panic is logged, counted (`fleet_backend`) and answered as [`FleetError::Panicked`]; an
/// answer slower than `after` is [`FleetError::TimedOut`].
async fn timed<'a, T>(
    containment: &Containment,
    after: Duration,
    make: impl FnOnce() -> BackendFuture<'a, T>,
) -> Result<T, FleetError> {
    let panicked = |fault: Fault| FleetError::Panicked { message: fault.into_message() };
    let answer = containment.call(UserCode::FleetBackend, make).map_err(panicked)?;
    match tokio::time::timeout(after, containment.in_place(UserCode::FleetBackend, answer)).await {
        Ok(answer) => answer.map_err(panicked)?,
        Err(_elapsed) => Err(FleetError::TimedOut { after }),
    }
}

/// The longest pause between two acquires of a call that found the cap reached.
const FULL_POLL: Duration = Duration::from_millis(10);

/// This governor's id among the fleet's instances: its process's pid and start in
/// nanoseconds, and its rank among the process's governors (each one is an instance, with its
/// own share of the cap).
fn instance_id() -> String {
    static GOVERNORS: AtomicU64 = AtomicU64::new(0);
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    // Relaxed: only the ranks' uniqueness matters, which every ordering gives.
    let rank = GOVERNORS.fetch_add(1, Relaxed);
    format!("{}-{:x}-{rank}", std::process::id(), started.as_nanos())
}

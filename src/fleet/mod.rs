//! Fleet-wide limits: one cap on a resource shared by every process and machine that runs the
//! service, through a [`FleetBackend`] ([`RedisBackend`] with the `redis` feature).
//!
//! # Why
//!
//! A governor caps what one process runs. A service with three replicas and `max_workers = 10`
//! runs 30 browsers, and 30 connections to a database whose `max_connections` did not triple.
//! A fleet resource ([`FleetConfig`], `GovernorConfig::fleet`) adds a lease to every governed
//! call: the call takes its local worker, then a lease on the resource, which at most `cap`
//! calls fleet-wide hold at once. Calls take leases — [`Governor::run`](crate::Governor::run),
//! [`Governor::call`](crate::Governor::call) and the tower layer, each attempt its own lease;
//! so does a task of [`Governor::spawn`](crate::Governor::spawn) and
//! [`spawn_queued`](crate::Governor::spawn_queued), once it has its worker (a lost lease ends it
//! with [`Error::LeaseLost`](crate::Error::LeaseLost)). A blocking closure of `spawn_blocking`
//! takes none: it cannot be stopped when its lease is lost.
//!
//! # Leases
//!
//! A lease lives `lease_ttl` by the backend's clock. While the call runs, the governor renews
//! it every third of the TTL from a task of its own, and releases it when the attempt ends —
//! returned, failed, timed out, cancelled, panicked or dropped. A process that dies loses its
//! leases one TTL after its last renewal. A renewal that finds the lease gone (the process was
//! paused past the TTL, or the backend lost its data) is a `WARN` event, counted in
//! [`FleetStatus::lost`], and cancels the call with [`Error::LeaseLost`](crate::Error::LeaseLost):
//! work that holds no lease is how fleet caps overshoot.
//!
//! # Fencing
//!
//! Every lease carries a [`FencingToken`], larger than every one granted before on the
//! resource; the operation reads its own with [`FencingToken::current`]. A lease cannot stop a
//! paused process from waking up and writing: a resource that must refuse it remembers the
//! largest token it has seen and rejects smaller ones (see [`FencingToken`]'s example).
//!
//! # Live instances
//!
//! Each governor with a fleet resource is an instance of the fleet: from the moment it is built
//! it tells the backend it is alive every third of the TTL (a heartbeat from a task of its own,
//! whether or not it holds leases), and leaves when it shuts down or its last handle is
//! dropped — once no port it claimed on the host is held, so a connection lent before the
//! shutdown keeps its ports claimed until its lease is dropped (a leaked lease keeps the
//! instance counted). A port leased after that makes no claim. An instance counts for two heartbeat periods after its last one (one heartbeat may
//! be late; a failed one is tried again a quarter period later, so the next is not the last
//! chance), so a process killed without leaving stops counting within two thirds of the TTL,
//! and the others see it gone at their next heartbeat: within one TTL of its death. The count is [`FleetStatus::live_instances`], and what
//! `local_share` divides the cap by.
//!
//! # Port plans per host
//!
//! With `fleet.share_ports` (the default), the governor's port leases —
//! [`PortAllocator::lease`](crate::ports::PortAllocator::lease) on
//! [`Governor::ports`](crate::Governor::ports), which its pools use for their connections'
//! ports — are also claimed in the port plan of the host (`fleet.host`, or this machine's host
//! name), shared by every instance of the resource on that host: two processes on one machine
//! never lease the same VNC port. A claim belongs to its instance and counts while the instance
//! is live, so a process killed with SIGKILL gives its ports back when its heartbeats run out
//! (within one TTL), and one that shuts down gives them back at once. One round trip claims the
//! first free of up to 8 ports; ports held by other processes are passed over and rest a
//! quarantine before this process asks for them again. While the backend is down, a port is
//! refused in `fail_closed` and leased unclaimed otherwise (the host check still probes it);
//! [`PortPlanStatus`] counts both. A process paused past its TTL may find its ports claimed by
//! another when it wakes: a port is not fenced.
//!
//! # When the backend is down
//!
//! Each backend operation is given up after `backend_timeout` (an `ERROR` event when the
//! backend goes down, a `WARN` for each failure after; [`FleetStatus::backend`]). A call that
//! could not be admitted then does as `on_backend_down` says ([`OnBackendDown`]): it is refused
//! with [`Rejection::FleetUnavailable`](crate::Rejection::FleetUnavailable), runs within this
//! process's share of the cap, or runs without a lease. A renewal that fails keeps the call
//! running and tries again at the next third of the TTL — except in `fail_closed`, where a
//! lease with no renewal confirmed for one TTL since the last confirmed one (or the acquire)
//! was sent may have expired in the backend and gone to another process: at that instant it
//! counts as lost ([`FleetStatus::lost`], a `WARN`) and the call ends with
//! [`Error::LeaseLost`](crate::Error::LeaseLost), so a process cut off from the backend
//! alone never runs past the cap. An acquire that failed — given up at the time limit, its
//! connection dropped, or the backend's code panicked — is followed by a release of the same
//! lease, so that a grant the backend made after all is not counted besides the call that runs
//! without it. A release the backend does not answer (that one, or a call's at its end) is sent
//! again at each heartbeat until it is answered or the lease's TTL has run out since. When the
//! backend answers again, new calls take leases; the calls admitted without one end without one.
//!
//! # Fleet-wide circuit breakers
//!
//! With `fleet.breaker` ([`FleetBreakerConfig`]), the breakers it names (by key, `"default"`
//! for calls without one) open across the fleet — but only when the dependency fails for
//! `quorum` distinct instances within `vote_window`: one sick replica does not trip the fleet.
//!
//! - Each local breaker opens on its own failures as always, and its opening is a vote
//!   (one backend round trip, from a task: never on a call's path).
//! - When the vote that makes the quorum arrives, the fleet's breaker opens with a new epoch
//!   for the voter's open wait. Every instance reads it every `sync_every` and holds its local
//!   breaker open: calls are rejected as by any open breaker, lock-free, without asking the
//!   backend. All instances reject within one `sync_every` (and a round trip) of the quorum.
//! - When the open time ends, the first instance to sync takes the probe lease (`SET NX`, for
//!   `probe_ttl`, with a new epoch) and its breaker admits one probe; every other instance keeps
//!   rejecting. The probe's success closes the fleet's breaker — only if its epoch is still
//!   current — and every instance closes at its next sync; its failure opens it again. A probe
//!   that outlives its lease lets another instance probe, and its late outcome changes nothing.
//! - When the backend cannot be asked, every fleet-wide breaker falls back to its local one
//!   (an `ERROR` event, [`FleetBreakerStatus::local_only`]), and is shared again at the first
//!   answer. An instance whose probe lease outlived the failure is then steered for the fleet's
//!   one probe again, and that probe's outcome is the fleet's. Calls with no fleet-wide breaker never see any of this: their path is unchanged.
//!
//! ```
//! # use std::collections::BTreeSet;
//! # use std::sync::{Arc, Mutex};
//! # use std::time::Duration;
//! # use bursar::fleet::*;
//! /// A backend in memory (a test's fake): the breaker opens at two votes and stays open.
//! #[derive(Debug, Default)]
//! struct InMemory { votes: Mutex<BTreeSet<String>> }
//!
//! impl InMemory {
//!     fn view(&self) -> FleetBreakerView {
//!         let votes = self.votes.lock().unwrap().len() as u32;
//!         if votes >= 2 { FleetBreakerView::open(votes, 1, Duration::from_secs(60), false) }
//!         else { FleetBreakerView::closed(votes, 0) }
//!     }
//! }
//!
//! impl FleetBackend for InMemory {
//!     fn breaker_vote<'a>(&'a self, vote: BreakerVote<'a>) -> BackendFuture<'a, FleetBreakerView> {
//!         self.votes.lock().unwrap().insert(vote.breaker.instance.to_owned());
//!         let view = self.view();
//!         Box::pin(async move { Ok(view) })
//!     }
//!     fn breaker_sync<'a>(&'a self, _: BreakerKey<'a>, _: Duration) -> BackendFuture<'a, FleetBreakerView> {
//!         let view = self.view();
//!         Box::pin(async move { Ok(view) })
//!     }
//! #   fn acquire<'a>(&'a self, _: LeaseRequest<'a>) -> BackendFuture<'a, Acquire> {
//! #       Box::pin(async { Ok(Acquire::Granted { token: FencingToken::new(1), live_instances: 2 }) })
//! #   }
//! #   fn renew<'a>(&'a self, _: LeaseRequest<'a>) -> BackendFuture<'a, Renewal> {
//! #       Box::pin(async { Ok(Renewal::Renewed { live_instances: 2 }) })
//! #   }
//! #   fn release<'a>(&'a self, _: &'a str, _: &'a str) -> BackendFuture<'a, bool> { Box::pin(async { Ok(true) }) }
//! #   fn live_leases<'a>(&'a self, _: &'a str) -> BackendFuture<'a, u64> { Box::pin(async { Ok(0) }) }
//! #   fn heartbeat<'a>(&'a self, _: &'a str, _: &'a str, _: Duration) -> BackendFuture<'a, u32> {
//! #       Box::pin(async { Ok(3) })
//! #   }
//! #   fn leave<'a>(&'a self, _: &'a str, _: &'a str) -> BackendFuture<'a, bool> { Box::pin(async { Ok(true) }) }
//!     // acquire, renew, release, live_leases, heartbeat, leave: as in the example below.
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let backend = Arc::new(InMemory::default());
//! let instance = || {
//!     bursar::Governor::builder()
//! #       .health(bursar::health::HealthConfig::disabled())
//!         .max_attempts(1)
//!         .failure_threshold(1)
//!         .fleet(FleetConfig::new("grid", 10).breaker(FleetBreakerConfig::new(["default"]).quorum(2)))
//!         .fleet_backend(Arc::clone(&backend) as Arc<dyn FleetBackend>)
//!         .build()
//! };
//! let (first, second, healthy) = (instance()?, instance()?, instance()?);
//! let sick = || async { Err::<(), _>(std::io::Error::other("503")) };
//! let _ = first.run(sick).await;
//! tokio::time::sleep(Duration::from_secs(2)).await;
//! let fine = healthy.run(|| async { Ok::<_, std::io::Error>(()) }).await;
//! assert!(fine.is_ok(), "one vote opens nothing: {fine:?}");
//!
//! let _ = second.run(sick).await;
//! tokio::time::sleep(Duration::from_millis(1_100)).await; // one `sync_every` and a little
//! let refused = healthy.run(|| async { Ok::<_, std::io::Error>(()) }).await;
//! assert!(matches!(refused, Err(bursar::Error::Rejected(bursar::Rejection::CircuitOpen { .. }))));
//! let shared = &healthy.status().fleet.unwrap().breakers[0];
//! assert_eq!((shared.votes, shared.state), (2, Some(FleetBreakerState::Open)));
//! # Ok(()) }
//! ```
//!
//! # Examples
//!
//! A fleet resource of 2, on a backend kept in this process (a test's fake):
//!
//! ```
//! # use std::sync::{Arc, Mutex};
//! # use std::time::Duration;
//! use bursar::fleet::{Acquire, BackendFuture, FencingToken, FleetBackend, FleetConfig, LeaseRequest, Renewal};
//!
//! #[derive(Debug, Default)]
//! struct InMemory { leases: Mutex<(Vec<String>, u64)> }
//!
//! impl FleetBackend for InMemory {
//!     fn acquire<'a>(&'a self, lease: LeaseRequest<'a>) -> BackendFuture<'a, Acquire> {
//!         let mut state = self.leases.lock().unwrap();
//!         let answer = if state.0.len() < lease.cap as usize {
//!             state.0.push(lease.lease_id.to_owned());
//!             state.1 += 1;
//!             Acquire::Granted { token: FencingToken::new(state.1), live_instances: 1 }
//!         } else {
//!             Acquire::Full { retry_in: Duration::from_millis(5), live_instances: 1 }
//!         };
//!         Box::pin(async move { Ok(answer) })
//!     }
//!     fn renew<'a>(&'a self, _lease: LeaseRequest<'a>) -> BackendFuture<'a, Renewal> {
//!         Box::pin(async { Ok(Renewal::Renewed { live_instances: 1 }) })
//!     }
//!     fn release<'a>(&'a self, _resource: &'a str, lease_id: &'a str) -> BackendFuture<'a, bool> {
//!         self.leases.lock().unwrap().0.retain(|id| id != lease_id);
//!         Box::pin(async { Ok(true) })
//!     }
//!     fn live_leases<'a>(&'a self, _resource: &'a str) -> BackendFuture<'a, u64> {
//!         let live = self.leases.lock().unwrap().0.len() as u64;
//!         Box::pin(async move { Ok(live) })
//!     }
//!     fn heartbeat<'a>(&'a self, _resource: &'a str, _instance: &'a str, _ttl: Duration) -> BackendFuture<'a, u32> {
//!         Box::pin(async { Ok(1) })
//!     }
//!     fn leave<'a>(&'a self, _resource: &'a str, _instance: &'a str) -> BackendFuture<'a, bool> {
//!         Box::pin(async { Ok(true) })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let gov = bursar::Governor::builder()
//!     .fleet(FleetConfig::new("browsers", 2))
//!     .fleet_backend(Arc::new(InMemory::default()))
//!     .build()?;
//! let token = gov.run(|| async { Ok::<_, std::io::Error>(FencingToken::current()) }).await?;
//! assert_eq!(token, Some(FencingToken::new(1)));
//! assert_eq!(gov.status().fleet.unwrap().acquired, 1);
//! # Ok(()) }
//! ```

mod attempt;
mod backend;
mod breaker;
mod config;
mod engine;
mod error;
mod lease;
mod membership;
mod ports;
#[cfg(feature = "redis")]
mod redis;
mod status;
#[cfg(test)]
mod tests;
mod token;

pub(crate) use attempt::AttemptGuard;
pub use backend::{Acquire, BackendFuture, FleetBackend, LeaseRequest, PortClaim, Renewal};
pub(crate) use breaker::FleetBreakers;
pub use breaker::{
    BreakerKey, BreakerVote, FleetBreakerConfig, FleetBreakerState, FleetBreakerStatus, FleetBreakerView,
    ProbeOutcome,
};
pub use config::{FleetConfig, OnBackendDown};
pub(crate) use engine::Fleet;
pub use error::FleetError;
pub(crate) use membership::Membership;
pub(crate) use ports::{Claimed, PortClaimGuard};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisBackend;
pub use status::{BackendState, FleetStatus, PortPlanStatus};
pub use token::FencingToken;

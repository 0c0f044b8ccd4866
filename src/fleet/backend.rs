//! [`FleetBackend`]: the operations a fleet store answers — four for leases, two for the
//! live instances, three for the fleet-wide breakers, two for the hosts' port plans — each one
//! round trip.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::breaker::{BreakerKey, BreakerVote, FleetBreakerView, ProbeOutcome};
use super::{FencingToken, FleetError};

/// A backend operation's future: boxed, so the governor can hold any backend as
/// `Arc<dyn FleetBackend>` (see [`FleetBackend`]'s design note).
pub type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, FleetError>> + Send + 'a>>;

/// One lease as a backend sees it: which resource, which lease, whose, the cap and the TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseRequest<'a> {
    /// The resource's name (`fleet.resource`).
    pub resource: &'a str,
    /// The lease's id, unique across the fleet (the instance's id and a counter).
    pub lease_id: &'a str,
    /// The instance (governor) that holds it.
    pub instance: &'a str,
    /// At most this many live leases on the resource (`fleet.cap`).
    pub cap: u32,
    /// The lease lives this long after it is granted or renewed, by the backend's clock.
    pub ttl: Duration,
}

impl<'a> LeaseRequest<'a> {
    /// A request for `lease_id` of `instance` on `resource`, with its cap and TTL.
    pub fn new(resource: &'a str, lease_id: &'a str, instance: &'a str, cap: u32, ttl: Duration) -> Self {
        LeaseRequest { resource, lease_id, instance, cap, ttl }
    }
}

/// What an acquire found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Acquire {
    /// The lease is granted with this fencing token.
    Granted {
        /// Larger than every token granted on the resource before.
        token: FencingToken,
        /// The live instances, as their [`heartbeat`](FleetBackend::heartbeat)s keep them.
        live_instances: u32,
    },
    /// `cap` live leases are held; the earliest of them expires in `retry_in` unless renewed.
    Full {
        /// The time until the earliest lease's expiry: a hint for the next try.
        retry_in: Duration,
        /// The live instances, as their [`heartbeat`](FleetBackend::heartbeat)s keep them.
        live_instances: u32,
    },
}

/// What a renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Renewal {
    /// The lease lives one more TTL from now, by the backend's clock.
    Renewed {
        /// The live instances, as their [`heartbeat`](FleetBackend::heartbeat)s keep them.
        live_instances: u32,
    },
    /// The lease was gone (expired, or the backend lost it): the holder must stop.
    Lost,
}

/// One claim of a port in a host's port plan: the first of `candidates` that no other live
/// instance holds becomes `claim_id`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PortClaim<'a> {
    /// The resource's name (`fleet.resource`): processes share a plan when they share it.
    pub resource: &'a str,
    /// The host whose ports these are (`fleet.host`).
    pub host: &'a str,
    /// The instance (governor) that claims.
    pub instance: &'a str,
    /// This claim's id, unique across the fleet: `"<instance>:<n>"`, as a lease id. A release
    /// names it, so a late release cannot free a later claim of the same port.
    pub claim_id: &'a str,
    /// How long the claim keeps `instance` among the live instances, as a heartbeat would:
    /// claiming proves the instance alive before its first heartbeat has landed.
    pub instance_ttl: Duration,
    /// The ports to try, in order: those this process would lease next.
    pub candidates: &'a [u16],
}

impl<'a> PortClaim<'a> {
    /// A claim of `claim_id` by `instance` of the first free of `candidates` on `host`, the
    /// instance kept live 10 s (set `instance_ttl` for another time).
    pub fn new(
        resource: &'a str,
        host: &'a str,
        instance: &'a str,
        claim_id: &'a str,
        candidates: &'a [u16],
    ) -> Self {
        PortClaim { resource, host, instance, claim_id, instance_ttl: Duration::from_secs(10), candidates }
    }
}

/// A store of fleet leases: every process of the service asks the same one.
///
/// Each operation is one round trip and atomic on the backend, and every instant is the
/// backend's own clock, never a client's: two processes whose clocks disagree still agree on
/// which leases are live.
///
/// # Design: object-safe, boxed futures
///
/// The governor is not generic over its backend (a `Governor` is one type whatever it
/// governs), so it holds one as `Arc<dyn FleetBackend>`; each method returns a boxed future
/// ([`BackendFuture`]) to be object-safe. The box costs one allocation per operation, next to a
/// network round trip of a hundred microseconds or more, and nothing on calls without a fleet
/// resource.
///
/// # Implementing
///
/// Methods take `&self` and may be called from many tasks at once. The backend's operations
/// need no time limit of their own: the governor cuts each off at `fleet.backend_timeout`.
/// The lease operations are required; the three breaker operations have default bodies that
/// answer [`FleetError::Unsupported`], so a backend without them keeps `fleet.breaker`'s
/// breakers local (each failed operation a `tracing` event).
/// See `RedisBackend` (feature `redis`) for one on Redis.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use bursar::fleet::{Acquire, BackendFuture, FencingToken, FleetBackend, LeaseRequest, Renewal};
///
/// /// A backend that grants everything: enough for a test, no limit at all.
/// #[derive(Debug, Default)]
/// struct Unlimited(std::sync::atomic::AtomicU64);
///
/// impl FleetBackend for Unlimited {
///     fn acquire<'a>(&'a self, _lease: LeaseRequest<'a>) -> BackendFuture<'a, Acquire> {
///         let token = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
///         Box::pin(async move {
///             Ok(Acquire::Granted { token: FencingToken::new(token), live_instances: 1 })
///         })
///     }
///     fn renew<'a>(&'a self, _lease: LeaseRequest<'a>) -> BackendFuture<'a, Renewal> {
///         Box::pin(async { Ok(Renewal::Renewed { live_instances: 1 }) })
///     }
///     fn release<'a>(&'a self, _resource: &'a str, _lease_id: &'a str) -> BackendFuture<'a, bool> {
///         Box::pin(async { Ok(true) })
///     }
///     fn live_leases<'a>(&'a self, _resource: &'a str) -> BackendFuture<'a, u64> {
///         Box::pin(async { Ok(0) })
///     }
///     fn heartbeat<'a>(&'a self, _resource: &'a str, _instance: &'a str, _ttl: Duration) -> BackendFuture<'a, u32> {
///         Box::pin(async { Ok(1) })
///     }
///     fn leave<'a>(&'a self, _resource: &'a str, _instance: &'a str) -> BackendFuture<'a, bool> {
///         Box::pin(async { Ok(true) })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let backend = Unlimited::default();
/// let lease = LeaseRequest::new("browsers", "a:1", "a", 40, Duration::from_secs(10));
/// let granted = backend.acquire(lease).await.unwrap();
/// assert_eq!(granted, Acquire::Granted { token: FencingToken::new(1), live_instances: 1 });
/// # }
/// ```
pub trait FleetBackend: fmt::Debug + Send + Sync + 'static {
    /// Removes the resource's expired leases, then grants `lease` if fewer than `lease.cap`
    /// are live, with a fencing token larger than any before.
    ///
    /// # Errors
    ///
    /// [`FleetError`] if the backend could not be asked or answered wrongly; nothing was granted
    /// that the caller knows of (a grant whose answer was lost expires at its TTL).
    fn acquire<'a>(&'a self, lease: LeaseRequest<'a>) -> BackendFuture<'a, Acquire>;

    /// Extends `lease` by its TTL from now if it is still live; [`Renewal::Lost`] otherwise.
    ///
    /// # Errors
    ///
    /// [`FleetError`] if the backend could not be asked or answered wrongly.
    fn renew<'a>(&'a self, lease: LeaseRequest<'a>) -> BackendFuture<'a, Renewal>;

    /// Removes the lease; `true` if it was still there. Releasing twice is harmless.
    ///
    /// # Errors
    ///
    /// [`FleetError`] if the backend could not be asked or answered wrongly (the lease then
    /// expires at its TTL).
    fn release<'a>(&'a self, resource: &'a str, lease_id: &'a str) -> BackendFuture<'a, bool>;

    /// The resource's live (unexpired) leases, fleet-wide.
    ///
    /// # Errors
    ///
    /// [`FleetError`] if the backend could not be asked or answered wrongly.
    fn live_leases<'a>(&'a self, resource: &'a str) -> BackendFuture<'a, u64>;

    /// Keeps `instance` among the resource's live instances for `ttl` from now, by the
    /// backend's clock, after removing the instances whose time ran out; returns how many are
    /// live, this one included. The governor calls it every third of `fleet.lease_ttl` while it
    /// runs, whether or not it holds leases, with a `ttl` of two thirds of the lease TTL (one
    /// heartbeat may be late), so that `local_share` divides the cap among the instances that
    /// are alive.
    ///
    /// # Errors
    ///
    /// [`FleetError`] if the backend could not be asked or answered wrongly.
    fn heartbeat<'a>(&'a self, resource: &'a str, instance: &'a str, ttl: Duration)
    -> BackendFuture<'a, u32>;

    /// Removes `instance` from the resource's live instances (the governor stopped); `true` if it
    /// was there. Leaving twice is harmless.
    ///
    /// # Errors
    ///
    /// [`FleetError`] if the backend could not be asked or answered wrongly (the instance then
    /// stops counting when its last heartbeat runs out).
    fn leave<'a>(&'a self, resource: &'a str, instance: &'a str) -> BackendFuture<'a, bool>;

    /// Records `vote` (one live vote per instance, expiring after `vote.window`), then opens
    /// the breaker for `vote.open_for` with a new epoch if it was closed and `vote.quorum`
    /// votes are live. Answers the breaker as it is after.
    ///
    /// # Errors
    ///
    /// [`FleetError`] if the backend could not be asked or answered wrongly;
    /// [`FleetError::Unsupported`] unless implemented (the fleet's breakers then stay local).
    fn breaker_vote<'a>(&'a self, vote: BreakerVote<'a>) -> BackendFuture<'a, FleetBreakerView> {
        let _ = vote;
        Box::pin(async { Err(FleetError::Unsupported { operation: "breaker_vote" }) })
    }

    /// Reads the breaker; if it is open, its open time is over and nobody holds a live probe
    /// lease, grants one to `breaker.instance` for `probe_ttl` with a new epoch (`SET NX`).
    ///
    /// # Errors
    ///
    /// As [`breaker_vote`](Self::breaker_vote).
    fn breaker_sync<'a>(
        &'a self,
        breaker: BreakerKey<'a>,
        probe_ttl: Duration,
    ) -> BackendFuture<'a, FleetBreakerView> {
        let _ = (breaker, probe_ttl);
        Box::pin(async { Err(FleetError::Unsupported { operation: "breaker_sync" }) })
    }

    /// Ends the probe of `outcome.epoch`: if that is still the breaker's epoch, a success
    /// closes it and clears its votes, a failure opens it again for `outcome.open_for` with a
    /// new epoch; the probe lease is freed either way. An outcome of another epoch changes
    /// nothing.
    ///
    /// # Errors
    ///
    /// As [`breaker_vote`](Self::breaker_vote).
    fn breaker_probe_ended<'a>(&'a self, outcome: ProbeOutcome<'a>) -> BackendFuture<'a, FleetBreakerView> {
        let _ = outcome;
        Box::pin(async { Err(FleetError::Unsupported { operation: "breaker_probe_ended" }) })
    }

    /// Claims the first of `claim.candidates` that no other live instance holds on
    /// `claim.host` — free, held by `claim.instance` itself (whose local allocator has it back),
    /// or held by an instance no longer live — for `claim.claim_id`, and keeps `claim.instance`
    /// live for `claim.instance_ttl`. Answers the claimed candidate's index: every candidate
    /// before it is held by another live instance. `None` if all of them are.
    ///
    /// A port stays claimed until released or until its instance stops being live (it left, or
    /// its heartbeats stopped): a process that dies gives its ports back when its instance
    /// expires.
    ///
    /// # Errors
    ///
    /// As [`breaker_vote`](Self::breaker_vote); [`FleetError::Unsupported`] unless implemented
    /// (ports are then leased by each process alone).
    fn claim_port<'a>(&'a self, claim: PortClaim<'a>) -> BackendFuture<'a, Option<usize>> {
        let _ = claim;
        Box::pin(async { Err(FleetError::Unsupported { operation: "claim_port" }) })
    }

    /// Releases those of `ports` on `host` that `claim_id` still holds; answers how many it did.
    /// A port claimed since by another claim (of any instance) is left alone.
    ///
    /// # Errors
    ///
    /// As [`claim_port`](Self::claim_port).
    fn release_ports<'a>(
        &'a self,
        resource: &'a str,
        host: &'a str,
        claim_id: &'a str,
        ports: &'a [u16],
    ) -> BackendFuture<'a, u32> {
        let _ = (resource, host, claim_id, ports);
        Box::pin(async { Err(FleetError::Unsupported { operation: "release_ports" }) })
    }
}

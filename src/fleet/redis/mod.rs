//! [`RedisBackend`]: the fleet's leases in Redis, each operation one Lua script.

mod breaker_scripts;
mod scripts;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};

use super::backend::BackendFuture;
use super::{
    Acquire, BreakerKey, BreakerVote, FencingToken, FleetBackend, FleetBreakerView, FleetError, LeaseRequest,
    PortClaim, ProbeOutcome, Renewal,
};

/// A [`FleetBackend`] on Redis (or Valkey) 7 or later, through redis-rs's reconnecting
/// `ConnectionManager`.
///
/// Each operation is one Lua script — one round trip, atomic on the server — timed by the
/// server's `TIME`, never a client's clock. A resource's leases are a sorted set of lease ids
/// scored by expiry; expired ones are removed before every acquire, so a process that dies
/// loses its leases one TTL after its last renewal. Its live instances are another, kept by
/// each governor's heartbeat and left when the governor stops. Fencing tokens come from an `INCR`
/// counter raised to the server's time in milliseconds × 1024 whenever it is below, so they
/// only grow, also across a restart that lost the data (as long as the server's clock does
/// not go back).
///
/// Fleet-wide breakers live beside the leases under the same hash tag: a sorted set of votes
/// scored by expiry, a hash of the open time's end and the epoch (raised to the server's time
/// like the fence), and the probe lease, `SET NX PX`. A restart that loses the data closes
/// every fleet-wide breaker; each instance's own breaker keeps what it saw.
///
/// Every key but the fence expires, so what a resource, a host (a port plan) or a breaker key
/// leaves behind leaves the server on its own: the leases with the latest lease, the live
/// instances with the latest heartbeat, a host's port plan a day after the latest heartbeat of
/// an instance of this process that claimed on it (so that claims held through an outage count
/// again when their instance is back), a breaker's votes with their window and its state an
/// hour after its last change past its open time or probe lease. Nothing needs a cleanup job
/// or a `maxmemory` eviction policy.
///
/// What it does not promise: Redis replication is asynchronous, so a failover to a replica
/// that had not yet received a grant can lose it and admit one lease too many until it
/// expires. Resources that must never be used twice check [`FencingToken`]s.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use bursar::fleet::{FleetConfig, RedisBackend};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let redis = RedisBackend::open("redis://127.0.0.1:6379")?;
/// let gov = bursar::Governor::builder()
///     .fleet(FleetConfig::new("browsers", 40))
///     .fleet_backend(Arc::new(redis))
///     .build()?;
/// let token = gov
///     .run(|| async { Ok::<_, std::io::Error>(bursar::fleet::FencingToken::current()) })
///     .await?;
/// assert!(token.is_some(), "the operation ran under a fleet lease");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBackend {
    connection: ConnectionManager,
    acquire: Script,
    renew: Script,
    release: Script,
    count: Script,
    vote: Script,
    sync: Script,
    probe_ended: Script,
    heartbeat: Script,
    leave: Script,
    claim_port: Script,
    release_ports: Script,
    /// The keys of the port plans this backend has claimed on, for as long as the process runs
    /// (a process claims on its own host's plans): each heartbeat of a plan's resource through
    /// this backend keeps it.
    plans: Arc<Mutex<BTreeSet<String>>>,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend").finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// A backend on the Redis at `url` (`redis://host:port/db`), connected lazily: the first
    /// operation connects, and a lost connection is made again in the background.
    ///
    /// # Errors
    ///
    /// [`FleetError::Unexpected`] if `url` is not a Redis URL.
    ///
    /// # Panics
    ///
    /// If called outside a Tokio runtime.
    pub fn open(url: &str) -> Result<Self, FleetError> {
        let client = redis::Client::open(url).map_err(unexpected)?;
        // Reconnects are quick and few: the governor gives each operation up at
        // `fleet.backend_timeout` and decides what a call does meanwhile.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let connection = ConnectionManager::new_lazy_with_config(client, config).map_err(unexpected)?;
        Ok(RedisBackend {
            connection,
            acquire: Script::new(&scripts::acquire()),
            renew: Script::new(&scripts::renew()),
            release: Script::new(&scripts::release()),
            count: Script::new(&scripts::count()),
            vote: Script::new(&breaker_scripts::vote()),
            sync: Script::new(&breaker_scripts::sync()),
            probe_ended: Script::new(&breaker_scripts::probe_ended()),
            heartbeat: Script::new(&scripts::heartbeat()),
            leave: Script::new(&scripts::leave()),
            claim_port: Script::new(&scripts::claim_port()),
            release_ports: Script::new(scripts::RELEASE_PORTS),
            plans: Arc::default(),
        })
    }
}

/// The keys of `resource`: its leases, its instances, its fence.
fn keys(resource: &str) -> [String; 3] {
    ["leases", "instances", "fence"].map(|key| format!("bursar:{{{resource}}}:{key}"))
}

/// The port plan of `host` among `resource`'s instances.
fn plan_key(resource: &str, host: &str) -> String {
    format!("bursar:{{{resource}}}:ports:{host}")
}

/// The keys of one fleet-wide breaker: its votes, its state, its probe lease.
fn breaker_keys(breaker: BreakerKey<'_>) -> [String; 3] {
    let (resource, key) = (breaker.resource, breaker.key);
    ["votes", "state", "probe"].map(|part| format!("bursar:{{{resource}}}:breaker:{key}:{part}"))
}

/// Runs a breaker script on `breaker`'s keys with the instance and `args`, and reads its view.
async fn breaker_view(
    script: &Script,
    mut connection: ConnectionManager,
    breaker: BreakerKey<'_>,
    args: &[u64],
) -> Result<FleetBreakerView, FleetError> {
    let [votes, state, probe] = breaker_keys(breaker);
    let mut call = script.key(votes);
    call.key(state).key(probe).arg(breaker.instance);
    for arg in args {
        call.arg(*arg);
    }
    let (votes, open, epoch, open_for, mine): (u32, u8, i64, i64, u8) =
        call.invoke_async(&mut connection).await.map_err(failed)?;
    let epoch = non_negative(epoch);
    Ok(match open {
        0 => FleetBreakerView::closed(votes, epoch),
        _ => FleetBreakerView::open(votes, epoch, Duration::from_millis(non_negative(open_for)), mine == 1),
    })
}

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}

impl FleetBackend for RedisBackend {
    fn acquire<'a>(&'a self, lease: LeaseRequest<'a>) -> BackendFuture<'a, Acquire> {
        let mut connection = self.connection.clone();
        Box::pin(async move {
            let [leases, instances, fence] = keys(lease.resource);
            let mut call = self.acquire.key(leases);
            call.key(instances).key(fence);
            call.arg(lease.lease_id).arg(ttl_ms(lease.ttl)).arg(lease.cap);
            let (granted, value, live): (u8, i64, u32) =
                call.invoke_async(&mut connection).await.map_err(failed)?;
            Ok(match granted {
                1 => Acquire::Granted { token: FencingToken::new(non_negative(value)), live_instances: live },
                _ => Acquire::Full {
                    retry_in: Duration::from_millis(non_negative(value)),
                    live_instances: live,
                },
            })
        })
    }

    fn renew<'a>(&'a self, lease: LeaseRequest<'a>) -> BackendFuture<'a, Renewal> {
        let mut connection = self.connection.clone();
        Box::pin(async move {
            let [leases, instances, _] = keys(lease.resource);
            let mut call = self.renew.key(leases);
            call.key(instances).arg(lease.lease_id).arg(ttl_ms(lease.ttl));
            let (renewed, live): (u8, u32) = call.invoke_async(&mut connection).await.map_err(failed)?;
            Ok(match renewed {
                1 => Renewal::Renewed { live_instances: live },
                _ => Renewal::Lost,
            })
        })
    }

    fn release<'a>(&'a self, resource: &'a str, lease_id: &'a str) -> BackendFuture<'a, bool> {
        let mut connection = self.connection.clone();
        Box::pin(async move {
            let [leases, ..] = keys(resource);
            let removed: u8 =
                self.release.key(leases).arg(lease_id).invoke_async(&mut connection).await.map_err(failed)?;
            Ok(removed == 1)
        })
    }

    fn live_leases<'a>(&'a self, resource: &'a str) -> BackendFuture<'a, u64> {
        let mut connection = self.connection.clone();
        Box::pin(async move {
            let [leases, ..] = keys(resource);
            self.count.key(leases).invoke_async(&mut connection).await.map_err(failed)
        })
    }

    fn breaker_vote<'a>(&'a self, vote: BreakerVote<'a>) -> BackendFuture<'a, FleetBreakerView> {
        let args = [ttl_ms(vote.window), u64::from(vote.quorum), ttl_ms(vote.open_for)];
        Box::pin(async move { breaker_view(&self.vote, self.connection.clone(), vote.breaker, &args).await })
    }

    fn breaker_sync<'a>(
        &'a self,
        breaker: BreakerKey<'a>,
        probe_ttl: Duration,
    ) -> BackendFuture<'a, FleetBreakerView> {
        let args = [ttl_ms(probe_ttl)];
        Box::pin(async move { breaker_view(&self.sync, self.connection.clone(), breaker, &args).await })
    }

    fn breaker_probe_ended<'a>(&'a self, outcome: ProbeOutcome<'a>) -> BackendFuture<'a, FleetBreakerView> {
        let args = [outcome.epoch, u64::from(outcome.succeeded), ttl_ms(outcome.open_for)];
        let connection = self.connection.clone();
        Box::pin(async move { breaker_view(&self.probe_ended, connection, outcome.breaker, &args).await })
    }

    fn heartbeat<'a>(
        &'a self,
        resource: &'a str,
        instance: &'a str,
        ttl: Duration,
    ) -> BackendFuture<'a, u32> {
        let mut connection = self.connection.clone();
        Box::pin(async move {
            let [_, instances, _] = keys(resource);
            let mut call = self.heartbeat.key(instances);
            let of_resource = plan_key(resource, "");
            for plan in self.plans.lock().iter().filter(|plan| plan.starts_with(&of_resource)) {
                call.key(plan);
            }
            call.arg(instance).arg(ttl_ms(ttl));
            call.invoke_async(&mut connection).await.map_err(failed)
        })
    }

    fn claim_port<'a>(&'a self, claim: PortClaim<'a>) -> BackendFuture<'a, Option<usize>> {
        Box::pin(self.claim(claim))
    }

    fn release_ports<'a>(
        &'a self,
        resource: &'a str,
        host: &'a str,
        claim_id: &'a str,
        ports: &'a [u16],
    ) -> BackendFuture<'a, u32> {
        let mut connection = self.connection.clone();
        Box::pin(async move {
            let mut call = self.release_ports.key(plan_key(resource, host));
            call.arg(claim_id);
            for port in ports {
                call.arg(*port);
            }
            call.invoke_async(&mut connection).await.map_err(failed)
        })
    }

    fn leave<'a>(&'a self, resource: &'a str, instance: &'a str) -> BackendFuture<'a, bool> {
        let mut connection = self.connection.clone();
        Box::pin(async move {
            let [_, instances, _] = keys(resource);
            let removed: u8 = self
                .leave
                .key(instances)
                .arg(instance)
                .invoke_async(&mut connection)
                .await
                .map_err(failed)?;
            Ok(removed == 1)
        })
    }
}

impl RedisBackend {
    async fn claim(&self, claim: PortClaim<'_>) -> Result<Option<usize>, FleetError> {
        let [_, instances, _] = keys(claim.resource);
        let plan = plan_key(claim.resource, claim.host);
        {
            let mut plans = self.plans.lock();
            if !plans.contains(&plan) {
                plans.insert(plan.clone());
            }
        }
        let mut call = self.claim_port.key(instances);
        call.key(plan);
        call.arg(claim.instance).arg(claim.claim_id).arg(ttl_ms(claim.instance_ttl));
        for port in claim.candidates {
            call.arg(*port);
        }
        let index: i64 = call.invoke_async(&mut self.connection.clone()).await.map_err(failed)?;
        Ok(usize::try_from(index).ok().filter(|index| *index < claim.candidates.len()))
    }
}

fn non_negative(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn unexpected(error: RedisError) -> FleetError {
    FleetError::Unexpected { reason: error.to_string() }
}

/// A client error: the connection's (unreachable, timed out) or the answer's.
fn failed(error: RedisError) -> FleetError {
    if error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
    {
        FleetError::Unreachable { reason: error.to_string() }
    } else {
        unexpected(error)
    }
}

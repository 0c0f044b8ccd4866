//! Pools started by a governor: ports from its allocator, status, health, emergency
//! recovery, shutdown — and a manager that sees exactly one destroy per create.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bursar::health::{HealthConfig, HealthLevel, Readings, Sampler};
use bursar::pool::{Lease, Manager, PoolError};
use bursar::ports::{PortLease, PortRange, PortsConfig};
use bursar::{BuildError, Governor, GovernorBuilder};

/// A browser session manager that counts what it is asked to do.
#[derive(Debug, Default, Clone)]
struct Browsers {
    created: Arc<AtomicUsize>,
    destroyed: Arc<AtomicUsize>,
    /// Every `destroy` hangs, like a browser that never quits.
    hang_on_destroy: bool,
}

#[derive(Debug)]
struct Session {
    vnc: u16,
    ws: u16,
    user: String,
}

impl Manager for Browsers {
    type Key = String;
    type Connection = Session;
    type Error = std::io::Error;

    async fn create(&self, user: &String, ports: &[PortLease]) -> Result<Session, Self::Error> {
        assert_ne!(user, "crash-on-create", "the browser crashed while starting");
        self.created.fetch_add(1, Ordering::SeqCst);
        Ok(Session { vnc: ports[0].port(), ws: ports[1].port(), user: user.clone() })
    }

    async fn check(&self, session: &mut Session) -> Result<(), Self::Error> {
        assert_ne!(session.user, "crash-on-check", "the driver crashed while checked");
        Ok(())
    }

    async fn destroy(&self, session: Session) {
        assert_ne!(session.user, "crash-on-destroy", "the browser crashed while quitting");
        if self.hang_on_destroy {
            std::future::pending::<()>().await;
        }
        self.destroyed.fetch_add(1, Ordering::SeqCst);
    }
}

fn small_ports() -> PortsConfig {
    let mut ports = PortsConfig::default();
    ports.ranges = vec![PortRange::new("vnc", 47900..=47909), PortRange::new("ws", 48900..=48909)];
    ports.host_check = false;
    ports
}

fn governed(builder: GovernorBuilder) -> (Governor, Browsers, bursar::pool::Pool<Browsers>) {
    governed_with(builder, Browsers::default())
}

fn governed_with(
    builder: GovernorBuilder,
    manager: Browsers,
) -> (Governor, Browsers, bursar::pool::Pool<Browsers>) {
    let gov = builder.ports(small_ports()).build().unwrap();
    let mut config = gov.pool_config();
    config.ports = vec!["vnc".into(), "ws".into()];
    config.max_total = 5;
    let pool = gov.pool("browsers", manager.clone()).config(config).build().unwrap();
    (gov, manager, pool)
}

#[tokio::test(start_paused = true)]
async fn sessions_get_ports_from_the_governor_and_show_in_its_status() {
    let (gov, _, pool) = governed(support::builder());
    let alice = pool.get("alice".to_owned()).await.unwrap();
    let bob = pool.get("bob".to_owned()).await.unwrap();
    assert_eq!((alice.vnc, alice.ws, bob.vnc, bob.ws), (47900, 48900, 47901, 48901));
    drop(bob);
    let status = gov.status();
    assert_eq!(status.ports["vnc"].leased, 2, "an idle session keeps its ports");
    assert_eq!(status.pool.total_sessions, 2);
    assert_eq!(status.pool.total_active_connections, 1);
    assert_eq!(status.pool.idle, 1);
    assert_eq!(status.pool.available_capacity, 4, "idle connections are available");
    assert_eq!(status.pools["browsers"].created, 2);
    drop(alice);
}

#[tokio::test(start_paused = true)]
async fn a_destroy_that_never_returns_cannot_hold_shutdown_past_its_grace() {
    let manager = Browsers { hang_on_destroy: true, ..Browsers::default() };
    let (gov, _, pool) = governed_with(support::builder(), manager);
    for user in ["alice", "bob"] {
        drop(pool.get(user.to_owned()).await.unwrap());
    }
    let report = gov.shutdown(Duration::from_secs(3)).await;
    assert_eq!((report.pool_connections_destroyed, report.pool_destroys_unfinished), (2, 2));
    assert_eq!(report.elapsed, Duration::from_secs(3), "the grace period, not forever");
    // The hung sessions keep their ports: nothing is freed before its destroy returns.
    assert_eq!(gov.status().ports["vnc"].leased, 2);
}

#[tokio::test(start_paused = true)]
async fn shutdown_closes_the_pools_and_frees_every_port() {
    let (gov, manager, pool) = governed(support::builder());
    let kept = pool.get("alice".to_owned()).await.unwrap();
    for user in ["bob", "carol"] {
        drop(pool.get(user.to_owned()).await.unwrap());
    }
    let report = gov.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        (report.pools_closed, report.pool_connections_destroyed, report.pool_connections_still_leased),
        (1, 2, 1)
    );
    assert!(matches!(pool.get("dave".to_owned()).await, Err(PoolError::Closed)));
    drop(kept);
    tokio::time::sleep(Duration::from_secs(10)).await; // the ports' quarantine
    assert_eq!(manager.created.load(Ordering::SeqCst), manager.destroyed.load(Ordering::SeqCst));
    assert_eq!(manager.destroyed.load(Ordering::SeqCst), 3);
    let ports = gov.status().ports;
    assert_eq!((ports["vnc"].leased, ports["vnc"].free, ports["ws"].free), (0, 10, 10));
}

#[tokio::test(start_paused = true)]
async fn panics_in_a_governed_pools_manager_show_in_the_governors_status() {
    let (gov, manager, pool) = governed(support::builder());
    let crashed = pool.get("crash-on-create".to_owned()).await.unwrap_err();
    assert!(matches!(crashed, PoolError::ManagerPanicked { .. }), "got {crashed:?}");
    drop(pool.get("crash-on-check".to_owned()).await.unwrap());
    let replaced = pool.get("crash-on-check".to_owned()).await.unwrap();
    Lease::discard(pool.get("crash-on-destroy".to_owned()).await.unwrap());
    tokio::task::yield_now().await;

    let status = gov.status();
    let by_callback = [("manager_check", 1), ("manager_create", 1), ("manager_destroy", 1)]
        .map(|(name, count)| (name.to_owned(), count));
    assert_eq!((status.callbacks.panicked, status.callbacks.panics), (3, by_callback.into()));
    let stats = &status.pools["browsers"];
    assert_eq!((stats.callback_panics, stats.check_failed, stats.discarded), (3, 1, 1));
    assert_eq!((stats.connections, stats.active, stats.idle), (1, 1, 0));
    assert_eq!((manager.created.load(Ordering::SeqCst), manager.destroyed.load(Ordering::SeqCst)), (3, 1));
    assert_eq!((status.ports["vnc"].leased, status.ports["ws"].leased), (1, 1), "only the live session's");
    drop(replaced);
}

#[tokio::test(start_paused = true)]
async fn a_second_live_pool_with_the_same_name_is_refused_naming_it() {
    let (gov, manager, first) = governed(support::builder());
    let error = gov.pool("browsers", manager.clone()).build().unwrap_err();
    let rule = "must differ from the name of every live pool of the governor";
    assert_eq!(error, BuildError::Invalid { field: "name", rule, value: r#""browsers""#.to_owned() });
    assert_eq!(error.field(), Some("name"));
    let config = first.config().clone();
    let other = gov.pool("drivers", manager.clone()).config(config.clone()).build().unwrap();
    assert_eq!(gov.status().pools.keys().collect::<Vec<_>>(), ["browsers", "drivers"]);

    // A closed pool gives its name up, and leaves the status for the pool that takes it.
    drop(first.get("alice".to_owned()).await.unwrap());
    first.close().await;
    let second = gov.pool("browsers", manager.clone()).config(config.clone()).build().unwrap();
    drop(second.get("bob".to_owned()).await.unwrap());
    let status = gov.status();
    assert_eq!(status.pools.keys().collect::<Vec<_>>(), ["browsers", "drivers"]);
    assert_eq!((status.pools["browsers"].created, status.pool.idle), (1, 1), "the new pool's");

    // So does a dropped one.
    drop(other);
    let again = gov.pool("drivers", manager).config(config).build().unwrap();
    assert_eq!(gov.status().pools.len(), 2);
    drop((second, again));
}

#[tokio::test(start_paused = true)]
async fn no_pool_starts_once_shutdown_has_begun() {
    let (gov, manager, _pool) = governed(support::builder());
    gov.shutdown(Duration::from_secs(1)).await;
    let error = gov.pool("late", manager).build().unwrap_err();
    assert_eq!(error, BuildError::ShutDown);
    assert_eq!(error.to_string(), "the governor is shut down and starts no more pools");
    let status = gov.status();
    assert_eq!((status.pools.len(), status.ports["vnc"].leased), (1, 0), "only the first, closed");
}

/// Readings a test sets.
#[derive(Clone, Default)]
struct Script(Arc<std::sync::Mutex<f64>>);

impl Sampler for Script {
    async fn sample(&mut self) -> Readings {
        Readings::new(*self.0.lock().unwrap(), 10.0, 4)
    }
}

fn monitored(cpu: &Script) -> GovernorBuilder {
    let mut health = HealthConfig::default();
    health.interval = Duration::from_secs(10);
    Governor::builder().health(health).sampler(cpu.clone())
}

#[tokio::test(start_paused = true)]
async fn a_busy_pool_degrades_health() {
    let cpu = Script::default();
    let (gov, _, pool) = governed(monitored(&cpu));
    let mut held = Vec::new();
    for user in ["a", "b", "c", "d"] {
        held.push(pool.get(user.to_owned()).await.unwrap());
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(gov.health_level(), HealthLevel::Degraded, "4 of 5 connections: 80 %");
    let check =
        gov.status().health.checks.into_iter().find(|check| check.name == "connection pools").unwrap();
    assert_eq!(check.check.message, "pool `browsers`: 4 of 5 connections in use");
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn entering_critical_closes_idle_pooled_connections_first() {
    let cpu = Script::default();
    let (gov, manager, pool) = governed(monitored(&cpu));
    let kept = pool.get("alice".to_owned()).await.unwrap();
    for user in ["bob", "carol"] {
        drop(pool.get(user.to_owned()).await.unwrap());
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(gov.health_level(), HealthLevel::Healthy);
    *cpu.0.lock().unwrap() = 99.0;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(gov.health_level(), HealthLevel::Critical);
    assert_eq!(manager.destroyed.load(Ordering::SeqCst), 2, "the two idle sessions, not the leased one");
    let status = gov.status();
    assert_eq!((status.pool.idle, status.pool.total_active_connections), (0, 1));
    assert_eq!((status.pools["browsers"].reaped, status.health.emergency_recoveries), (2, 1));
    assert_eq!(Lease::key(&kept), "alice");
}

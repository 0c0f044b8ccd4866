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

/// A destroy that never returns is given up at `destroy_timeout`: counted as hung, and its
/// connection's ports and place are freed, so a `get` waiting for that place is served and
/// `close` returns, instead of the pool shrinking for good and `close` waiting for ever.
#[tokio::test(start_paused = true)]
async fn a_destroy_that_never_returns_is_given_up_at_the_destroy_timeout() {
    let manager = Browsers { hang_on_destroy: true, ..Browsers::default() };
    let gov = support::builder().ports(small_ports()).build().unwrap();
    let mut config = gov.pool_config().max_total(2).destroy_timeout(Duration::from_secs(20));
    config.ports = vec!["vnc".into(), "ws".into()];
    let pool = gov.pool("browsers", manager.clone()).config(config).build().unwrap();
    for user in ["alice", "bob"] {
        drop(pool.get(user.to_owned()).await.unwrap());
    }
    let started = tokio::time::Instant::now();
    let carol = pool.get("carol".to_owned()).await.expect("alice's place, once her destroy is given up");
    assert_eq!(started.elapsed(), Duration::from_secs(20));
    let hung = || gov.status().callbacks.hangs.get("manager_destroy").copied();
    assert_eq!((hung(), pool.status().evicted, gov.status().ports["vnc"].leased), (Some(1), 1, 2));
    drop(carol);
    let started = tokio::time::Instant::now();
    pool.close().await;
    assert_eq!(started.elapsed(), Duration::from_secs(20), "both destroys given up");
    assert_eq!(
        (hung(), gov.status().ports["vnc"].leased, manager.destroyed.load(Ordering::SeqCst)),
        (Some(3), 0, 0)
    );
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

/// Warm-ups are shed with new work while health is critical: the emergency recovery's reap is
/// not undone at the reaper's ticks (every 30 s), and the warm key is made ready again at the
/// first tick after health recovers.
#[tokio::test(start_paused = true)]
async fn warm_ups_wait_while_health_is_critical() {
    let cpu = Script::default();
    let gov = monitored(&cpu).ports(small_ports()).build().unwrap();
    let mut config = gov.pool_config();
    config.ports = vec!["vnc".into(), "ws".into()];
    config.min_idle_per_key = 2;
    let manager = Browsers::default();
    let pool = gov.pool("browsers", manager.clone()).config(config).build().unwrap();
    pool.warm("alice".to_owned());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!((pool.status().idle, manager.created.load(Ordering::SeqCst)), (2, 2));
    *cpu.0.lock().unwrap() = 99.0;
    tokio::time::sleep(Duration::from_secs(100)).await;
    assert_eq!(gov.health_level(), HealthLevel::Critical);
    let status = pool.status();
    assert_eq!((status.idle, status.created, status.reaped), (0, 2, 2), "three ticks, no warm-up");
    *cpu.0.lock().unwrap() = 10.0;
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert_eq!(gov.health_level(), HealthLevel::Healthy);
    assert_eq!((pool.status().idle, manager.created.load(Ordering::SeqCst)), (2, 4));
}

/// Sockets that need no ports: records how many leases each got; the key `refused` cannot
/// connect, and a connection of a key starting with `broken` fails every check.
#[derive(Debug, Default, Clone)]
struct Sockets;

impl Manager for Sockets {
    type Key = String;
    type Connection = (String, usize);
    type Error = std::io::Error;

    async fn create(&self, key: &String, ports: &[PortLease]) -> Result<(String, usize), Self::Error> {
        match key.as_str() {
            "refused" => Err(std::io::ErrorKind::ConnectionRefused.into()),
            _ => Ok((key.clone(), ports.len())),
        }
    }

    async fn check(&self, connection: &mut (String, usize)) -> Result<(), Self::Error> {
        match connection.0.starts_with("broken") {
            true => Err(std::io::Error::other("the socket was closed")),
            false => Ok(()),
        }
    }

    async fn destroy(&self, _connection: (String, usize)) {}
}

#[tokio::test(start_paused = true)]
async fn a_governed_pool_leases_no_ports_unless_its_config_names_them() {
    let gov = support::builder().ports(small_ports()).build().unwrap();
    assert!(gov.pool_config().ports.is_empty(), "the default names no range");
    let database = gov.pool("database", Sockets).build().unwrap();
    let connection = database.get("orders".to_owned()).await.unwrap();
    assert_eq!((connection.1, Lease::ports(&connection).len()), (0, 0));
    assert_eq!(gov.status().ports["vnc"].leased, 0);

    let browsers =
        gov.pool("browsers", Sockets).config(gov.pool_config().ports(["vnc", "ws"])).build().unwrap();
    let session = browsers.get("alice".to_owned()).await.unwrap();
    let ports: Vec<u16> = Lease::ports(&session).iter().map(PortLease::port).collect();
    assert_eq!((session.1, ports), (2, vec![47900, 48900]));
    let status = gov.status();
    assert_eq!((status.ports["vnc"].leased, status.ports["ws"].leased), (1, 1));

    // Once for every pool of the governor: its `pool` section.
    let config = bursar::pool::PoolConfig::default().ports(["ws"]);
    let gov = support::builder().ports(small_ports()).pool_config(config).build().unwrap();
    let pool = gov.pool("sockets", Sockets).build().unwrap();
    assert_eq!(pool.get("bob".to_owned()).await.unwrap().1, 1);
}

#[tokio::test(start_paused = true)]
async fn a_managers_error_reads_in_the_pool_errors_message_as_it_displays() {
    let gov = support::builder().build().unwrap();
    let pool = gov.pool("sockets", Sockets).build().unwrap();
    let error = pool.get("refused".to_owned()).await.unwrap_err();
    assert_eq!(error.to_string(), "the manager could not create a connection: connection refused");
    let source = error.into_manager().unwrap();
    assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused, "kept as it is");
}

#[tokio::test(start_paused = true)]
async fn the_summary_pool_status_adds_up_each_pools_reaped_check_failed_timeouts_and_leaks() {
    let gov = support::builder().build().unwrap();
    let config = bursar::pool::PoolConfig::default()
        .max_per_key(1)
        .checkout_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(60))
        .reap_interval(Duration::from_secs(10))
        .leak_threshold(Duration::from_secs(300));
    let first = gov.pool("first", Sockets).config(config.clone()).build().unwrap();
    let second = gov.pool("second", Sockets).config(config).build().unwrap();

    drop(first.get("idle".to_owned()).await.unwrap()); // reaped after 60 s idle
    drop(second.get("broken-1".to_owned()).await.unwrap());
    drop(second.get("broken-1".to_owned()).await.unwrap()); // the check fails: replaced
    let _leaked = (first.get("held".to_owned()).await.unwrap(), second.get("held".to_owned()).await.unwrap());
    let timed_out = second.get("held".to_owned()).await.unwrap_err(); // at its key's cap for 5 s
    assert!(matches!(timed_out, PoolError::Timeout { .. }));
    tokio::time::sleep(Duration::from_secs(300)).await;
    tokio::time::sleep(Duration::from_secs(10)).await; // the reaper's next round

    let status = gov.status();
    let summary = status.pool;
    assert_eq!((summary.reaped, summary.check_failed, summary.timeouts), (2, 1, 1), "{summary:?}");
    assert_eq!((summary.leaks, summary.leaks_reported), (2, 2));
    assert_eq!((status.pools["first"].reaped, status.pools["second"].reaped), (1, 1));
    assert_eq!(status.pools["second"].check_failed, 1);
}

/// A wrapper that keeps its caller's line in the leak report: `#[track_caller]` on a plain
/// `fn` returning `get`'s future.
#[track_caller]
fn checkout<'a>(
    pool: &'a bursar::pool::Pool<Sockets>,
    key: &str,
) -> impl Future<Output = Result<Lease<Sockets>, PoolError<std::io::Error>>> + 'a {
    pool.get(key.to_owned())
}

/// A wrapper that does not: an `async fn` (which cannot be `#[track_caller]` on stable) shows
/// its own line.
async fn checkout_async(
    pool: &bursar::pool::Pool<Sockets>,
    key: &str,
) -> Result<Lease<Sockets>, PoolError<std::io::Error>> {
    let line = line!() + 1;
    let lease = pool.get(key.to_owned()).await;
    ASYNC_WRAPPER_LINE.store(line, Ordering::SeqCst);
    lease
}

static ASYNC_WRAPPER_LINE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[tokio::test(start_paused = true)]
async fn a_track_caller_wrapper_keeps_its_callers_line_in_the_leak_report() {
    let gov = support::builder().build().unwrap();
    let config = bursar::pool::PoolConfig::default().leak_threshold(Duration::from_secs(60));
    let pool = gov.pool("sockets", Sockets).config(config).build().unwrap();
    let (line, _kept) = (line!(), checkout(&pool, "kept").await.unwrap());
    let _wrapped = checkout_async(&pool, "wrapped").await.unwrap();
    tokio::time::sleep(Duration::from_secs(90)).await;

    let mut leaks = pool.status().leaks;
    leaks.sort_by(|a, b| a.key.cmp(&b.key));
    let locations: Vec<(&str, String)> =
        leaks.iter().map(|leak| (leak.key.as_str(), leak.location.clone())).collect();
    let wrapper_line = ASYNC_WRAPPER_LINE.load(Ordering::SeqCst);
    let expected =
        [("\"kept\"", format!("{}:{line}", file!())), ("\"wrapped\"", format!("{}:{wrapper_line}", file!()))];
    assert_eq!(locations, expected);
}

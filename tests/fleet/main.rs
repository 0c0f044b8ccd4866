//! The fleet on a real `redis-server` (`REDIS_URL`, e.g. `redis://127.0.0.1:6390`): the cap
//! held by several processes, leases of `kill -9`ed processes freed at their TTL, live
//! instances across processes, renewal, a lost lease, tokens across a restart (`REDIS_RESTART`,
//! a shell command that restarts the same private server without its data), the server paused
//! and killed in each `on_backend_down` mode (`REDIS_PIDFILE`, its pidfile, and `REDIS_START`,
//! a command that starts it again and returns once it answers), fencing under a holder paused
//! with SIGSTOP, the fleet-wide breaker (8 processes, its scripts, Redis cut off), and the expiry
//! of every key the scripts write. `.ci/run`
//! starts the server; each test is `#[ignore]`d in plain `cargo test`.
//!
//! Processes are this test binary run again, `FLEET_CHILD` naming the role (as
//! `tests/containment.rs` does).
#![cfg(target_os = "linux")]

mod breaker;
mod breaker_down;
mod breaker_scripts;
mod expiry;
mod fencing;
mod instances;
mod outage;
mod ports;
mod processes;
mod server;
mod single;

use std::sync::Arc;
use std::time::Duration;

use bursar::fleet::{FleetBackend, FleetConfig, OnBackendDown, RedisBackend};
use bursar::{Governor, GovernorBuilder};

/// The environment variable that makes this binary a child process, and its role.
const CHILD: &str = "FLEET_CHILD";

pub(crate) fn redis_url() -> String {
    std::env::var("REDIS_URL").expect("REDIS_URL names the test's redis-server, e.g. redis://127.0.0.1:6390")
}

/// A resource name no other run has used: the server is shared by the tests of one run.
pub(crate) fn unique(name: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_nanos();
    format!("{name}-{}-{nanos:x}", std::process::id())
}

pub(crate) fn backend() -> Arc<RedisBackend> {
    Arc::new(RedisBackend::open(&redis_url()).expect("a redis URL"))
}

/// A governor of `max_workers` whose calls take a lease on `fleet` from the test's Redis, and
/// are refused while it is down.
pub(crate) fn governor(fleet: FleetConfig, max_workers: usize) -> Governor {
    governed(fleet.on_backend_down(OnBackendDown::FailClosed), max_workers)
}

/// A governor of `max_workers` whose calls take a lease on `fleet` from the test's Redis, in
/// the fleet's own `on_backend_down` mode.
pub(crate) fn governed(fleet: FleetConfig, max_workers: usize) -> Governor {
    GovernorBuilder::default()
        .health(bursar::health::HealthConfig::disabled())
        .max_workers(max_workers)
        .max_attempts(1)
        .fleet(fleet)
        .fleet_backend(backend() as Arc<dyn FleetBackend>)
        .build()
        .expect("a valid governor")
}

/// Nanoseconds of CLOCK_MONOTONIC: one clock for every process on the machine.
pub(crate) fn monotonic_ns() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    u64::try_from(now.tv_sec).expect("positive") * 1_000_000_000
        + u64::try_from(now.tv_nsec).expect("positive")
}

/// This binary again, as a child process of `role` for the test `test`.
pub(crate) fn child(test: &str, role: &str) -> std::process::Command {
    let mut command = std::process::Command::new(std::env::current_exe().expect("the test binary"));
    command.args(["--exact", test, "--nocapture", "--ignored", "--test-threads=1"]).env(CHILD, role);
    command
}

/// Runs `count` children of `role` for `test` at once, each told its `FLEET_INDEX` and the
/// `settings`; waits for them all to succeed, and returns the lines they printed.
pub(crate) fn run_children(test: &str, role: &str, count: usize, settings: &[(&str, String)]) -> Vec<String> {
    let children: Vec<_> = (0..count)
        .map(|index| {
            let mut command = child(test, role);
            command
                .envs(settings.iter().map(|(name, value)| (name, value)))
                .env("FLEET_INDEX", index.to_string());
            command.stdout(std::process::Stdio::piped()).spawn().expect("a child process")
        })
        .collect();
    let mut lines = Vec::new();
    for child in children {
        let output = child.wait_with_output().expect("the child ends");
        assert!(output.status.success(), "a child failed: {:?}", output.status);
        lines.extend(String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned));
    }
    lines
}

/// The role this process plays, if it is a child.
pub(crate) fn role() -> Option<String> {
    std::env::var(CHILD).ok()
}

/// Reads `name` from the environment, as the parent passed it.
pub(crate) fn setting<T: std::str::FromStr>(name: &str) -> T {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or_else(|| panic!("{name} is set"))
}

pub(crate) fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

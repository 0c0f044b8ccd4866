//! The fleet section's rules, each naming its field, and a fleet needing its backend.

use std::sync::Arc;
use std::time::Duration;

use super::fake::FakeBackend;
use crate::fleet::{FleetBackend, FleetBreakerConfig, FleetConfig};
use crate::{BuildError, Governor};

fn refused(config: FleetConfig) -> (Option<&'static str>, String) {
    let error = config.validate().expect_err("breaks a rule");
    (error.field(), error.to_string())
}

/// Each configuration is refused naming `field`, with a message containing `rule`.
fn each_refused<const N: usize>(cases: [(FleetConfig, &str, &str); N]) {
    for (config, field, rule) in cases {
        let (named, message) = refused(config);
        assert_eq!(named, Some(field));
        assert!(message.contains(rule), "{message}");
    }
}

#[test]
fn each_rule_names_its_field() {
    let cases = [
        (FleetConfig::new("", 4), "fleet.resource", "must be 1 to 128 characters (got \"\")"),
        (
            FleetConfig::new("a{b}", 4),
            "fleet.resource",
            "must not contain `{`, `}` or whitespace (got \"a{b}\")",
        ),
        (FleetConfig::new("x".repeat(129), 4), "fleet.resource", "must be 1 to 128 characters"),
        (FleetConfig::new("browsers", 0), "fleet.cap", "must be at least 1 (got 0)"),
        (
            FleetConfig::new("browsers", 4).host("web 1".to_owned()),
            "fleet.host",
            "must not contain `{`, `}` or whitespace (got \"web 1\")",
        ),
        (FleetConfig::new("browsers", 4).host(String::new()), "fleet.host", "must be 1 to 128 characters"),
        (
            FleetConfig::new("browsers", 4).lease_ttl(Duration::from_millis(299)),
            "fleet.lease_ttl",
            "must be 300 ms to 1 day (got 299ms)",
        ),
        (
            FleetConfig::new("browsers", 4).backend_timeout(Duration::ZERO),
            "fleet.backend_timeout",
            "must be longer than zero (got 0ns)",
        ),
        (
            FleetConfig::new("browsers", 4)
                .lease_ttl(Duration::from_secs(3))
                .backend_timeout(Duration::from_secs(1)),
            "fleet.backend_timeout",
            "must be less than a third of `fleet.lease_ttl` (got 1s)",
        ),
    ];
    each_refused(cases);
    assert_eq!(FleetConfig::new("browsers", 40).validate(), Ok(()));
    assert_eq!(FleetConfig::new("browsers", 40).host("web-1.example".to_owned()).validate(), Ok(()));
}

#[test]
fn the_port_plan_is_this_machine_s_unless_a_host_is_named() {
    let named = FleetConfig::new("browsers", 4).host("web-1".to_owned());
    assert_eq!(named.host_name(), "web-1");
    let machine = FleetConfig::new("browsers", 4).host_name();
    assert!(!machine.is_empty() && !machine.contains(|c: char| c == '{' || c == '}' || c.is_whitespace()));
    #[cfg(target_os = "linux")]
    {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("linux tells its host name");
        assert_eq!(machine, kernel.trim());
    }
}

#[test]
fn each_breaker_rule_names_its_field() {
    let shared = || FleetBreakerConfig::new(["default"]);
    let with = |breaker: FleetBreakerConfig| FleetConfig::new("browsers", 4).breaker(breaker);
    let cases = [
        (
            with(FleetBreakerConfig::new(Vec::<String>::new())),
            "fleet.breaker.keys",
            "must name at least one breaker (got [])",
        ),
        (
            with(FleetBreakerConfig::new([""])),
            "fleet.breaker.keys",
            "must be 1 to 128 characters each (got \"\")",
        ),
        (
            with(FleetBreakerConfig::new(["a", "b", "a"])),
            "fleet.breaker.keys",
            "must not repeat a key (got \"a\")",
        ),
        (with(shared().quorum(0)), "fleet.breaker.quorum", "must be at least 1 (got 0)"),
        (
            with(shared().vote_window(Duration::ZERO)),
            "fleet.breaker.vote_window",
            "must be 1 ms to 1 day (got 0ns)",
        ),
        (
            with(shared().sync_every(Duration::from_millis(250))),
            "fleet.breaker.sync_every",
            "must be longer than `fleet.backend_timeout` and at most `fleet.breaker.vote_window` (got 250ms)",
        ),
        (
            with(shared().vote_window(Duration::from_secs(2)).sync_every(Duration::from_secs(3))),
            "fleet.breaker.sync_every",
            "(got 3s)",
        ),
        (
            with(shared().probe_ttl(Duration::from_millis(999))),
            "fleet.breaker.probe_ttl",
            "must be `fleet.breaker.sync_every` to 1 day (got 999ms)",
        ),
    ];
    each_refused(cases);
    assert_eq!(with(shared()).validate(), Ok(()));
}

#[test]
fn the_governor_config_checks_its_fleet_section() {
    let config = crate::GovernorConfig::default().fleet(FleetConfig::new("browsers", 0));
    assert_eq!(config.validate().expect_err("cap 0").field(), Some("fleet.cap"));
}

#[tokio::test]
async fn a_fleet_needs_a_backend_and_a_backend_a_fleet() {
    let error = Governor::builder().fleet(FleetConfig::new("browsers", 4)).build().expect_err("no backend");
    assert_eq!(
        error,
        BuildError::Invalid {
            field: "fleet",
            rule: "needs a backend: `GovernorBuilder::fleet_backend`",
            value: "\"browsers\"".to_owned()
        }
    );
    let backend: Arc<dyn FleetBackend> = FakeBackend::new();
    let error = Governor::builder().fleet_backend(backend).build().expect_err("no fleet");
    assert_eq!(error.field(), Some("fleet_backend"));
}

#[cfg(feature = "toml")]
#[test]
fn the_fleet_section_reads_from_toml() {
    let config: crate::GovernorConfig = toml::from_str(
        "[fleet]\nresource = \"browsers\"\ncap = 40\nlease_ttl = \"15s\"\non_backend_down = \"fail_closed\"\n",
    )
    .expect("a valid file");
    let fleet = config.fleet.expect("a fleet section");
    assert_eq!(
        (fleet.resource.as_str(), fleet.cap, fleet.lease_ttl),
        ("browsers", 40, Duration::from_secs(15))
    );
    assert_eq!(fleet.on_backend_down, crate::fleet::OnBackendDown::FailClosed);
    assert_eq!(fleet.backend_timeout, Duration::from_millis(250));
    assert_eq!((fleet.share_ports, fleet.host), (true, None));
    let config: crate::GovernorConfig =
        toml::from_str("[fleet]\nresource = \"browsers\"\nshare_ports = false\nhost = \"web-1\"\n")
            .expect("a valid file");
    let fleet = config.fleet.expect("a fleet section");
    assert_eq!((fleet.share_ports, fleet.host.as_deref()), (false, Some("web-1")));
}

#[cfg(feature = "toml")]
#[test]
fn the_fleet_breakers_read_from_toml() {
    let config: crate::GovernorConfig = toml::from_str(
        "[fleet]\nresource = \"browsers\"\ncap = 40\n[fleet.breaker]\nkeys = [\"default\", \"grid\"]\nquorum = 3\nsync_every = \"500ms\"\n",
    )
    .expect("a valid file");
    let breaker = config.fleet.expect("a fleet section").breaker.expect("a breaker section");
    assert_eq!(
        breaker,
        FleetBreakerConfig::new(["default", "grid"]).quorum(3).sync_every(Duration::from_millis(500))
    );
}

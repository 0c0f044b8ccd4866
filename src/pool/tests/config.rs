//! The configuration's defaults and rules, and what `build()` checks beyond them.

use std::sync::Arc;
use std::time::Duration;

use super::support::{Fake, Probe, allocator};
use crate::BuildError;
use crate::pool::{Pool, PoolConfig};

#[test]
fn the_defaults_are_the_documented_ones() {
    let config = PoolConfig::default();
    assert_eq!((config.max_total, config.max_per_key), (20, 5));
    assert_eq!(config.checkout_timeout, Duration::from_secs(30));
    assert_eq!(config.idle_timeout, Duration::from_secs(300));
    assert_eq!(config.max_lifetime, Duration::from_secs(3600));
    assert_eq!(config.lifetime_jitter, 0.1);
    assert_eq!(config.reap_interval, Duration::from_secs(30));
    assert_eq!(config.leak_threshold, Duration::from_secs(600));
    assert!(config.ports.is_empty());
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn each_rule_names_its_field() {
    type Case = (fn(&mut PoolConfig), &'static str, &'static str);
    let cases: [Case; 8] = [
        (|c| c.max_total = 0, "pool.max_total", "must be at least 1 (got 0)"),
        (|c| c.max_per_key = 0, "pool.max_per_key", "must be at least 1 (got 0)"),
        (
            |c| c.checkout_timeout = Duration::ZERO,
            "pool.checkout_timeout",
            "must be longer than zero (got 0ns)",
        ),
        (|c| c.idle_timeout = Duration::ZERO, "pool.idle_timeout", "must be longer than zero (got 0ns)"),
        (|c| c.max_lifetime = Duration::MAX, "pool.max_lifetime", "must be at most 365 days"),
        (|c| c.reap_interval = Duration::ZERO, "pool.reap_interval", "must be longer than zero (got 0ns)"),
        (|c| c.lifetime_jitter = 1.0, "pool.lifetime_jitter", "must be at least 0 and below 1 (got 1)"),
        (
            |c| c.ports = vec!["vnc".into(), String::new()],
            "pool.ports",
            "must each name a port range (got [1] \"\")",
        ),
    ];
    for (mutate, field, message) in cases {
        let mut config = PoolConfig::default();
        mutate(&mut config);
        let error = config.validate().unwrap_err();
        assert_eq!(error.field(), Some(field));
        assert!(error.to_string().contains(message), "{error}");
    }
    let config = PoolConfig { lifetime_jitter: f64::NAN, ..PoolConfig::default() };
    assert_eq!(config.validate().unwrap_err().field(), Some("pool.lifetime_jitter"));
}

#[tokio::test]
async fn ports_need_an_allocator_that_has_their_ranges() {
    let fake = || Fake(Arc::new(Probe::default()));
    let config = PoolConfig { ports: vec!["vnc".into(), "cdp".into()], ..PoolConfig::default() };

    let error = Pool::builder(fake()).config(config.clone()).build().unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid configuration: `pool.ports` needs a port allocator (`PoolBuilder::ports`) (got [\"vnc\", \"cdp\"])"
    );
    let error = Pool::builder(fake()).config(config).ports(allocator()).build().unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid configuration: `pool.ports` must each name a range of the port allocator (got \"cdp\")"
    );
}

#[test]
fn build_needs_a_runtime() {
    let error = Pool::builder(Fake(Arc::new(Probe::default()))).build().unwrap_err();
    assert_eq!(error, BuildError::NoRuntime);
}

#[cfg(feature = "serde")]
#[test]
fn durations_read_and_write_as_text_and_unknown_fields_are_refused() {
    let json = r#"{ "max_total": 8, "idle_timeout": "2m", "ports": ["vnc"], "checkout_timeout": 5 }"#;
    let config: PoolConfig = serde_json::from_str(json).unwrap();
    assert_eq!((config.max_total, config.max_per_key), (8, 5));
    assert_eq!(
        (config.idle_timeout, config.checkout_timeout),
        (Duration::from_secs(120), Duration::from_secs(5))
    );
    let written = serde_json::to_value(&config).unwrap();
    assert_eq!(
        (written["idle_timeout"].as_str(), written["max_lifetime"].as_str()),
        (Some("2m"), Some("1h"))
    );
    assert!(serde_json::from_str::<PoolConfig>(r#"{ "max_sessions": 3 }"#).is_err());
}

//! Loading a configuration: TOML files, and environment variables overlaid on one.
#![cfg(feature = "toml")]

use std::time::Duration;

use bursar::{ConfigError, GovernorConfig};

#[test]
fn the_documented_example_file_is_exactly_the_defaults() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/bursar.toml");
    let config = GovernorConfig::from_toml_file(path).unwrap();
    assert_eq!(config, GovernorConfig::default());
}

#[test]
fn a_bad_key_or_value_in_toml_names_the_key() {
    let typo = GovernorConfig::from_toml("[workers]\nmax_wrokers = 3").unwrap_err().to_string();
    assert!(typo.contains("max_wrokers"), "{typo}");
    let wrong = GovernorConfig::from_toml("[retry]\nmax_attempts = \"many\"").unwrap_err().to_string();
    assert!(wrong.contains("max_attempts") && wrong.contains("line 2"), "{wrong}");
    let missing = GovernorConfig::from_toml_file("/nonexistent/bursar.toml").unwrap_err();
    assert!(matches!(missing, ConfigError::Read { .. }));
}

#[test]
fn environment_variables_override_by_long_or_unique_short_name() {
    let vars = [
        ("BURSAR_MAX_WORKERS", "24"),
        ("BURSAR_RETRY__BUDGET__TTL", "20s"),
        ("BURSAR_HEALTH__ENABLED", "false"),
        ("BURSAR_JITTER", "full"),
        ("OTHER_MAX_WORKERS", "99"),
    ];
    let config = GovernorConfig::default().with_vars("BURSAR", vars).unwrap();
    assert_eq!(config.workers.max_workers, 24);
    assert_eq!(config.retry.budget.ttl, Duration::from_secs(20));
    assert!(!config.health.enabled);
    assert_eq!(config.retry.jitter, bursar::retry::Jitter::Full);
}

#[test]
fn keys_unset_by_default_are_found_by_their_short_name_too() {
    let vars = [
        ("BURSAR_QUEUE_TIMEOUT", "30s"),
        ("BURSAR_DEADLINE", "2m"),
        ("BURSAR_SEED", "42"),
        ("BURSAR_DWELL", "45s"),
    ];
    let config = GovernorConfig::default().with_vars("BURSAR", vars).unwrap();
    assert_eq!(config.workers.queue_timeout, Some(Duration::from_secs(30)));
    assert_eq!(config.retry.deadline, Some(Duration::from_secs(120)));
    assert_eq!(config.retry.seed, Some(42));
    assert_eq!(config.health.dwell, Some(Duration::from_secs(45)));
    let rate =
        GovernorConfig::default().with_vars("BURSAR", [("BURSAR_BREAKER__FAILURE_RATE__THRESHOLD", "0.5")]);
    assert_eq!(rate.unwrap().breaker.failure_rate.map(|rate| rate.threshold), Some(0.5));
}

#[test]
fn a_bad_environment_variable_is_named() {
    let cases = [
        ("BURSAR_MAX_WROKERS", "3", "no configuration key is called `max_wrokers`"),
        ("BURSAR_ENABLED", "true", "ambiguous"),
        ("BURSAR_MAX_WORKERS", "ten", "max_workers"),
    ];
    for (var, value, expected) in cases {
        let error = GovernorConfig::default().with_vars("BURSAR", [(var, value)]).unwrap_err();
        let ConfigError::Env { var: named, message } = &error else { panic!("{error:?}") };
        assert_eq!(named, var);
        assert!(message.contains(expected), "{var}: {message}");
    }
}

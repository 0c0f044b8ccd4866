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

/// Every key the example file shows commented out parses as written once uncommented.
#[test]
fn the_example_files_commented_keys_parse_once_uncommented() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/bursar.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let uncommented: Vec<&str> = text
        .lines()
        .map(|line| {
            let key = line.strip_prefix("# ").filter(|rest| rest.starts_with('[') || rest.contains(" = "));
            key.unwrap_or(line)
        })
        .collect();
    let config = GovernorConfig::from_toml(&uncommented.join("\n")).unwrap();
    config.validate().expect("every value the file shows keeps the rules");
    let fleet = config.fleet.as_ref().expect("the fleet section");
    assert_eq!((fleet.resource.as_str(), fleet.cap), ("browsers", 100));
    assert_eq!(fleet.breaker.as_ref().expect("its breakers").keys, ["example.com"]);
    assert_eq!((config.health.memory_floor, config.pool.max_uses), (Some(10.0), Some(50)));
    assert_eq!(config.workers.queue_timeout, Some(Duration::from_secs(30)));
}

#[test]
fn the_supervised_processes_thresholds_are_counts_in_toml() {
    let config =
        GovernorConfig::from_toml("[health]\nsupervised_processes = { warn = 48, critical = 60 }").unwrap();
    let expected = bursar::health::Thresholds { warn: 48.0, critical: 60.0 };
    assert_eq!(config.health.supervised_processes, Some(expected));
    assert_eq!(config.health.fds_percent, bursar::health::Thresholds { warn: 80.0, critical: 95.0 });
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

/// A valid configuration whose integers do not fit TOML's `i64`.
fn with_huge_integers() -> GovernorConfig {
    let mut config = GovernorConfig::default();
    config.retry.seed = Some(u64::MAX);
    config.breaker.max_keys = usize::MAX;
    config.health.error_min_calls = u64::MAX;
    config
}

#[test]
fn integers_past_i64_max_go_through_unchanged_when_no_variable_is_set() {
    let none: [(&str, &str); 0] = [];
    assert_eq!(with_huge_integers().with_vars("BURSAR", none).unwrap(), with_huge_integers());
    let others = [("OTHER_MAX_WORKERS", "3"), ("BURSARX_MAX_WORKERS", "4")];
    assert_eq!(with_huge_integers().with_vars("BURSAR", others).unwrap(), with_huge_integers());
}

#[test]
fn integers_past_i64_max_survive_a_variable_set_for_another_key() {
    let config = with_huge_integers().with_vars("BURSAR", [("BURSAR_MAX_WORKERS", "24")]).unwrap();
    let mut expected = with_huge_integers();
    expected.workers.max_workers = 24;
    assert_eq!(config, expected);
}

#[test]
fn a_variable_may_set_an_integer_past_i64_max() {
    let vars = [("BURSAR_SEED", "18446744073709551615"), ("BURSAR_ERROR_MIN_CALLS", "9223372036854775808")];
    let config = GovernorConfig::default().with_vars("BURSAR", vars).unwrap();
    assert_eq!((config.retry.seed, config.health.error_min_calls), (Some(u64::MAX), 1 << 63));
}

#[test]
fn an_invalid_variable_beside_integers_past_i64_max_names_its_key() {
    let vars = [("BURSAR_MAX_ATTEMPTS", "18446744073709551615")];
    let error = with_huge_integers().with_vars("BURSAR", vars).unwrap_err();
    let ConfigError::Env { var, message } = &error else { panic!("{error:?}") };
    assert_eq!(var, "BURSAR_MAX_ATTEMPTS");
    assert_eq!(message, "invalid value: integer `18446744073709551615`, expected u32 (retry.max_attempts)");
}

#[test]
fn a_number_that_is_not_finite_is_named_by_its_key() {
    let mut config = GovernorConfig::default();
    config.retry.multiplier = f64::NAN;
    let error = config.with_vars("BURSAR", [("BURSAR_MAX_WORKERS", "3")]).unwrap_err();
    assert!(matches!(&error, ConfigError::NotFinite { key } if key == "retry.multiplier"), "{error:?}");
    assert_eq!(
        error.to_string(),
        "cannot overlay the environment: `retry.multiplier` is not a finite number"
    );
}

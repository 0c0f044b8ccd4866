//! Configuration: defaults, every rule checked by `build()`, and the serde format.

use std::time::Duration;

use bursar::{BuildError, Governor, GovernorBuilder, GovernorConfig};

#[test]
fn the_defaults_are_the_seeds() {
    let workers = GovernorConfig::default().workers;
    assert_eq!(workers.max_workers, 10);
    assert_eq!(workers.queue_limit, 1000);
    assert_eq!(workers.queue_timeout, None);
    assert_eq!(workers.max_task_duration, Duration::from_secs(1800));
    assert_eq!((workers.blocking_threads, workers.blocking_queue_limit), (10, 1000));
}

fn backoff() -> bursar::retry::ExponentialBackoff {
    bursar::retry::ExponentialBackoff::new()
}

fn with_health(change: impl FnOnce(&mut bursar::health::HealthConfig)) -> GovernorBuilder {
    let mut health = bursar::health::HealthConfig::default();
    change(&mut health);
    Governor::builder().health(health)
}

fn field_rejected(builder: GovernorBuilder) -> (&'static str, String) {
    match builder.build() {
        Err(error @ BuildError::Invalid { field, .. }) => (field, error.to_string()),
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

#[test]
fn every_invalid_value_names_its_field_and_rule() {
    let huge = usize::MAX;
    let year_and_a_day = Duration::from_secs(366 * 24 * 3600);
    let cases: Vec<(GovernorBuilder, &str, &str)> = vec![
        (Governor::builder().max_workers(0), "workers.max_workers", "must be at least 1 (got 0)"),
        (Governor::builder().max_workers(huge), "workers.max_workers", "must be at most"),
        (Governor::builder().queue_limit(0), "workers.queue_limit", "must be at least 1 (got 0)"),
        (
            Governor::builder().queue_timeout(Duration::ZERO),
            "workers.queue_timeout",
            "must be longer than zero",
        ),
        (
            Governor::builder().queue_timeout(year_and_a_day),
            "workers.queue_timeout",
            "must be at most 365 days",
        ),
        (
            Governor::builder().max_task_duration(Duration::ZERO),
            "workers.max_task_duration",
            "must be longer than zero (got 0ns)",
        ),
        (
            Governor::builder().max_task_duration(Duration::MAX),
            "workers.max_task_duration",
            "at most 365 days",
        ),
        (Governor::builder().blocking_threads(0), "workers.blocking_threads", "must be at least 1"),
        (Governor::builder().blocking_queue_limit(0), "workers.blocking_queue_limit", "must be at least 1"),
        (Governor::builder().max_attempts(0), "retry.max_attempts", "must be between 1 and 1000 (got 0)"),
        (Governor::builder().max_attempts(1001), "retry.max_attempts", "must be between 1 and 1000"),
        (Governor::builder().backoff(backoff().with_multiplier(f64::NAN)), "retry.multiplier", "finite"),
        (
            Governor::builder().backoff(backoff().with_initial_delay(Duration::ZERO)),
            "retry.initial_delay",
            "zero",
        ),
        (
            Governor::builder().backoff(backoff().with_max_delay(Duration::from_millis(1))),
            "retry.max_delay",
            "retry.initial_delay",
        ),
        (with_health(|h| h.interval = Duration::ZERO), "health.interval", "must be longer than zero"),
        (with_health(|h| h.cpu_percent.warn = 99.0), "health.cpu_percent", "warn <= critical"),
        (with_health(|h| h.error_rate.critical = 2.0), "health.error_rate", "critical <= 1"),
        (with_health(|h| h.degraded_worker_ratio = 0.0), "health.degraded_worker_ratio", "above 0"),
        (
            with_health(|h| h.unhealthy_worker_ratio = f64::INFINITY),
            "health.unhealthy_worker_ratio",
            "at most 1",
        ),
    ];
    for (builder, field, rule) in cases {
        let (named, message) = field_rejected(builder);
        assert_eq!(named, field);
        assert!(message.contains(&format!("`{field}` {rule}")) || message.contains(rule), "{message}");
        assert!(message.starts_with(&format!("invalid configuration: `{field}`")), "{message}");
    }
}

#[test]
fn a_pool_port_range_missing_from_the_port_ranges_is_rejected_naming_it() {
    let mut config = GovernorConfig::default();
    config.pool.ports = vec!["vnc".into(), "rdp".into()];
    let error = GovernorBuilder::from_config(config.clone()).build().unwrap_err();
    let rule = "must each name a range of `ports.ranges`";
    assert_eq!(error, BuildError::Invalid { field: "pool.ports", rule, value: r#"[1] "rdp""#.to_owned() });
    assert_eq!(
        error.to_string(),
        r#"invalid configuration: `pool.ports` must each name a range of `ports.ranges` (got [1] "rdp")"#
    );
    assert_eq!(config.validate(), Err(error));

    config.pool.ports = vec!["ws".into(), "vnc".into()];
    assert_eq!(config.validate(), Ok(()), "the default ranges");
}

#[test]
fn a_valid_configuration_outside_a_runtime_is_a_typed_error_not_a_panic() {
    assert_eq!(Governor::builder().build().unwrap_err(), BuildError::NoRuntime);
}

#[tokio::test]
async fn a_builder_can_start_from_a_config() {
    let mut config = GovernorConfig::default();
    config.workers.max_workers = 3;
    let gov = GovernorBuilder::from_config(config).queue_limit(7).build().unwrap();
    let status = gov.status().workers;
    assert_eq!((status.max_workers, status.effective_limit, status.queue_limit), (3, 3, 7));
}

#[cfg(feature = "serde")]
mod serde_format {
    use super::*;

    #[test]
    fn durations_are_written_with_units_and_read_back() {
        let mut config = GovernorConfig::default();
        config.workers.queue_timeout = Some(Duration::from_millis(250));
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["workers"]["max_task_duration"], "30m");
        assert_eq!(json["workers"]["queue_timeout"], "250ms");
        let back: GovernorConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn missing_fields_take_their_defaults_and_numbers_are_seconds() {
        let config: GovernorConfig =
            serde_json::from_str(r#"{"workers": {"max_workers": 4, "max_task_duration": 90}}"#).unwrap();
        assert_eq!(config.workers.max_workers, 4);
        assert_eq!(config.workers.max_task_duration, Duration::from_secs(90));
        assert_eq!(config.workers.queue_limit, 1000);
        let half: GovernorConfig = serde_json::from_str(r#"{"workers": {"queue_timeout": 0.5}}"#).unwrap();
        assert_eq!(half.workers.queue_timeout, Some(Duration::from_millis(500)));
    }

    #[test]
    fn malformed_values_and_unknown_keys_are_errors() {
        for (json, expected) in [
            (r#"{"workers": {"max_task_duration": "soon"}}"#, "invalid value: string \"soon\""),
            (r#"{"workers": {"max_task_duration": -3}}"#, "invalid value: integer `-3`"),
            (r#"{"workers": {"max_workers": "ten"}}"#, "invalid type: string \"ten\""),
            (r#"{"workers": {"max_wrokers": 3}}"#, "unknown field `max_wrokers`"),
            (r#"{"wrokers": {}}"#, "unknown field `wrokers`"),
        ] {
            let error = serde_json::from_str::<GovernorConfig>(json).unwrap_err().to_string();
            assert!(error.contains(expected), "{json}: {error}");
        }
    }

    #[tokio::test]
    async fn a_parsed_but_invalid_config_is_caught_by_build() {
        let config: GovernorConfig = serde_json::from_str(r#"{"workers": {"max_workers": 0}}"#).unwrap();
        let error = GovernorBuilder::from_config(config).build().unwrap_err();
        assert_eq!(error.field(), Some("workers.max_workers"));
    }
}

#[cfg(feature = "toml")]
mod files_and_environment {
    use super::*;
    use bursar::ConfigError;

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
        let rate = GovernorConfig::default()
            .with_vars("BURSAR", [("BURSAR_BREAKER__FAILURE_RATE__THRESHOLD", "0.5")]);
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
}

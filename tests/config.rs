//! Configuration: defaults, every rule checked by `build()`, and the serde format.

use std::time::Duration;

use bursar::health::Thresholds;
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
        (with_health(|h| h.fds_percent.warn = 96.0), "health.fds_percent", "0 <= warn <= critical <= 100"),
        (with_health(|h| h.nproc_percent.critical = 101.0), "health.nproc_percent", "critical <= 100 (got"),
        (
            with_health(|h| h.supervised_processes = Some(Thresholds { warn: 60.0, critical: 48.0 })),
            "health.supervised_processes",
            "must have 0 <= warn <= critical, both finite (got warn 60, critical 48)",
        ),
        (
            with_health(|h| h.supervised_processes = Some(Thresholds { warn: 4.0, critical: f64::INFINITY })),
            "health.supervised_processes",
            "both finite (got warn 4, critical inf)",
        ),
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

type SetLimit = fn(&mut GovernorConfig, Duration);

/// Every time limit `validate()` and `build()` check, with its field's name.
const TIME_LIMITS: [(&str, SetLimit); 14] = [
    ("workers.queue_timeout", |c, d| c.workers.queue_timeout = Some(d)),
    ("workers.max_task_duration", |c, d| c.workers.max_task_duration = d),
    ("retry.deadline", |c, d| c.retry.deadline = Some(d)),
    ("health.interval", |c, d| c.health.interval = d),
    ("health.dwell", |c, d| c.health.dwell = Some(d)),
    ("health.error_window", |c, d| c.health.error_window = d),
    ("health.recovery_cooldown", |c, d| c.health.recovery_cooldown = d),
    ("pool.checkout_timeout", |c, d| c.pool.checkout_timeout = d),
    ("pool.idle_timeout", |c, d| c.pool.idle_timeout = d),
    ("pool.max_lifetime", |c, d| c.pool.max_lifetime = d),
    ("pool.reap_interval", |c, d| c.pool.reap_interval = d),
    ("pool.leak_threshold", |c, d| c.pool.leak_threshold = d),
    ("breaker.open_wait", |c, d| c.breaker.open_wait = d),
    ("breaker.max_open_wait", |c, d| c.breaker.max_open_wait = d),
];

#[test]
fn every_time_limit_under_1_ms_names_its_field_and_the_timer_rule() {
    for (field, set) in TIME_LIMITS {
        let mut config = GovernorConfig::default();
        set(&mut config, Duration::from_micros(999));
        let rule = "must be at least 1 ms, tokio's timer resolution";
        let expected = BuildError::Invalid { field, rule, value: "999µs".to_owned() };
        assert_eq!(config.validate(), Err(expected.clone()), "{field}");
        assert_eq!(GovernorBuilder::from_config(config).build().unwrap_err(), expected);
    }
}

#[test]
fn time_limits_of_1_ms_sub_ms_backoff_delays_and_a_sub_ms_slow_call_are_valid() {
    let mut config = GovernorConfig::default();
    for (_, set) in TIME_LIMITS {
        set(&mut config, Duration::from_millis(1));
    }
    (config.retry.initial_delay, config.retry.max_delay) =
        (Duration::from_micros(1), Duration::from_micros(999));
    // A threshold calls are measured against, not a timer.
    config.breaker.slow_call = Some(bursar::breaker::SlowCall::new(Duration::from_micros(500)));
    assert_eq!(config.validate(), Ok(()));
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
async fn a_second_recovery_for_one_error_kind_is_a_build_error() {
    let recovery = |_: bursar::health::ErrorReport| async { true };
    let builder = || Governor::builder().health(bursar::health::HealthConfig::disabled());
    let twice = builder()
        .on_error("webdriver", recovery)
        .on_error("database", recovery)
        .on_error("webdriver", recovery);
    let error = twice.build().unwrap_err();
    let value = "\"webdriver\"".to_owned();
    assert_eq!(
        error,
        BuildError::Invalid { field: "on_error", rule: "must be called once per error kind", value }
    );
    assert_eq!(
        error.to_string(),
        "invalid configuration: `on_error` must be called once per error kind (got \"webdriver\")"
    );
    assert!(builder().on_error("webdriver", recovery).on_error("database", recovery).build().is_ok());
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

    /// The message serde_json gives, without the position it appends.
    fn json_error(json: &str) -> String {
        let error = serde_json::from_str::<GovernorConfig>(json).unwrap_err().to_string();
        error.split(" at line ").next().unwrap().to_owned()
    }

    #[test]
    fn only_a_map_reads_as_a_configuration_at_every_level() {
        assert_eq!(serde_json::from_str::<GovernorConfig>("{}").unwrap(), GovernorConfig::default());
        assert_eq!(json_error("5"), "invalid type: integer `5`, expected struct GovernorConfig");
        for (json, section) in [
            ("[]", "GovernorConfig"),
            ("[{}, {}]", "GovernorConfig"),
            (r#"{"workers": []}"#, "WorkerConfig"),
            (r#"{"retry": []}"#, "RetryConfig"),
            (r#"{"retry": {"budget": []}}"#, "BudgetConfig"),
            (r#"{"health": [true]}"#, "HealthConfig"),
            (r#"{"health": {"cpu_percent": [80, 95]}}"#, "Thresholds"),
            (r#"{"ports": []}"#, "PortsConfig"),
            (r#"{"ports": {"ranges": [["vnc", 5900, 5999]]}}"#, "PortRange"),
            (r#"{"breaker": []}"#, "BreakerConfig"),
            (r#"{"breaker": {"failure_rate": []}}"#, "FailureRate"),
            (r#"{"breaker": {"slow_call": []}}"#, "SlowCall"),
            (r#"{"pool": []}"#, "PoolConfig"),
        ] {
            assert_eq!(
                json_error(json),
                format!("invalid type: sequence, expected struct {section}"),
                "{json}"
            );
        }
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

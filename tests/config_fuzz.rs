//! Bad input never panics: random and malformed configuration — values out of range, wrong
//! types, huge numbers, nonsense durations — fed through serde and through the builder, ends
//! as a typed error naming a field, or as a governor that works.

mod support;

use std::time::Duration;

use bursar::{BuildError, Governor};
#[cfg(feature = "serde")]
use bursar::{GovernorBuilder, GovernorConfig};
use proptest::prelude::*;
#[cfg(feature = "serde")]
use serde_json::{Value, json};

/// A value for any key: mostly plausible, often wrong.
#[cfg(feature = "serde")]
fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => (0u64..64).prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => prop_oneof![Just(0.0), Just(-1.0), Just(0.5), Just(1.0), Just(1e300), any::<f64>().prop_filter("JSON has no NaN or infinity", |x| x.is_finite())].prop_map(|x| json!(x)),
        3 => duration_text().prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::from),
        1 => Just(Value::Null),
        1 => Just(json!([])),
        1 => Just(json!({ "nested": 1 })),
    ]
}

/// Duration texts, good and bad.
#[cfg(feature = "serde")]
fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..100_000, prop_oneof![Just("ms"), Just("s"), Just("m"), Just("h"), Just("d"), Just("")])
            .prop_map(|(n, unit)| format!("{n}{unit}")),
        Just("18446744073709551615h".to_owned()),
        Just("-1s".to_owned()),
        Just("1.5s".to_owned()),
        Just("".to_owned()),
        Just("soon".to_owned()),
        "[a-z0-9 ]{0,8}",
    ]
}

/// Every key of every section, as `GovernorConfig` serialises it.
#[cfg(feature = "serde")]
fn keys() -> Vec<(String, String)> {
    let default = serde_json::to_value(GovernorConfig::default()).unwrap();
    let mut keys = Vec::new();
    for (section, fields) in default.as_object().unwrap() {
        match fields.as_object() {
            Some(fields) => keys.extend(fields.keys().map(|key| (section.clone(), key.clone()))),
            None => keys.push((section.clone(), String::new())),
        }
    }
    keys
}

/// The default configuration with up to six keys replaced by random values.
#[cfg(feature = "serde")]
fn config_json() -> impl Strategy<Value = Value> {
    let keys = keys();
    let count = keys.len();
    proptest::collection::vec((0..count, value()), 0..6).prop_map(move |changes| {
        let mut config = serde_json::to_value(GovernorConfig::default()).unwrap();
        for (index, value) in changes {
            let (section, key) = &keys[index];
            match key.is_empty() {
                true => config[section] = value,
                false => config[section][key] = value,
            }
        }
        // The monitor samples the real machine on a blocking thread: not in a fuzz loop.
        if config["health"].is_object() {
            config["health"]["enabled"] = json!(false);
        }
        config
    })
}

/// A governor that was built must work: one call runs, shutdown reports it.
fn exercise(build: impl FnOnce() -> Result<Governor, BuildError>) -> Result<(), TestCaseError> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    runtime.block_on(async {
        match build() {
            Err(BuildError::Invalid { field, rule, .. }) => {
                prop_assert!(!field.is_empty() && !rule.is_empty(), "an error names its field and rule");
            }
            Err(other) => prop_assert!(false, "only Invalid is expected inside a runtime: {other}"),
            Ok(gov) => {
                let result = gov.run(|| async { Ok::<_, std::io::Error>(7) }).await;
                prop_assert!(matches!(result, Ok(7) | Err(bursar::Error::Rejected(_))), "{result:?}");
                let report = gov.shutdown(Duration::from_secs(1)).await;
                prop_assert_eq!((report.unfinished, gov.status().workers.active), (0, 0));
            }
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[cfg(feature = "serde")]
    #[test]
    fn malformed_json_is_a_serde_error_or_a_typed_build_error(config in config_json()) {
        // A wrong type or a bad duration text is serde's error; a value out of range is a
        // BuildError from build(). Neither panics.
        if let Ok(config) = serde_json::from_value::<GovernorConfig>(config) {
            exercise(|| GovernorBuilder::from_config(config).build())?;
        }
    }

    #[test]
    fn any_builder_values_give_an_error_or_a_working_governor(
        workers in prop_oneof![Just(0usize), 1usize..64, Just(usize::MAX)],
        queue in prop_oneof![Just(0usize), 1usize..10_000, Just(usize::MAX)],
        attempts in prop_oneof![Just(0u32), 1u32..10, Just(u32::MAX)],
        duration in prop_oneof![Just(Duration::ZERO), (1u64..1_000_000).prop_map(Duration::from_millis), Just(Duration::MAX)],
        queue_timeout in prop_oneof![Just(Duration::ZERO), (1u64..1_000_000).prop_map(Duration::from_millis), Just(Duration::MAX)],
    ) {
        exercise(|| {
            support::builder()
                .max_workers(workers)
                .queue_limit(queue)
                .max_attempts(attempts)
                .max_task_duration(duration)
                .queue_timeout(queue_timeout)
                .build()
        })?;
    }
}

#[cfg(feature = "toml")]
proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn the_environment_overlay_keeps_every_key_it_does_not_set(config in config_json(), workers in 1usize..64) {
        // Huge integers included (`any::<u64>()`), which TOML's i64 could not carry.
        let Ok(config) = serde_json::from_value::<GovernorConfig>(config) else { return Ok(()) };
        let none: [(&str, &str); 0] = [];
        prop_assert_eq!(config.clone().with_vars("FUZZ", none).unwrap(), config.clone());
        let var = [("FUZZ_WORKERS__MAX_WORKERS", workers.to_string())];
        let mut expected = config.clone();
        expected.workers.max_workers = workers;
        prop_assert_eq!(config.with_vars("FUZZ", var).unwrap(), expected);
    }

    #[test]
    fn malformed_toml_is_an_error_never_a_panic(text in "[\\[\\]a-z_=\"0-9.\n ]{0,120}") {
        if let Ok(config) = GovernorConfig::from_toml(&text) {
            exercise(|| GovernorBuilder::from_config(config).build())?;
        }
    }
}

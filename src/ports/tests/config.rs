//! The configuration: the seed defaults, every rule naming its field, and the serde format.

use std::time::Duration;

use crate::BuildError;
use crate::ports::{PortAllocator, PortRange, PortsConfig};

fn with_ranges(ranges: &[(&str, u16, u16)]) -> PortsConfig {
    let ranges = ranges.iter().map(|&(name, first, last)| PortRange::new(name, first..=last)).collect();
    PortsConfig { ranges, ..PortsConfig::default() }
}

/// The field and the message of the error `config` is refused with, by `validate` and `new`.
fn refusal(config: &PortsConfig) -> (&'static str, String) {
    let error = config.validate().unwrap_err();
    assert_eq!(PortAllocator::new(config).unwrap_err(), error);
    match error {
        BuildError::Invalid { field, .. } => (field, error.to_string()),
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

#[test]
fn the_defaults_are_the_seeds() {
    let config = PortsConfig::default();
    let expected = [PortRange::new("vnc", 5900..=5999), PortRange::new("ws", 6900..=6999)];
    assert_eq!(config.ranges, expected);
    assert_eq!((config.quarantine, config.host_check), (Duration::from_secs(5), true));
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn every_broken_rule_names_its_field_and_the_range() {
    let over_an_hour = PortsConfig { quarantine: Duration::from_secs(3601), ..PortsConfig::default() };
    let cases = [
        (
            with_ranges(&[("vnc", 5900, 5999), ("ws", 5950, 6049)]),
            "ports.ranges",
            "`ports.ranges` must not overlap (got [0] \"vnc\" 5900..=5999 and [1] \"ws\" 5950..=6049)",
        ),
        (
            with_ranges(&[("ws", 6000, 6099), ("a", 1, 2), ("vnc", 5900, 6000)]),
            "ports.ranges",
            "`ports.ranges` must not overlap (got [0] \"ws\" 6000..=6099 and [2] \"vnc\" 5900..=6000)",
        ),
        (
            with_ranges(&[("vnc", 5900, 5999), ("ws", 6999, 6900)]),
            "ports.ranges",
            "`ports.ranges` must each have `first` at most `last` (got [1] \"ws\" 6999..=6900)",
        ),
        (
            with_ranges(&[("vnc", 5900, 5999), ("ws", 6900, 6999), ("vnc", 7900, 7999)]),
            "ports.ranges",
            "`ports.ranges` must have distinct names (got [0] and [2] both \"vnc\")",
        ),
        (
            with_ranges(&[("", 5900, 5999)]),
            "ports.ranges",
            "`ports.ranges` must each have a name (got [0] \"\" 5900..=5999)",
        ),
        (
            with_ranges(&[("any", 0, 10)]),
            "ports.ranges",
            "`ports.ranges` must not include port 0 (it asks the system for any free port) (got [0] \"any\" 0..=10)",
        ),
        (over_an_hour, "ports.quarantine", "`ports.quarantine` must be at most 1 hour (got 3601s)"),
    ];
    for (config, field, message) in cases {
        let refused = refusal(&config);
        assert_eq!(refused, (field, format!("invalid configuration: {message}")));
    }
}

#[test]
fn edge_values_that_are_allowed() {
    let cases = [
        PortsConfig { quarantine: Duration::ZERO, ..PortsConfig::default() },
        PortsConfig { quarantine: Duration::from_secs(3600), ..PortsConfig::default() },
        with_ranges(&[]),
        with_ranges(&[("vnc", 5900, 5999), ("ws", 6000, 6000)]),
        with_ranges(&[("all", 1, u16::MAX)]),
    ];
    for config in cases {
        assert_eq!(config.validate(), Ok(()), "{config:?}");
        assert!(PortAllocator::new(&config).is_ok());
    }
}

#[test]
fn a_range_knows_its_size() {
    assert_eq!(PortRange::new("vnc", 5900..=5999).size(), 100);
    assert_eq!(PortRange::new("one", 7..=7).size(), 1);
    assert_eq!(PortRange::new("all", 1..=u16::MAX).size(), 65_535);
    let inverted = PortRange { name: "inverted".to_owned(), first: 10, last: 9 };
    assert_eq!(inverted.size(), 0);
}

#[cfg(feature = "serde")]
mod serde_format {
    use super::*;

    #[test]
    fn the_configuration_reads_and_writes_as_text() {
        let text =
            r#"{"ranges":[{"name":"vnc","first":5900,"last":5999}],"quarantine":"30s","host_check":false}"#;
        let config: PortsConfig = serde_json::from_str(text).expect("valid json");
        let expected = PortsConfig {
            ranges: vec![PortRange::new("vnc", 5900..=5999)],
            quarantine: Duration::from_secs(30),
            host_check: false,
        };
        assert_eq!(config, expected);
        assert_eq!(serde_json::to_string(&config).expect("serialisable"), text);
    }

    #[test]
    fn missing_fields_take_their_defaults_and_unknown_ones_are_refused() {
        let config: PortsConfig = serde_json::from_str(r#"{"quarantine":"1m"}"#).expect("valid json");
        assert_eq!(config, PortsConfig { quarantine: Duration::from_secs(60), ..PortsConfig::default() });
        assert!(serde_json::from_str::<PortsConfig>(r#"{"quarantine_secs":5}"#).is_err());
        assert!(serde_json::from_str::<PortsConfig>(r#"{"ranges":[{"name":"vnc","first":5900}]}"#).is_err());
    }

    #[test]
    fn the_status_has_the_documented_shape() {
        let allocator = PortAllocator::new(&PortsConfig::default()).expect("the defaults are valid");
        let json = serde_json::to_string(&allocator.status()).expect("serialisable");
        let range = r#"{"leased":0,"free":100,"quarantined":0}"#;
        assert_eq!(json, format!(r#"{{"vnc":{range},"ws":{range}}}"#));
    }
}

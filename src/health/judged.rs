//! Each reading beside its thresholds: the one list that both the level and its reasons are
//! read from, in the order the monitor judges them.

use super::{HealthConfig, Readings, Thresholds};

/// Every reading the sample has and the configuration judges, with its name and thresholds:
/// CPU, memory, open files, processes, supervised processes (when thresholds are set for
/// them), then the error rate.
pub(crate) fn judged(
    config: &HealthConfig,
    readings: &Readings,
    error_rate: Option<f64>,
) -> impl Iterator<Item = (&'static str, f64, Thresholds)> {
    let supervised = readings.supervised_processes.map(|count| count as f64);
    let all = [
        ("cpu_percent", readings.cpu_percent, Some(config.cpu_percent)),
        ("memory_percent", readings.memory_percent, Some(config.memory_percent)),
        ("fds_percent", readings.fds_percent, Some(config.fds_percent)),
        ("nproc_percent", readings.nproc_percent, Some(config.nproc_percent)),
        ("supervised_processes", supervised, config.supervised_processes),
        ("error_rate", error_rate, Some(config.error_rate)),
    ];
    all.into_iter().filter_map(|(name, value, thresholds)| Some((name, value?, thresholds?)))
}

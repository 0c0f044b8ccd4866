//! The readings of this process's limits: open files and processes as percentages of their
//! limits, and the supervised processes alive. Plain `/proc` reads, so every sampler of bursar
//! takes them, with or without `sysinfo`.

use super::Readings;
#[cfg(not(feature = "sysinfo"))]
use super::Sampler;
#[cfg(not(feature = "sysinfo"))]
use super::blocking_read::OneRead;
use crate::system::{Usage, open_files, user_tasks};

/// `readings` with the limits' readings filled in: `fds_percent` and `nproc_percent` (left out
/// where the limit is not in force or `/proc` cannot be read) and `supervised_processes`.
///
/// Blocking: one scan of `/proc` for the processes of this user. Call it on a blocking thread.
pub(super) fn with_limits(readings: Readings) -> Readings {
    Readings {
        fds_percent: open_files().and_then(Usage::percent),
        nproc_percent: user_tasks().and_then(Usage::percent),
        supervised_processes: Some(crate::process::live_supervised()),
        ..readings
    }
}

/// The sampler without `sysinfo`: the limits alone, the level then coming from them, the error
/// rate and the custom checks.
#[cfg(not(feature = "sysinfo"))]
#[derive(Debug, Default)]
pub(crate) struct LimitsSampler(OneRead<Readings>);

#[cfg(not(feature = "sysinfo"))]
impl Sampler for LimitsSampler {
    async fn sample(&mut self) -> Readings {
        self.0.run(|| with_limits(with_memory(Readings::default()))).await
    }
}

/// `readings` with the machine's memory from `/proc/meminfo`, the sampler without `sysinfo`
/// reads it there.
#[cfg(not(feature = "sysinfo"))]
fn with_memory(readings: Readings) -> Readings {
    let (memory_available, memory_total) = crate::system::machine_memory();
    Readings { memory_available, memory_total, ..readings }
}

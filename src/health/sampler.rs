//! Where readings come from: the [`Sampler`] trait, so tests inject readings, and the default
//! [`SystemSampler`] over `sysinfo` (feature `sysinfo`).

use std::future::Future;
use std::pin::Pin;

/// One sample of the machine and the process. A sampler leaves out what it cannot read.
///
/// A sampler of your own sets the fields it reads on a value from [`Readings::new`] or
/// `Readings::default()`: `readings.fds_percent = Some(42.0)`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Readings {
    /// System-wide CPU use, 0–100.
    pub cpu_percent: Option<f64>,
    /// System memory in use, 0–100.
    pub memory_percent: Option<f64>,
    /// Threads of this process.
    pub threads: Option<usize>,
    /// This process's open file descriptors as a percentage of its soft `RLIMIT_NOFILE` (at 100,
    /// `open`, `socket` and `pipe` fail with `EMFILE`). At least 0; above 100 when the limit was
    /// lowered below what is open.
    pub fds_percent: Option<f64>,
    /// The processes and threads of this process's real user as a percentage of its soft
    /// `RLIMIT_NPROC` (at 100, `fork` and new threads fail with `EAGAIN`); `None` where no such
    /// limit is enforced. At least 0; above 100 when the limit was lowered below what runs.
    pub nproc_percent: Option<f64>,
    /// The processes started with `bursar::process::Supervised` (feature `process`) that are
    /// alive: spawned and not yet reaped. The leaders only, not the rest of their groups; 0
    /// without the feature.
    pub supervised_processes: Option<usize>,
    /// The machine's available memory in bytes (Linux's `MemAvailable`: free memory and the
    /// caches the kernel can drop). With [`memory_total`](Self::memory_total), what
    /// memory-aware admission (`health.memory_floor`) reads.
    pub memory_available: Option<u64>,
    /// The machine's memory in bytes.
    pub memory_total: Option<u64>,
}

impl Readings {
    /// The first reading that is not a number in its range, if any: the CPU and memory
    /// percentages 0–100, the two limits' percentages at least 0.
    pub(crate) fn invalid(&self) -> Option<&'static str> {
        let in_range = |value: Option<f64>, max: f64| value.is_none_or(|value| (0.0..=max).contains(&value));
        let percentages = [
            ("cpu_percent", self.cpu_percent, 100.0),
            ("memory_percent", self.memory_percent, 100.0),
            ("fds_percent", self.fds_percent, f64::MAX),
            ("nproc_percent", self.nproc_percent, f64::MAX),
        ];
        percentages.into_iter().find(|(_, value, max)| !in_range(*value, *max)).map(|(name, ..)| name)
    }

    /// Readings with the given CPU and memory percentages and thread count, and no other.
    pub fn new(cpu_percent: f64, memory_percent: f64, threads: usize) -> Self {
        Readings {
            cpu_percent: Some(cpu_percent),
            memory_percent: Some(memory_percent),
            threads: Some(threads),
            ..Readings::default()
        }
    }
}

/// Takes [`Readings`]; the health monitor calls it once per sampling interval.
///
/// Implementors write `async fn sample(&mut self) -> Readings`.
///
/// # Timeout
///
/// A sample that has not answered within one sampling interval is given up (its future is
/// dropped, so `sample` should be cancel safe). That is a `tracing` warning and a failed
/// reading: the monitor keeps the previous readings and still judges the error rate and the
/// custom checks, so the level keeps moving; the status shows the kept readings, and after
/// three intervals without an answer [`Governor::liveness`](crate::Governor::liveness) turns
/// false.
///
/// # Examples
///
/// ```
/// use bursar::health::{HealthLevel, Readings, Sampler};
///
/// /// Readings a test controls.
/// struct Fixed(Readings);
///
/// impl Sampler for Fixed {
///     async fn sample(&mut self) -> Readings {
///         self.0
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), bursar::BuildError> {
/// let gov = bursar::Governor::builder().sampler(Fixed(Readings::new(97.0, 40.0, 8))).build()?;
/// tokio::time::sleep(std::time::Duration::from_secs(1)).await; // the first sample
/// assert_eq!(gov.health_level(), HealthLevel::Critical, "CPU at 97 % is critical");
/// # Ok(()) }
/// ```
pub trait Sampler: Send + Sync + 'static {
    /// Takes one sample. Blocking work belongs on a blocking thread.
    fn sample(&mut self) -> impl Future<Output = Readings> + Send;
}

/// A sampler behind a pointer, as the monitor stores it.
pub(crate) trait DynSampler: Send + Sync {
    fn sample_boxed(&mut self) -> Pin<Box<dyn Future<Output = Readings> + Send + '_>>;
}

impl<S: Sampler> DynSampler for S {
    fn sample_boxed(&mut self) -> Pin<Box<dyn Future<Output = Readings> + Send + '_>> {
        Box::pin(self.sample())
    }
}

#[cfg(feature = "sysinfo")]
pub use system::SystemSampler;

#[cfg(feature = "sysinfo")]
mod system {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

    use super::super::blocking_read::OneRead;
    use super::super::limits::with_limits;
    use super::{Readings, Sampler};

    /// The default sampler: system CPU and memory and this process's threads, read with
    /// `sysinfo` on a blocking thread, refreshing only those; and, from `/proc` on Linux, this
    /// process's open files and its user's processes against their limits, and the supervised
    /// processes alive.
    ///
    /// CPU use is measured between two refreshes: the first sample refreshes twice, 200 ms
    /// apart; later samples measure since the previous one.
    ///
    /// A read cannot be interrupted once it runs on its blocking thread. If the monitor gives
    /// a sample up, the read goes on and the next sample waits for it rather than starting
    /// another, so a hung `/proc` holds one blocking thread, not one per interval.
    ///
    /// # Panics
    ///
    /// `sample` panics with the read's own panic if the read panicked, or if the runtime
    /// cancelled it (shutting down): a failed read is no reading of nothing. The governor's
    /// monitor contains it as a missed sample — the previous readings kept, an `ERROR`,
    /// counted; a sampler of yours that wraps this one may catch it or let the monitor do so.
    #[derive(Debug, Default)]
    pub struct SystemSampler {
        system: Option<System>,
        /// The read of a sample, still running if that sample was given up.
        reading: OneRead<(System, Readings)>,
    }

    impl SystemSampler {
        /// A sampler that has not read anything yet.
        pub fn new() -> Self {
            SystemSampler::default()
        }
    }

    impl Sampler for SystemSampler {
        async fn sample(&mut self) -> Readings {
            let previous = self.system.take();
            let (system, readings) = self.reading.run(move || read(previous)).await;
            self.system = Some(system);
            readings
        }
    }

    fn read(previous: Option<System>) -> (System, Readings) {
        let first = previous.is_none();
        let mut system = previous.unwrap_or_default();
        system.refresh_cpu_usage();
        if first {
            std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
            system.refresh_cpu_usage();
        }
        system.refresh_memory();
        let total = system.total_memory();
        let memory_percent = (total > 0).then(|| system.used_memory() as f64 * 100.0 / total as f64);
        let threads = threads_now(&mut system);
        let cpu_percent = Some(f64::from(system.global_cpu_usage()).clamp(0.0, 100.0));
        let memory_total = (total > 0).then_some(total);
        let memory_available = memory_total.map(|_| system.available_memory());
        let readings = Readings {
            cpu_percent,
            memory_percent,
            threads,
            memory_available,
            memory_total,
            ..Readings::default()
        };
        (system, with_limits(readings))
    }

    /// This process's threads: on Linux from `/proc/self/stat`, one small read (refreshing one
    /// process through `sysinfo` lists every process in `/proc` first, which was two thirds of
    /// a sample's cost); elsewhere, or if that read fails, through `sysinfo`.
    fn threads_now(system: &mut System) -> Option<usize> {
        #[cfg(target_os = "linux")]
        if let Some(threads) = linux::threads_of_this_process() {
            return Some(threads);
        }
        sysinfo::get_current_pid().ok().and_then(|pid| threads_of(system, pid))
    }

    fn threads_of(system: &mut System, pid: Pid) -> Option<usize> {
        let kind = ProcessRefreshKind::nothing().with_tasks();
        system.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), true, kind);
        // sysinfo 0.36 lists `/proc/<pid>/task` but skips the entry named `<pid>`: the main
        // thread. So `tasks` holds the other threads, and the main thread is one more.
        system.process(pid)?.tasks().map(|others| others.len() + 1)
    }

    #[cfg(target_os = "linux")]
    pub(super) mod linux {
        /// The `num_threads` field of `/proc/self/stat` (its 20th).
        pub(crate) fn threads_of_this_process() -> Option<usize> {
            let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
            threads_in_stat(&stat)
        }

        /// The 20th field of a `/proc/<pid>/stat` line. The second, the command name, is in
        /// parentheses and may hold spaces and parentheses itself: fields are counted from the
        /// last `)`, which ends it.
        pub(crate) fn threads_in_stat(stat: &str) -> Option<usize> {
            let after_name = &stat[stat.rfind(')')? + 1..];
            after_name.split_whitespace().nth(17)?.parse().ok()
        }
    }
}

#[cfg(all(test, feature = "sysinfo", target_os = "linux"))]
mod tests {
    use super::system::linux::threads_in_stat;

    #[test]
    fn the_thread_count_is_the_twentieth_field_counted_past_the_command_name() {
        // A command name may hold spaces and parentheses; the kernel's own format otherwise.
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 1043 0 0 0 5 3 0 0 20 0 7 0 \
                    81 12345 678 18446744073709551615";
        assert_eq!(threads_in_stat(stat), Some(7));
        assert_eq!(threads_in_stat("4242 (short) S 1 2 3"), None);
        assert_eq!(threads_in_stat("no name here"), None);
    }
}

//! Where readings come from: the [`Sampler`] trait, so tests inject readings, and the default
//! [`SystemSampler`] over `sysinfo` (feature `sysinfo`).

use std::future::Future;
use std::pin::Pin;

/// One sample of the machine and the process. A sampler leaves out what it cannot read.
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
}

impl Readings {
    /// Readings with the given CPU and memory percentages and thread count.
    pub fn new(cpu_percent: f64, memory_percent: f64, threads: usize) -> Self {
        Readings {
            cpu_percent: Some(cpu_percent),
            memory_percent: Some(memory_percent),
            threads: Some(threads),
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
    use tokio::task::{JoinHandle, spawn_blocking};

    use super::{Readings, Sampler};

    /// The default sampler: system CPU and memory and this process's threads, read with
    /// `sysinfo` on a blocking thread, refreshing only those.
    ///
    /// CPU use is measured between two refreshes: the first sample refreshes twice, 200 ms
    /// apart; later samples measure since the previous one.
    ///
    /// A read cannot be interrupted once it runs on its blocking thread. If the monitor gives
    /// a sample up, the read goes on and the next sample waits for it rather than starting
    /// another, so a hung `/proc` holds one blocking thread, not one per interval.
    #[derive(Debug, Default)]
    pub struct SystemSampler {
        system: Option<System>,
        /// The read of a sample that was given up, still running.
        reading: Option<JoinHandle<(System, Readings)>>,
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
            let reading = self.reading.get_or_insert_with(|| spawn_blocking(move || read(previous)));
            let read = reading.await;
            self.reading = None;
            match read {
                Ok((system, readings)) => {
                    self.system = Some(system);
                    readings
                }
                Err(error) => {
                    tracing::warn!(target: "bursar::health", %error, "reading the system failed");
                    Readings::default()
                }
            }
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
        let threads = sysinfo::get_current_pid().ok().and_then(|pid| threads_of(&mut system, pid));
        let cpu_percent = Some(f64::from(system.global_cpu_usage()).clamp(0.0, 100.0));
        (system, Readings { cpu_percent, memory_percent, threads })
    }

    fn threads_of(system: &mut System, pid: Pid) -> Option<usize> {
        let kind = ProcessRefreshKind::nothing().with_tasks();
        system.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), true, kind);
        // sysinfo 0.36 lists `/proc/<pid>/task` but skips the entry named `<pid>`: the main
        // thread. So `tasks` holds the other threads, and the main thread is one more.
        system.process(pid)?.tasks().map(|others| others.len() + 1)
    }
}

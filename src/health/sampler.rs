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

    use super::{Readings, Sampler};

    /// The default sampler: system CPU and memory and this process's threads, read with
    /// `sysinfo` on a blocking thread, refreshing only those.
    ///
    /// CPU use is measured between two refreshes: the first sample refreshes twice, 200 ms
    /// apart; later samples measure since the previous one.
    #[derive(Debug, Default)]
    pub struct SystemSampler {
        system: Option<System>,
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
            let read = tokio::task::spawn_blocking(move || read(previous)).await;
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
        // The process itself is a thread too; `tasks` lists the others.
        system.process(pid)?.tasks().map(|tasks| tasks.len().max(1))
    }
}

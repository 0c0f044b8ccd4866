//! [`Chaos`]: draws a fault per call from the seeded sequence and applies it.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use super::ChaosConfig;
use crate::BuildError;
use crate::retry::rng::SplitMix64;

/// What happens to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The call runs untouched.
    Pass,
    /// The call fails at once with the caller's error; the operation does not run.
    Fail,
    /// The call never finishes; the operation does not run.
    Stall,
    /// The operation runs after this delay.
    Late(Duration),
    /// The call panics; the operation does not run.
    Panic,
}

/// How many calls met each fault, counted exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ChaosStatus {
    /// Every call wrapped (or fault drawn).
    pub calls: u64,
    /// Calls left untouched.
    pub passed: u64,
    /// Calls failed on purpose.
    pub failed: u64,
    /// Calls stalled on purpose.
    pub stalled: u64,
    /// Calls delayed on purpose.
    pub late: u64,
    /// Calls that panicked on purpose.
    pub panicked: u64,
}

/// A seeded source of faults. Share it by reference (it is `Sync`) or in an `Arc`.
#[derive(Debug)]
pub struct Chaos {
    config: ChaosConfig,
    rng: Mutex<SplitMix64>,
    counts: [AtomicU64; 5],
}

impl Chaos {
    /// A fault source with these rates.
    ///
    /// # Errors
    ///
    /// [`BuildError::Invalid`] naming the field if a rate is out of range or they add up to
    /// more than 1 (see [`ChaosConfig::validate`]).
    pub fn new(config: ChaosConfig) -> Result<Self, BuildError> {
        config.validate()?;
        let rng = Mutex::new(SplitMix64::new(config.seed));
        Ok(Chaos { config, rng, counts: Default::default() })
    }

    /// Draws the next call's fault from the sequence and counts it.
    pub fn next_fault(&self) -> Fault {
        let draw = self.rng.lock().next_f64();
        let ChaosConfig { fail_rate, stall_rate, late_rate, panic_rate, late_by, .. } = self.config;
        let faults = [
            (fail_rate, Fault::Fail),
            (stall_rate, Fault::Stall),
            (late_rate, Fault::Late(late_by)),
            (panic_rate, Fault::Panic),
        ];
        let mut below = 0.0;
        let fault = faults
            .into_iter()
            .find(|(rate, _)| {
                below += rate;
                draw < below
            })
            .map_or(Fault::Pass, |(_, fault)| fault);
        // Relaxed: independent statistics.
        self.counts[index(fault)].fetch_add(1, Ordering::Relaxed);
        fault
    }

    /// Runs `operation` under the next fault: as it is, failed with `error()` without running
    /// it, stalled forever, delayed by `late_by`, or panicking. Every injected fault is a
    /// `tracing` event (`bursar::chaos`, DEBUG).
    ///
    /// # Errors
    ///
    /// The operation's own error, or `error()` when the fault is [`Fault::Fail`].
    ///
    /// # Panics
    ///
    /// On purpose, when the fault is [`Fault::Panic`] (message `"chaos: injected panic"`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future drops the operation; a stalled call ends only so.
    pub async fn wrap<F, T, E>(&self, operation: F, error: impl FnOnce() -> E) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        let fault = self.next_fault();
        if fault != Fault::Pass {
            tracing::debug!(target: "bursar::chaos", ?fault, "fault injected");
        }
        match fault {
            Fault::Pass => operation.await,
            Fault::Fail => Err(error()),
            Fault::Stall => std::future::pending().await,
            Fault::Late(delay) => {
                tokio::time::sleep(delay).await;
                operation.await
            }
            Fault::Panic => panic!("chaos: injected panic"),
        }
    }

    /// What has been injected so far.
    pub fn status(&self) -> ChaosStatus {
        // Relaxed: see `next_fault`.
        let [passed, failed, stalled, late, panicked] =
            self.counts.each_ref().map(|count| count.load(Ordering::Relaxed));
        ChaosStatus {
            calls: passed + failed + stalled + late + panicked,
            passed,
            failed,
            stalled,
            late,
            panicked,
        }
    }

    /// The configuration it was made with.
    pub fn config(&self) -> &ChaosConfig {
        &self.config
    }
}

fn index(fault: Fault) -> usize {
    match fault {
        Fault::Pass => 0,
        Fault::Fail => 1,
        Fault::Stall => 2,
        Fault::Late(_) => 3,
        Fault::Panic => 4,
    }
}

//! The governor's retry policy: the configured schedule and limits, and the budget shared by
//! every call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::rng::SplitMix64;
use super::{ExponentialBackoff, ExponentialDelays, RetryBudget};
use crate::{BuildError, RetryConfig};

#[derive(Debug)]
pub(crate) struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) deadline: Option<Duration>,
    backoff: ExponentialBackoff,
    budget: Option<RetryBudget>,
    /// Calls not yet deposited into the budget: the hot path only counts, and the count is
    /// settled into the budget when a retry is considered.
    undeposited_calls: AtomicU64,
    /// Numbers the calls that fail, so a seeded policy gives each its own jitter sequence.
    failing_calls: AtomicU64,
}

impl RetryPolicy {
    pub(crate) fn new(config: &RetryConfig) -> Result<Self, BuildError> {
        Ok(RetryPolicy {
            max_attempts: config.max_attempts,
            deadline: config.deadline,
            backoff: config.backoff(),
            budget: config.budget.build()?,
            undeposited_calls: AtomicU64::new(0),
            failing_calls: AtomicU64::new(0),
        })
    }

    /// Counts one call into the budget.
    pub(crate) fn record_call(&self) {
        if self.budget.is_some() {
            // Relaxed: a count settled under the budget's lock; no other data depends on it.
            self.undeposited_calls.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A fresh schedule for one call's retries.
    pub(crate) fn schedule(&self) -> ExponentialDelays {
        let Some(seed) = self.backoff.seed() else {
            return self.backoff.into_iter();
        };
        // Relaxed: only uniqueness of the number matters.
        let call = self.failing_calls.fetch_add(1, Ordering::Relaxed);
        let mixed = SplitMix64::new(seed ^ call.rotate_left(32)).next_u64();
        self.backoff.with_seed(mixed).into_iter()
    }

    /// Takes one retry from the budget; false if the budget is spent.
    pub(crate) fn allow_retry(&self) -> bool {
        let Some(budget) = &self.budget else {
            return true;
        };
        let now = Instant::now();
        // Relaxed: see `record_call`.
        let calls = self.undeposited_calls.swap(0, Ordering::Relaxed);
        if calls > 0 {
            budget.deposit_many(now, calls);
        }
        budget.withdraw(now)
    }
}

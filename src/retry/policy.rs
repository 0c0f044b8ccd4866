//! The governor's retry policy: the configured schedule and limits, and the budget shared by
//! every call.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use super::rng::SplitMix64;
use super::{ExponentialBackoff, ExponentialDelays, RetryBudget};
use crate::{BuildError, RetryConfig};

#[derive(Debug)]
pub(crate) struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) deadline: Option<Duration>,
    backoff: ExponentialBackoff,
    budget: Option<RetryBudget>,
    /// Calls not yet deposited into the budget: the hot path only counts (it reads no clock),
    /// and the count is settled into the budget when a retry is considered and by the
    /// governor's settler once every budget slot, so no call is deposited more than one slot
    /// (a tenth of the budget's time-to-live) after it was made.
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
    #[inline]
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
        self.settle(budget, now);
        budget.withdraw(now)
    }

    /// Deposits the calls counted since the last settlement, as made at `now`.
    fn settle(&self, budget: &RetryBudget, now: Instant) {
        // Relaxed: see `record_call`.
        let calls = self.undeposited_calls.swap(0, Ordering::Relaxed);
        if calls > 0 {
            budget.deposit_many(now, calls);
        }
    }

    /// The background task that settles counted calls into the budget once per budget slot;
    /// `None` when there is no budget. Without it, calls counted during an hour of healthy
    /// traffic would all be deposited as new at the first failure, and the budget would not
    /// bind at the start of an outage.
    pub(crate) fn settler(self: &Arc<Self>) -> Option<impl Future<Output = ()> + Send + 'static> {
        let width = self.budget.as_ref()?.slot_width();
        let policy = Arc::clone(self);
        Some(async move {
            let mut ticks = tokio::time::interval(width);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Some(budget) = &policy.budget {
                    policy.settle(budget, Instant::now());
                }
            }
        })
    }
}

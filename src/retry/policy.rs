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
    /// The budget's count of calls is derived, so the hot path adds nothing to it: a call
    /// counts once its first attempt has ended, as a success (the worker pool's count of calls
    /// completed, less those that succeeded only on a retry) or as a failure (counted here, on
    /// the failure's path). `settle` deposits the growth of that total since the last
    /// settlement; it runs when a retry is considered and from the governor's settler once
    /// every budget slot, so no call is deposited more than one slot (a tenth of the budget's
    /// time-to-live) after its first attempt ended. A deposit per call would be simpler but
    /// is not free on the hot path: an atomic add per call (still settled by the settler), or a
    /// clock read per call to stamp each deposit with its slot (no settler, as tower's
    /// `TpsBudget` does), each costs a governed call more than the noise; the derived count
    /// is read only when a retry is considered and once per slot.
    first_failures: AtomicU64,
    /// Calls that completed on a retry: in the completed count, but already counted here.
    retried_successes: AtomicU64,
    /// The derived total deposited so far, raised with `fetch_max`. A total read while counts
    /// move can only be low (see `settle`), so a call is deposited late, never twice.
    deposited: AtomicU64,
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
            first_failures: AtomicU64::new(0),
            retried_successes: AtomicU64::new(0),
            deposited: AtomicU64::new(0),
            failing_calls: AtomicU64::new(0),
        })
    }

    /// Counts a call whose first attempt failed (retryable or not) into the budget.
    pub(crate) fn first_attempt_failed(&self) {
        if self.budget.is_some() {
            // Relaxed: see `deposited`; no other data depends on it.
            self.first_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes back a call that completed on a retry: its first failure counted it already.
    pub(crate) fn retry_succeeded(&self) {
        if self.budget.is_some() {
            // Release: whoever sees this count sees the call's first failure (see `settle`).
            self.retried_successes.fetch_add(1, Ordering::Release);
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

    /// Takes one retry from the budget; false if the budget is spent. `completed` is the
    /// worker pool's count of calls completed.
    pub(crate) fn allow_retry(&self, completed: u64) -> bool {
        let Some(budget) = &self.budget else {
            return true;
        };
        let now = Instant::now();
        self.settle(budget, now, completed);
        budget.withdraw(now)
    }

    /// Deposits the calls whose first attempt ended since the last settlement, as made at
    /// `now`; `completed` is the worker pool's count of calls completed.
    fn settle(&self, budget: &RetryBudget, now: Instant, completed: u64) {
        // A retried call counts its first failure, then its retried success, then leaves the
        // drain (a release), which is what `completed` counts. Read in the opposite order,
        // each with acquire, a call seen completed is seen retried and failed, and one seen
        // retried is seen failed: every call adds 0 or 1 to the total, and 1 only once its
        // first attempt has ended. So the total is never above the truth.
        let retried = self.retried_successes.load(Ordering::Acquire);
        // Relaxed: ordered by the acquire load above; see `deposited`.
        let failed = self.first_failures.load(Ordering::Relaxed);
        let total = (completed + failed).saturating_sub(retried);
        // Relaxed: the deposit itself is made under the budget's lock.
        let before = self.deposited.fetch_max(total, Ordering::Relaxed);
        if total > before {
            budget.deposit_many(now, total - before);
        }
    }

    /// The background task that settles counted calls into the budget once per budget slot;
    /// `None` when there is no budget. Without it, calls counted during an hour of healthy
    /// traffic would all be deposited as new at the first failure, and the budget would not
    /// bind at the start of an outage.
    /// `completed` reads the worker pool's count of calls completed.
    pub(crate) fn settler(
        self: &Arc<Self>,
        completed: impl Fn() -> u64 + Send + 'static,
    ) -> Option<impl Future<Output = ()> + Send + 'static> {
        let width = self.budget.as_ref()?.slot_width();
        let policy = Arc::clone(self);
        Some(async move {
            let mut ticks = tokio::time::interval(width);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Some(budget) = &policy.budget {
                    policy.settle(budget, Instant::now(), completed());
                }
            }
        })
    }
}

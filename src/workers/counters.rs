//! Exact counts of how governed work ended.

use crate::Rejection;
use crate::counter_set::CounterSet;

/// One thing that can happen to a call; each has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Count {
    /// Spawned work (`spawn`, `spawn_blocking`) that succeeded. Successes of calls and tasks
    /// together are counted by the drain (`Drain::succeeded`); tasks also here, because the
    /// retry budget counts calls only.
    TaskCompleted,
    Failed,
    /// Cut off at the max task duration.
    TimedOut,
    /// Ended by its last attempt running past the attempt timeout.
    AttemptTimedOut,
    Panicked,
    Cancelled,
    Abandoned,
    Retries,
    BudgetExhausted,
    QueueFull,
    QueueTimeout,
    ShuttingDown,
    Overloaded,
    CircuitOpen,
    FleetUnavailable,
    CostTooHigh,
}

const KINDS: usize = Count::CostTooHigh as usize + 1;

#[derive(Debug, Default)]
pub(crate) struct Counters(CounterSet<KINDS>);

impl Counters {
    #[inline]
    pub(crate) fn add(&self, count: Count) {
        self.0.add(count as usize, 1);
        match count {
            Count::Retries => crate::telemetry::retried(),
            Count::BudgetExhausted => crate::telemetry::budget_exhausted(),
            _ => {}
        }
    }

    pub(crate) fn get(&self, count: Count) -> u64 {
        self.0.get(count as usize)
    }

    pub(crate) fn add_rejection(&self, rejection: Rejection) {
        self.add(match rejection {
            Rejection::QueueFull { .. } => Count::QueueFull,
            Rejection::QueueTimeout { .. } => Count::QueueTimeout,
            Rejection::ShuttingDown => Count::ShuttingDown,
            Rejection::Overloaded { .. } => Count::Overloaded,
            Rejection::CircuitOpen { .. } => Count::CircuitOpen,
            Rejection::FleetUnavailable => Count::FleetUnavailable,
            Rejection::CostTooHigh { .. } => Count::CostTooHigh,
        });
    }

    pub(crate) fn rejected(&self) -> u64 {
        [
            Count::QueueFull,
            Count::QueueTimeout,
            Count::ShuttingDown,
            Count::Overloaded,
            Count::CircuitOpen,
            Count::FleetUnavailable,
            Count::CostTooHigh,
        ]
        .into_iter()
        .map(|count| self.get(count))
        .sum()
    }
}

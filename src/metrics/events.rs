//! The metrics recorded as things happen: how each call ended, rejections, retries, and each
//! wait for a worker.
//!
//! Every label here is a literal, so the `metrics` macros build a static key: recording
//! allocates nothing, and without a recorder it is a thread-local read and a return.

use metrics::{counter, histogram};

use super::{
    CALLS_TOTAL, QUEUE_WAIT_SECONDS, REJECTIONS_TOTAL, RETRIES_TOTAL, RETRY_BUDGET_EXHAUSTED_TOTAL,
    WORKERS_ADAPTIVE_CHANGES_TOTAL,
};
use crate::contain::recording;
use crate::telemetry::LaneLabel;
use crate::workers::limit::LimitReason;
use crate::{Error, Rejection};

/// Counts how a settled call ended: `ok`, `error`, `timeout`, `panic` or `cancelled`.
pub(crate) fn settled<T, E>(result: &Result<T, Error<E>>) {
    recording(|| {
        let counter = match result {
            Ok(_) => counter!(CALLS_TOTAL, "outcome" => "ok"),
            Err(Error::Operation(_)) => counter!(CALLS_TOTAL, "outcome" => "error"),
            Err(Error::Timeout { .. } | Error::AttemptTimeout { .. }) => {
                counter!(CALLS_TOTAL, "outcome" => "timeout")
            }
            Err(Error::Panicked { .. }) => counter!(CALLS_TOTAL, "outcome" => "panic"),
            Err(Error::Cancelled) => counter!(CALLS_TOTAL, "outcome" => "cancelled"),
            Err(Error::LeaseLost) => counter!(CALLS_TOTAL, "outcome" => "lease_lost"),
            // Counted by `rejected`, which every rejection passes through with its reason; an
            // aborted task's end was counted as `abandoned` when its work was dropped.
            Err(Error::Rejected(_) | Error::Aborted) => return,
        };
        counter.increment(1);
    });
}

/// Counts a call dropped by its caller before it ended.
pub(crate) fn abandoned() {
    recording(|| {
        counter!(CALLS_TOTAL, "outcome" => "abandoned").increment(1);
    });
}

/// Counts a call that ended turned away: its reason, and its end as `rejected`.
pub(crate) fn rejected(rejection: Rejection) {
    recording(|| {
        let reason = match rejection {
            Rejection::QueueFull { .. } => counter!(REJECTIONS_TOTAL, "reason" => "queue_full"),
            Rejection::QueueTimeout { .. } => counter!(REJECTIONS_TOTAL, "reason" => "queue_timeout"),
            Rejection::ShuttingDown => counter!(REJECTIONS_TOTAL, "reason" => "shutting_down"),
            Rejection::Overloaded { .. } => counter!(REJECTIONS_TOTAL, "reason" => "overloaded"),
            Rejection::CircuitOpen { .. } => counter!(REJECTIONS_TOTAL, "reason" => "circuit_open"),
            Rejection::FleetUnavailable => counter!(REJECTIONS_TOTAL, "reason" => "fleet_unavailable"),
            Rejection::CostTooHigh { .. } => counter!(REJECTIONS_TOTAL, "reason" => "cost_too_high"),
        };
        reason.increment(1);
        counter!(CALLS_TOTAL, "outcome" => "rejected").increment(1);
    });
}

/// Counts a retry that ran.
pub(crate) fn retried() {
    recording(|| counter!(RETRIES_TOTAL).increment(1));
}

/// Counts a call that stopped retrying because the retry budget was spent.
pub(crate) fn budget_exhausted() {
    recording(|| counter!(RETRY_BUDGET_EXHAUSTED_TOTAL).increment(1));
}

/// Records one wait for a worker of `lane`, in seconds.
pub(crate) fn queue_waited(lane: LaneLabel, seconds: f64) {
    recording(|| {
        let histogram = match lane {
            LaneLabel::Tasks => histogram!(QUEUE_WAIT_SECONDS, "lane" => "tasks"),
            LaneLabel::Blocking => histogram!(QUEUE_WAIT_SECONDS, "lane" => "blocking"),
        };
        histogram.record(seconds);
    });
}

/// Counts a change of an adaptive worker limit, by its reason.
pub(crate) fn limit_changed(reason: LimitReason) {
    recording(|| {
        let counter = match reason {
            LimitReason::Started => counter!(WORKERS_ADAPTIVE_CHANGES_TOTAL, "reason" => "started"),
            LimitReason::Grew => counter!(WORKERS_ADAPTIVE_CHANGES_TOTAL, "reason" => "grew"),
            LimitReason::LatencyRose => counter!(WORKERS_ADAPTIVE_CHANGES_TOTAL, "reason" => "latency_rose"),
            LimitReason::Overloaded => counter!(WORKERS_ADAPTIVE_CHANGES_TOTAL, "reason" => "overloaded"),
            LimitReason::Probing => counter!(WORKERS_ADAPTIVE_CHANGES_TOTAL, "reason" => "probing"),
            LimitReason::Probed => counter!(WORKERS_ADAPTIVE_CHANGES_TOTAL, "reason" => "probed"),
        };
        counter.increment(1);
    });
}

//! The error types: [`Error`] for governed calls, [`Rejection`] for work the governor turned
//! away, and [`BuildError`] for configuration that breaks a rule.

use std::fmt;
use std::time::Duration;

/// Why a governed call failed.
///
/// Generic over the operation's own error `E`, which is kept as it is in
/// [`Error::Operation`] — never turned into a string.
///
/// # Examples
///
/// ```
/// use bursar::{Error, Rejection};
///
/// fn describe(error: &Error<std::io::Error>) -> String {
///     match error {
///         Error::Operation(io) => format!("the operation failed: {io}"),
///         Error::Rejected(Rejection::QueueFull { limit }) => format!("{limit} calls already wait"),
///         Error::Rejected(other) => format!("turned away: {other}"),
///         Error::Timeout { after } => format!("cut off after {after:?}"),
///         Error::AttemptTimeout { after } => format!("the last attempt gave up after {after:?}"),
///         Error::Panicked { message } => format!("the work panicked: {message}"),
///         Error::Cancelled => "cancelled by shutdown".to_owned(),
///         _ => "another failure".to_owned(),
///     }
/// }
/// let error = Error::<std::io::Error>::Rejected(Rejection::ShuttingDown);
/// assert_eq!(describe(&error), "turned away: the governor is shutting down");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error<E> {
    /// The governor turned the call away before the operation ran.
    Rejected(Rejection),
    /// The call or task ran past the max task duration and was cut off: its future was
    /// dropped. Counted in [`WorkerStatus::timed_out`](crate::WorkerStatus::timed_out); never
    /// retried.
    Timeout {
        /// The max task duration.
        after: Duration,
    },
    /// The last attempt ran past its own timeout ([`Call::timeout`](crate::Call::timeout)) and
    /// was cancelled; earlier attempts may have been made. Counted in
    /// [`WorkerStatus::attempt_timeouts`](crate::WorkerStatus::attempt_timeouts).
    AttemptTimeout {
        /// The attempt timeout.
        after: Duration,
    },
    /// The operation panicked. Its permit was released and the governor keeps working.
    Panicked {
        /// The panic's message, or `"<non-string panic payload>"`.
        message: String,
    },
    /// The governor cancelled the operation because a shutdown's grace period ended.
    Cancelled,
    /// A spawned task was aborted through [`TaskHandle::abort`](crate::TaskHandle::abort) (or
    /// its runtime shut down) before it ended.
    Aborted,
    /// The call's fleet lease was lost while the operation ran (a renewal found it gone: the
    /// process was paused past the lease's TTL, or the backend lost it), so the governor
    /// cancelled the operation: work holding no lease would overshoot the fleet's cap. Never
    /// retried. See [`fleet`](crate::fleet).
    ///
    /// A unit variant: a payload would cost every call's result a word (it would take the
    /// enum's niche); the lost lease's token is in the `WARN` event.
    LeaseLost,
    /// The operation itself returned this error.
    Operation(E),
}

impl<E> Error<E> {
    /// The rejection, if the governor turned the call away.
    pub fn rejection(&self) -> Option<Rejection> {
        match self {
            Error::Rejected(rejection) => Some(*rejection),
            _ => None,
        }
    }

    /// When to try again, if the error says: an open circuit's wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Rejected(Rejection::CircuitOpen { retry_after }) => Some(*retry_after),
            _ => None,
        }
    }

    /// The operation's own error, if that is what failed.
    pub fn into_operation(self) -> Option<E> {
        match self {
            Error::Operation(error) => Some(error),
            _ => None,
        }
    }

    /// Converts the operation's error with `f`, keeping every other variant.
    pub fn map_operation<F, E2>(self, f: F) -> Error<E2>
    where
        F: FnOnce(E) -> E2,
    {
        match self {
            Error::Rejected(rejection) => Error::Rejected(rejection),
            Error::Timeout { after } => Error::Timeout { after },
            Error::AttemptTimeout { after } => Error::AttemptTimeout { after },
            Error::Panicked { message } => Error::Panicked { message },
            Error::Cancelled => Error::Cancelled,
            Error::Aborted => Error::Aborted,
            Error::LeaseLost => Error::LeaseLost,
            Error::Operation(error) => Error::Operation(f(error)),
        }
    }
}

impl<E> From<Rejection> for Error<E> {
    fn from(rejection: Rejection) -> Self {
        Error::Rejected(rejection)
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Rejected(rejection) => write!(f, "rejected: {rejection}"),
            Error::Timeout { after } => write!(f, "cut off at the max task duration of {after:?}"),
            Error::AttemptTimeout { after } => write!(f, "the last attempt timed out after {after:?}"),
            Error::Panicked { message } => write!(f, "the operation panicked: {message}"),
            Error::Cancelled => f.write_str("cancelled by the governor's shutdown"),
            Error::Aborted => f.write_str("the task was aborted"),
            Error::LeaseLost => f.write_str("the fleet lease was lost; the operation was cancelled"),
            // Transparent: the user sees their own error's message.
            Error::Operation(error) => error.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Rejected(rejection) => Some(rejection),
            Error::Operation(error) => error.source(),
            _ => None,
        }
    }
}

/// Why the governor turned work away before it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Every worker was busy and `limit` calls were already waiting.
    #[error("the wait queue is full ({limit} calls already wait)")]
    QueueFull {
        /// The configured queue limit.
        limit: usize,
    },
    /// The call waited for a worker longer than the queue timeout.
    #[error("no worker became free within the queue timeout of {waited:?}")]
    QueueTimeout {
        /// How long the call waited.
        waited: Duration,
    },
    /// The governor is shutting down and admits no new work.
    #[error("the governor is shutting down")]
    ShuttingDown,
    /// The circuit breaker is open: the dependency failed too often, so calls fail fast
    /// without taking a queue place until the breaker admits a probe.
    #[error("the circuit is open; retry after {retry_after:?}")]
    CircuitOpen {
        /// How long until the breaker admits a probe (zero when every probe slot is taken).
        retry_after: Duration,
    },
    /// The service's health is critical, so new work is shed until it recovers.
    #[error("the service is overloaded (health {level}); new work is shed")]
    Overloaded {
        /// The health level that sheds work.
        level: crate::health::HealthLevel,
    },
    /// The fleet backend could not be asked for a lease and `fleet.on_backend_down` refuses the
    /// call (`fail_closed`, or `local_share` with this process's share of the cap in use).
    #[error("the fleet backend is down and the call was refused")]
    FleetUnavailable,
    /// The call's [`cost`](crate::Call::cost) is more than memory-aware admission ever admits —
    /// the machine's memory less `health.memory_floor` — so no wait could admit it. Known from
    /// the health monitor's first reading; a call already waiting ends at the next one.
    #[error(
        "the call's cost of {cost} bytes is more than the memory floor ever admits \
         ({most} bytes: the machine's memory less the floor)"
    )]
    CostTooHigh {
        /// The call's cost, in bytes.
        cost: u64,
        /// The most any call can reserve, in bytes: the machine's memory less the floor.
        most: u64,
    },
}

/// A configuration value broke a rule, found by [`GovernorBuilder::build`](crate::GovernorBuilder::build).
///
/// # Examples
///
/// ```
/// let error = bursar::Governor::builder().max_workers(0).build().unwrap_err();
/// assert_eq!(error.field(), Some("workers.max_workers"));
/// assert_eq!(error.to_string(), "invalid configuration: `workers.max_workers` must be at least 1 (got 0)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `field` has a value that breaks `rule`.
    #[error("invalid configuration: `{field}` {rule} (got {value})")]
    Invalid {
        /// The field's path in [`GovernorConfig`](crate::GovernorConfig), e.g. `workers.max_workers`,
        /// the builder method at fault, e.g. `on_error`, or `name`, the name given to
        /// [`Governor::pool`](crate::Governor::pool).
        field: &'static str,
        /// The rule it broke, e.g. `must be at least 1`.
        rule: &'static str,
        /// The offending value, as written in the configuration.
        value: String,
    },
    /// `build()` was called outside a Tokio runtime; the governor needs one to spawn work.
    #[error("a Governor must be built inside a Tokio runtime (none is running on this thread)")]
    NoRuntime,
    /// A pool was started with [`Governor::pool`](crate::Governor::pool) after the governor's
    /// [`shutdown`](crate::Governor::shutdown) began: it would lease the governor's ports and
    /// never be closed.
    #[error("the governor is shut down and starts no more pools")]
    ShutDown,
}

/// A value given to a running governor breaks a rule (see
/// [`Governor::set_max_workers`](crate::Governor::set_max_workers)): which setting, which rule,
/// and the value. The same rule at `build()` is a [`BuildError::Invalid`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value: `{field}` {rule} (got {value})")]
#[non_exhaustive]
pub struct InvalidValue {
    /// The setting's path in [`GovernorConfig`](crate::GovernorConfig), e.g. `workers.max_workers`.
    pub field: &'static str,
    /// The rule it broke, e.g. `must be at least 1`.
    pub rule: &'static str,
    /// The offending value.
    pub value: String,
}

impl From<InvalidValue> for BuildError {
    fn from(InvalidValue { field, rule, value }: InvalidValue) -> Self {
        BuildError::Invalid { field, rule, value }
    }
}

impl BuildError {
    /// `field` breaks `rule` with `value`, shown by its `Display`: the constructor every part's
    /// validation uses.
    pub(crate) fn invalid(field: &'static str, rule: &'static str, value: impl std::fmt::Display) -> Self {
        BuildError::Invalid { field, rule, value: value.to_string() }
    }

    /// [`invalid`](Self::invalid), with `value` shown by its `Debug` (a duration, a quoted name).
    pub(crate) fn invalid_debug(
        field: &'static str,
        rule: &'static str,
        value: impl std::fmt::Debug,
    ) -> Self {
        BuildError::Invalid { field, rule, value: format!("{value:?}") }
    }

    /// The configuration field at fault, if a field is.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            BuildError::Invalid { field, .. } => Some(field),
            BuildError::NoRuntime | BuildError::ShutDown => None,
        }
    }
}

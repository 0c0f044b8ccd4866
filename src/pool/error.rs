//! [`PoolError`]: why a `get` gave no connection.

use std::time::Duration;

use crate::ports::PortError;

/// Why [`Pool::get`](super::Pool::get) gave no connection.
///
/// Generic over the manager's own error `E`, which is kept as it is in
/// [`PoolError::Manager`] — never turned into a string.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use bursar::pool::PoolError;
///
/// fn should_retry(error: &PoolError<std::io::Error>) -> bool {
///     match error {
///         PoolError::Timeout { .. } | PoolError::Ports(_) => true,
///         PoolError::Manager(io) => io.kind() == std::io::ErrorKind::ConnectionRefused,
///         PoolError::Closed => false,
///         _ => false,
///     }
/// }
/// let error = PoolError::<std::io::Error>::Timeout { waited: Duration::from_secs(30) };
/// assert!(should_retry(&error));
/// assert_eq!(error.to_string(), "no connection within the checkout timeout of 30s");
///
/// // The manager's error is shown as it reads (`Display`), not as it is built (`Debug`).
/// let refused = PoolError::Manager(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
/// assert_eq!(refused.to_string(), "the manager could not create a connection: connection refused");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError<E> {
    /// Nothing was free within the checkout timeout (waiting, creating and checking included).
    #[error("no connection within the checkout timeout of {waited:?}")]
    Timeout {
        /// How long the `get` waited: the checkout timeout.
        waited: Duration,
    },
    /// The manager's `create` failed: its error, as it is; the message shows it with `Display`.
    #[error("the manager could not create a connection: {0}")]
    Manager(E),
    /// A port the new connection needs could not be leased.
    #[error("no port for a new connection: {0}")]
    Ports(#[source] PortError),
    /// The manager's `create` panicked, with this message. The panic was contained (an
    /// `ERROR` event, counted in [`PoolStatus::callback_panics`](super::PoolStatus::callback_panics)),
    /// and the new connection's place and ports were given back.
    #[error("the manager's create panicked: {message}")]
    ManagerPanicked {
        /// The panic's message.
        message: String,
    },
    /// The pool is closed: [`Pool::close`](super::Pool::close) was called.
    #[error("the pool is closed")]
    Closed,
    /// The pool's `create_cost` is more than memory-aware admission ever admits — the
    /// machine's memory less `health.memory_floor` — so no connection can be created.
    #[error(
        "a new connection's create cost of {cost} bytes is more than the memory floor ever \
         admits ({most} bytes: the machine's memory less the floor)"
    )]
    CreateCostTooHigh {
        /// The pool's `create_cost`, in bytes.
        cost: u64,
        /// The most any work can reserve, in bytes: the machine's memory less the floor.
        most: u64,
    },
}

impl<E> PoolError<E> {
    /// The manager's own error, if that is what failed.
    pub fn into_manager(self) -> Option<E> {
        match self {
            PoolError::Manager(error) => Some(error),
            _ => None,
        }
    }
}

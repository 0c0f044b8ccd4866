//! The errors a governed tower service fails with.

use std::error::Error as StdError;
use std::fmt;

/// Tower's boxed error type: what every tower middleware fails with.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// What a governed service's boxed error holds: downcast a [`BoxError`] to it.
///
/// # Examples
///
/// ```
/// use bursar::tower::{BoxError, GovernedError};
/// use bursar::{Error, Rejection};
///
/// let boxed: BoxError = Box::new(GovernedError::Rejected(Rejection::ShuttingDown));
/// match boxed.downcast_ref::<GovernedError>() {
///     Some(Error::Rejected(rejection)) => assert_eq!(*rejection, Rejection::ShuttingDown),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
pub type GovernedError = crate::Error<ServiceError>;

/// The inner service's own error (converted into a [`BoxError`]), inside
/// [`Error::Operation`](crate::Error::Operation). Its message and source are the inner error's.
#[derive(Debug)]
pub struct ServiceError(pub(crate) BoxError);

impl ServiceError {
    pub(crate) fn new(error: impl Into<BoxError>) -> Self {
        ServiceError(error.into())
    }

    /// The inner service's error.
    pub fn get_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }

    /// The inner service's error, if it is a `T`.
    pub fn downcast_ref<T: StdError + 'static>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }

    /// Gives back the inner service's error.
    pub fn into_inner(self) -> BoxError {
        self.0
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Transparent: the user sees their own service's message.
        self.0.fmt(f)
    }
}

impl StdError for ServiceError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

/// Boxes a governed call's error for tower.
pub(crate) fn boxed(error: GovernedError) -> BoxError {
    Box::new(error)
}

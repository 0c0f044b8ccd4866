//! [`TaskHandle`]: the result of spawned work, or a way to abort it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::task::JoinHandle;

use crate::Error;
use crate::contain::panic_message;

/// A handle to work started by [`Governor::spawn`](crate::Governor::spawn) or
/// [`spawn_blocking`](crate::Governor::spawn_blocking).
///
/// Await it for the work's result; drop it to let the work go on alone (its failure is still
/// logged and counted). Dropping never cancels the work; [`abort`](Self::abort) does.
pub struct TaskHandle<T, E> {
    join: JoinHandle<Result<T, Error<E>>>,
}

impl<T, E> TaskHandle<T, E> {
    pub(super) fn new(join: JoinHandle<Result<T, Error<E>>>) -> Self {
        TaskHandle { join }
    }

    /// Cancels the work. It releases its worker and is counted as `abandoned`; awaiting the
    /// handle then gives [`Error::Aborted`]. A blocking closure already running cannot be
    /// stopped and keeps its thread until it returns.
    pub fn abort(&self) {
        self.join.abort();
    }

    /// Whether the work has ended.
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }
}

impl<T, E> Future for TaskHandle<T, E> {
    type Output = Result<T, Error<E>>;

    /// # Cancel safety
    ///
    /// Cancel safe: dropping the handle detaches the work, it does not stop it.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match ready!(Pin::new(&mut self.join).poll(cx)) {
            Ok(result) => result,
            Err(error) if error.is_panic() => {
                Err(Error::Panicked { message: panic_message(error.into_panic().as_ref()) })
            }
            Err(_aborted) => Err(Error::Aborted),
        })
    }
}

impl<T, E> fmt::Debug for TaskHandle<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle").field("id", &self.join.id()).finish()
    }
}

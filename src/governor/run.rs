//! The call path: admission, a worker permit, the supervised operation, its outcome.

use std::future::Future;
use std::ops::Deref;

use super::Governor;
use crate::Error;
use crate::workers::{InFlight, Lane, Permit, Ticket, Workers, supervise};

impl Governor {
    /// Runs `op` under the governor: it waits for a worker (or is rejected), runs at most
    /// the max task duration, and a panic inside it becomes [`Error::Panicked`].
    ///
    /// `op` is a closure that makes the operation's future, so a call can be attempted again.
    ///
    /// # Errors
    ///
    /// - [`Error::Rejected`]: the queue was full, the queue timeout passed, or the governor is
    ///   shutting down.
    /// - [`Error::Timeout`]: the operation ran past the max task duration and was cancelled.
    /// - [`Error::Panicked`]: the operation panicked.
    /// - [`Error::Cancelled`]: a shutdown's grace period ended first.
    /// - [`Error::Operation`]: the operation's own error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropping the future at any point — waiting in the queue or running —
    /// drops the operation, frees its queue place or worker, and counts the call as
    /// `abandoned`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), bursar::BuildError> {
    /// let gov = bursar::Governor::builder().build()?;
    /// let page = gov.run(|| async { Ok::<_, std::io::Error>("<html>") }).await;
    /// assert_eq!(page.unwrap(), "<html>");
    ///
    /// let failed = gov.run(|| async { Err::<(), _>("driver closed the connection") }).await;
    /// assert!(matches!(failed, Err(bursar::Error::Operation("driver closed the connection"))));
    /// # Ok(()) }
    /// ```
    pub async fn run<F, Fut, T, E>(&self, mut op: F) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let workers = &*self.workers;
        let call = InFlight::enter(workers)?;
        let op = &mut op;
        let ticket = Ticket::reserve(&*workers.tasks);
        execute(call, ticket, |permit| async move {
            let _worker = permit;
            op().await
        })
        .await
    }
}

/// Waits for the ticket's permit, starts the work with it, supervises it, settles the outcome.
/// `start` owns the permit: the work holds its worker until it ends or is dropped.
pub(super) async fn execute<W, L, S, Fut, T, E>(
    mut call: InFlight<W>,
    ticket: Result<Ticket<L>, crate::Rejection>,
    start: S,
) -> Result<T, Error<E>>
where
    W: Deref<Target = Workers>,
    L: Deref<Target = Lane> + Clone,
    S: FnOnce(Permit<L>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let permit = match ticket {
        Ok(ticket) => ticket.ready().await,
        Err(rejection) => Err(rejection),
    };
    let permit = permit.map_err(|rejection| call.reject(rejection))?;
    let workers = call.workers();
    let outcome = supervise(|| start(permit), workers.max_task_duration, &workers.drain).await;
    call.settle(outcome)
}

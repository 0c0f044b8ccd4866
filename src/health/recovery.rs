//! Where recovery callbacks run: one runner task per governor owns every running recovery in
//! a `JoinSet`, so stopping the runner (shutdown, or the last governor handle dropped) stops
//! them all — a hung recovery cannot outlive its governor — and finished ones are reaped as
//! they end, so nothing piles up over a long life.

use std::future::poll_fn;
use std::sync::OnceLock;
use std::task::Poll;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinSet;

use super::hooks::Boxed;

/// The runner task is gone (the governor shut down), so a recovery was not run.
#[derive(Debug)]
pub(crate) struct RunnerStopped;

/// The way into the runner task, which is started on the first recovery.
#[derive(Debug, Default)]
pub(crate) struct RecoveryRunner {
    jobs: OnceLock<UnboundedSender<Boxed<()>>>,
}

impl RecoveryRunner {
    /// Hands `job` to the runner. The first call starts the runner by passing it to `start`,
    /// which must spawn and track it.
    ///
    /// # Errors
    ///
    /// [`RunnerStopped`] if the runner task has been stopped; `job` is dropped.
    pub(crate) fn submit(&self, job: Boxed<()>, start: impl FnOnce(Boxed<()>)) -> Result<(), RunnerStopped> {
        let jobs = self.jobs.get_or_init(|| {
            let (jobs, queue) = unbounded_channel();
            start(Box::pin(run(queue)));
            jobs
        });
        jobs.send(job).map_err(|_| RunnerStopped)
    }
}

/// Runs every job it receives on its own task, and reaps each as it ends, until the runner is
/// stopped or every sender is gone. Either way the `JoinSet` is dropped, which aborts every job
/// still running.
async fn run(mut queue: UnboundedReceiver<Boxed<()>>) {
    let mut running = JoinSet::new();
    poll_fn(|cx| {
        // Take new jobs first, so the reaping below registers for the ones just spawned.
        let open = loop {
            match queue.poll_recv(cx) {
                Poll::Ready(Some(job)) => {
                    running.spawn(job);
                }
                Poll::Ready(None) => break false,
                Poll::Pending => break true,
            }
        };
        while let Poll::Ready(Some(ended)) = running.poll_join_next(cx) {
            if let Err(error) = ended {
                tracing::warn!(target: "bursar::health", %error, "a recovery callback panicked");
            }
        }
        if open { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn job(ran: &Arc<AtomicUsize>) -> Boxed<()> {
        let ran = Arc::clone(ran);
        Box::pin(async move {
            ran.fetch_add(1, Ordering::SeqCst);
        })
    }

    #[tokio::test(start_paused = true)]
    async fn one_runner_outlives_a_panicking_job_and_stopping_it_drops_the_rest() {
        let (runner, ran) = (RecoveryRunner::default(), Arc::new(AtomicUsize::new(0)));
        let mut task = None;
        runner
            .submit(Box::pin(async { panic!("a broken recovery") }), |run| task = Some(tokio::spawn(run)))
            .unwrap();
        runner.submit(job(&ran), |_| panic!("started twice")).unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(ran.load(Ordering::SeqCst), 1, "the job after the panic ran");

        let held = Arc::new(());
        let holder = Arc::clone(&held);
        let hung = Box::pin(async move {
            let _holder = holder;
            std::future::pending::<()>().await;
        });
        runner.submit(hung, |_| panic!("started twice")).unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(Arc::strong_count(&held), 2, "the hung job is running");
        task.unwrap().abort();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(Arc::strong_count(&held), 1, "stopping the runner dropped the hung job");
        assert!(runner.submit(job(&ran), |_| panic!("started twice")).is_err());
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }
}

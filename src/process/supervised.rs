//! `Supervised`: a child process started in its own group and watched for its exit.

use std::io;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::watch;

/// A child process under supervision: started in a process group of its own, its exit watched
/// and reported, stopped with every process of its group reaped. See the [module](super) docs.
///
/// Dropping it without [`stop`](Self::stop) sends SIGKILL to its group and reaps the group in
/// the background (on the runtime it was spawned on).
#[derive(Debug)]
#[must_use = "dropping a `Supervised` kills its process group at once"]
pub struct Supervised {
    pub(super) name: Arc<str>,
    pub(super) pid: u32,
    pub(super) exit: watch::Receiver<Option<ExitStatus>>,
    /// Set before bursar signals the group, so that the exit it causes is not a crash.
    pub(super) stopping: Arc<AtomicBool>,
    /// Set once the group was seen empty, the child reaped: from then on the kernel may give
    /// its id to another group, so it is never signalled again.
    #[cfg(target_os = "linux")]
    pub(super) group_gone: Arc<AtomicBool>,
    pub(super) stopped: bool,
    pub(super) stdio: Stdio,
    #[cfg(not(target_os = "linux"))]
    pub(super) kill: Arc<tokio::sync::Notify>,
}

/// The child's standard streams that the command piped, until taken.
#[derive(Debug, Default)]
pub(super) struct Stdio {
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
}

impl Supervised {
    /// Starts `command` as the leader of a new process group, makes this process a child
    /// subreaper ([`set_child_subreaper`](super::set_child_subreaper)) and watches the child's
    /// exit on a task of the current runtime. `name` names the process in logs.
    ///
    /// The command's process group is replaced; everything else (arguments, environment,
    /// standard streams) is used as given.
    ///
    /// # Errors
    ///
    /// The error of `prctl` or of starting the command (for example, a program not found).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its IO driver enabled, as [`Command::spawn`] does.
    pub fn spawn(name: impl Into<Arc<str>>, mut command: Command) -> io::Result<Self> {
        super::set_child_subreaper()?;
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn()?;
        let pid = child.id().expect("a child that was never polled has its pid");
        #[cfg(target_os = "linux")]
        super::guardian::register(super::group::Group::of(pid));
        let live = super::live::Live::count();
        let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let (report, exit) = watch::channel(None);
        let this = Self {
            name: name.into(),
            pid,
            exit,
            stopping: Arc::default(),
            #[cfg(target_os = "linux")]
            group_gone: Arc::default(),
            stopped: false,
            stdio: Stdio { stdin, stdout, stderr },
            #[cfg(not(target_os = "linux"))]
            kill: Arc::default(),
        };
        tokio::spawn(this.watch(child, report, live));
        Ok(this)
    }

    /// The name given at [`spawn`](Self::spawn).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's pid; on Linux also its process group's id.
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// The child's standard input if the command piped it ([`std::process::Stdio::piped`]);
    /// `None` otherwise and once taken.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdio.stdin.take()
    }

    /// The child's standard output if the command piped it; `None` otherwise and once taken.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdio.stdout.take()
    }

    /// The child's standard error if the command piped it; `None` otherwise and once taken.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.stdio.stderr.take()
    }

    /// The child's exit status if it has exited (and been reaped), `None` while it runs. Never
    /// waits.
    pub fn try_status(&self) -> Option<ExitStatus> {
        *self.exit.borrow()
    }

    /// Waits until the child exits and returns its exit status (at once if it has already).
    ///
    /// The rest of its group may still run: [`stop`](Self::stop) ends and reaps it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future changes nothing, and any number of them may wait.
    ///
    /// # Panics
    ///
    /// If waiting for the child failed (an `ERROR` event says why), which `waitpid` does not do
    /// for a child of this process that only its tokio handle waits for.
    pub async fn exited(&self) -> ExitStatus {
        let mut exit = self.exit.clone();
        let status = exit.wait_for(Option::is_some).await;
        // The sender lives in the watching task until it has published the status.
        status.map_or_else(|_| unreachable_exit(), |status| status.expect("waited for `Some`"))
    }

    /// The watching task: waits for the child, publishes its status, and logs an exit that no
    /// stop asked for. A child that leaves no process in its group is its group's end: the
    /// guardian forgets the group before the exit is published.
    fn watch(
        &self,
        child: Child,
        report: watch::Sender<Option<ExitStatus>>,
        live: super::live::Live,
    ) -> impl Future<Output = ()> + Send + 'static {
        let (name, pid, stopping) = (Arc::clone(&self.name), self.pid, Arc::clone(&self.stopping));
        #[cfg(target_os = "linux")]
        let group_gone = Arc::clone(&self.group_gone);
        #[cfg(not(target_os = "linux"))]
        let kill = Arc::clone(&self.kill);
        async move {
            #[cfg(target_os = "linux")]
            let status = wait(child).await;
            #[cfg(not(target_os = "linux"))]
            let status = fallback::wait_or_kill(child, &kill).await;
            drop(live);
            #[cfg(target_os = "linux")]
            if super::guardian::release_if_empty(super::group::Group::of(pid)) {
                // SeqCst: one flag, read before each signal; no ordering with other data.
                group_gone.store(true, Ordering::SeqCst);
            }
            match status {
                Ok(status) if stopping.load(Ordering::SeqCst) => {
                    tracing::debug!(process = %name, pid, %status, "supervised process stopped");
                    report.send_replace(Some(status));
                }
                Ok(status) => {
                    tracing::warn!(process = %name, pid, %status, "supervised process exited");
                    report.send_replace(Some(status));
                }
                Err(error) => {
                    tracing::error!(process = %name, pid, %error, "waiting for a supervised process failed");
                }
            }
        }
    }
}

#[cfg(target_os = "linux")]
async fn wait(mut child: Child) -> io::Result<ExitStatus> {
    child.wait().await
}

/// `exited` after the watching task ended without a status: only when `waitpid` itself failed,
/// which it does not for a child of ours that tokio owns.
fn unreachable_exit() -> ExitStatus {
    panic!("the supervised process could not be waited for (see the ERROR event)")
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if !self.stopped {
            self.stopping.store(true, Ordering::SeqCst);
            self.kill_in_background();
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod fallback {
    use std::future::poll_fn;
    use std::io;
    use std::pin::pin;
    use std::process::ExitStatus;
    use std::task::Poll;

    use tokio::process::Child;
    use tokio::sync::Notify;

    /// Waits for the child; a notification kills it first (the plain child's stop).
    pub(super) async fn wait_or_kill(mut child: Child, kill: &Notify) -> io::Result<ExitStatus> {
        let asked = {
            let mut exit = pin!(child.wait());
            let mut asked = pin!(kill.notified());
            poll_fn(|cx| match exit.as_mut().poll(cx) {
                Poll::Ready(status) => Poll::Ready(Some(status)),
                Poll::Pending => asked.as_mut().poll(cx).map(|()| None),
            })
            .await
        };
        match asked {
            Some(status) => status,
            None => {
                child.start_kill()?;
                child.wait().await
            }
        }
    }
}

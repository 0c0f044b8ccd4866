//! Stopping a supervised process: what it reports and how it fails.

use std::io;
use std::process::ExitStatus;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Supervised;

/// How long [`Supervised::stop`] waits for the group to be gone after SIGKILL. Only a process
/// stuck in the kernel (uninterruptible sleep) outlives SIGKILL that long.
#[cfg(target_os = "linux")]
pub(super) const KILL_WAIT: Duration = Duration::from_secs(5);

/// What [`Supervised::stop`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stopped {
    /// The child's exit status (`signal: 15` for SIGTERM, `signal: 9` after the grace).
    pub status: ExitStatus,
    /// Whether the group outlived the grace and was sent SIGKILL.
    pub forced: bool,
    /// How many other processes of the group came back to this process (the subreaper) and were
    /// reaped by it. Descendants that their own parent reaped are not counted.
    pub descendants_reaped: usize,
}

/// Why [`Supervised::stop`] failed. The process group is then sent SIGKILL again as the
/// `Supervised` is dropped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StopError {
    /// Signalling the process group failed (for example, a permission error).
    #[error("signalling process group {group} failed: {source}")]
    Signal {
        /// The process group's id.
        group: u32,
        /// The system call's error.
        #[source]
        source: io::Error,
    },
    /// Processes of the group were still there 5 s after SIGKILL (a process stuck in the kernel).
    #[error("process group {group} still has processes 5 s after SIGKILL")]
    Lingering {
        /// The process group's id.
        group: u32,
    },
}

impl Supervised {
    /// Stops the process and its group: SIGTERM to the group, SIGKILL to it if any process of
    /// it is still there after `grace`, and every process of the group reaped (the child through
    /// its own handle, the descendants that came back to this process through `waitpid`) before
    /// it returns. The exit it causes logs no `WARN`.
    ///
    /// On other platforms than Linux the child is killed at once and `grace` is not used.
    ///
    /// # Errors
    ///
    /// [`StopError::Signal`] if a signal could not be sent, [`StopError::Lingering`] if the
    /// group is not gone 5 s after SIGKILL. Dropping the `Supervised` then sends SIGKILL again.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe in the sense that the stop goes on: dropping the future drops the
    /// `Supervised`, which sends SIGKILL to the group and reaps it in the background.
    pub async fn stop(mut self, grace: Duration) -> Result<Stopped, StopError> {
        // SeqCst: one flag, read once by the watching task; no ordering with other data.
        self.stopping.store(true, Ordering::SeqCst);
        let stopped = self.end(grace).await?;
        self.stopped = true;
        Ok(stopped)
    }

    #[cfg(target_os = "linux")]
    async fn end(&self, grace: Duration) -> Result<Stopped, StopError> {
        use rustix::process::Signal;

        let group = super::group::Group::of(self.pid);
        let failed = |source| StopError::Signal { group: group.id(), source };
        let mut reaped = 0;
        let mut forced = false;
        if !self.group_is_gone(group) {
            group.signal(Signal::TERM).map_err(failed)?;
            if !reap_until_empty(self, group, grace, &mut reaped).await {
                forced = true;
                group.signal(Signal::KILL).map_err(failed)?;
                if !reap_until_empty(self, group, KILL_WAIT, &mut reaped).await {
                    return Err(StopError::Lingering { group: group.id() });
                }
            }
        }
        let status = self.exited().await;
        Ok(Stopped { status, forced, descendants_reaped: reaped })
    }

    #[cfg(not(target_os = "linux"))]
    async fn end(&self, _grace: Duration) -> Result<Stopped, StopError> {
        self.kill.notify_one();
        let status = self.exited().await;
        Ok(Stopped { status, forced: true, descendants_reaped: 0 })
    }

    /// Drop's stop: SIGKILL to the group now, the reaping on a task (when there is a runtime).
    #[cfg(target_os = "linux")]
    pub(super) fn kill_in_background(&self) {
        let group = super::group::Group::of(self.pid);
        if self.group_is_gone(group) {
            return;
        }
        if let Err(error) = group.signal(rustix::process::Signal::KILL) {
            tracing::error!(process = %self.name, group = group.id(), %error, "killing a dropped supervised process failed");
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let watched = Self {
            name: std::sync::Arc::clone(&self.name),
            pid: self.pid,
            exit: self.exit.clone(),
            stopping: std::sync::Arc::clone(&self.stopping),
            group_gone: std::sync::Arc::clone(&self.group_gone),
            stopped: true,
            stdio: super::supervised::Stdio::default(),
        };
        runtime.spawn(async move { reap_until_empty(&watched, group, KILL_WAIT, &mut 0).await });
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn kill_in_background(&self) {
        self.kill.notify_one();
    }
}

#[cfg(target_os = "linux")]
impl Supervised {
    /// Whether no process of the group is left, the child reaped (its id then free for the
    /// kernel to give to a new group, which a signal must never reach): known once seen, so a
    /// handle kept after its group ended never signals the group that took its id.
    fn group_is_gone(&self, group: super::group::Group) -> bool {
        // SeqCst: see the flag's store in the watching task.
        if self.group_gone.load(Ordering::SeqCst) {
            return true;
        }
        // The child leads the group until it is reaped, so an empty group means the child was.
        let gone = super::guardian::release_if_empty(group);
        if gone {
            self.group_gone.store(true, Ordering::SeqCst);
        }
        gone
    }
}

/// How often a stop looks whether the group is gone.
#[cfg(target_os = "linux")]
const POLL: Duration = Duration::from_millis(5);

/// Reaps what it may of `group` until it is empty (`true`: the guardian forgets it) or `within`
/// has passed (`false`).
/// The rest of the group is reaped only once the child's own handle has reaped the child.
#[cfg(target_os = "linux")]
async fn reap_until_empty(
    child: &Supervised,
    group: super::group::Group,
    within: Duration,
    reaped: &mut usize,
) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if child.try_status().is_some() {
            *reaped += group.reap();
        }
        if child.group_is_gone(group) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

//! A session's processes that leave its process group: Chromium's crash handlers.
//!
//! Each Chromium starts two `chrome_crashpad_handler`s that fork twice and call `setsid`, so each
//! leads a session and a process group of its own: no signal to the session's group reaches them,
//! and `Supervised::stop`, which reaps the group, does not wait for them. Their intermediate
//! parent exits at once, so they come back to this process (the child subreaper), and when
//! Chromium ends they end too and stay zombies until this process waits for them. bursar reaps
//! only a supervised group (it never waits for "any child"), so a session keeps their pids and
//! reaps them itself, by pid, after its group has stopped.

use std::path::Path;
use std::time::Duration;

use rustix::process::{Pid, Signal, WaitOptions, kill_process, waitpid};
use tokio::time::{Instant, sleep};

use super::MARKER;
use super::census::{self, Scope};

/// How often the reaping looks again.
const POLL: Duration = Duration::from_millis(10);
/// How long strays may take to go after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// The processes of a session outside its group that are children of this process.
#[derive(Debug, Default)]
pub(super) struct Strays {
    pids: Vec<Pid>,
    /// The session's profile and group, to find more when dropped (a cancelled `create`).
    profile: String,
    group: u32,
}

/// What reaping the strays did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Reaped {
    /// Strays reaped, each once.
    pub(crate) reaped: usize,
    /// Of them, strays still running after the grace and sent SIGKILL.
    pub(crate) killed: usize,
}

impl Strays {
    /// No stray yet, for the session of `profile` whose group is `group`.
    pub(super) fn of(profile: &Path, group: u32) -> Self {
        Strays { pids: Vec::new(), profile: profile.display().to_string(), group }
    }

    /// Adds the running processes that carry the session's marker, are outside its group and
    /// are children of this process. Run it while they run: a zombie's environment is gone.
    pub(super) fn find(&mut self) {
        let scope = Scope {
            marker: format!("{MARKER}={}", self.profile),
            dir: String::new(),
            groups: Default::default(),
            descendants: false,
        };
        let me = std::process::id();
        for process in census::take(&scope).running {
            let pid = i32::try_from(process.pid).ok().and_then(Pid::from_raw);
            let stray = process.group != self.group && process.parent == me;
            if let Some(pid) = pid.filter(|pid| stray && !self.pids.contains(pid)) {
                self.pids.push(pid);
            }
        }
    }

    /// Waits up to `grace` for every stray to end on its own (they end with Chromium), sends
    /// SIGKILL to those still running, and reaps each one.
    pub(super) async fn reap(mut self, grace: Duration) -> Reaped {
        self.profile.clear(); // reaped here: nothing for `drop` to do
        let mut left = std::mem::take(&mut self.pids);
        let (mut done, started) = (Reaped::default(), Instant::now());
        loop {
            left.retain(|pid| match waitpid(Some(*pid), WaitOptions::NOHANG) {
                Ok(None) => true,
                Ok(Some(_)) => {
                    done.reaped += 1;
                    false
                }
                Err(error) => {
                    tracing::error!(pid = pid.as_raw_nonzero(), %error, "waiting for a crash handler failed");
                    false
                }
            });
            let waited = started.elapsed();
            if left.is_empty() || waited >= grace + KILL_WAIT {
                break;
            }
            if waited >= grace && done.killed == 0 {
                // A stray is a child of this process that only this code waits for: its pid
                // cannot have been reused before it is reaped here.
                for pid in &left {
                    let _ = kill_process(*pid, Signal::KILL);
                }
                done.killed = left.len();
            }
            sleep(POLL).await;
        }
        if !left.is_empty() {
            tracing::error!(strays = ?left, "crash handlers outlived SIGKILL");
        }
        done
    }
}

/// A cancelled `create`: the strays that run now are found before the group is killed (this
/// field drops first) and reaped on a task, if there is a runtime.
impl Drop for Strays {
    fn drop(&mut self) {
        if self.profile.is_empty() {
            return;
        }
        self.find();
        self.profile.clear();
        let strays =
            Strays { pids: std::mem::take(&mut self.pids), profile: String::new(), group: self.group };
        if let (false, Ok(runtime)) = (strays.pids.is_empty(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(strays.reap(super::STOP_GRACE));
        }
    }
}

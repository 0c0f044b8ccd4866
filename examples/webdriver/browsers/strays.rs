//! A session's processes that leave its process group: Chromium's crash handlers.
//!
//! Each Chromium starts two `chrome_crashpad_handler`s that fork twice and call `setsid`, so each
//! leads a session and a process group of its own: no signal to the session's group reaches them,
//! and `Supervised::stop`, which reaps the group, does not wait for them. Their intermediate
//! parent exits at once, so they come back to this process (the child subreaper), and when
//! Chromium ends they end too and stay zombies until this process waits for them. bursar reaps
//! only a supervised group (it never waits for "any child"), so the example does the rest: a
//! session notes its strays' pids while they run (a zombie's environment, which carries the
//! session's marker, is gone), sends SIGKILL to those still running a grace after its group
//! stopped, and reaps every zombie child of this process that left this process's session by
//! `setsid` — its own strays, and those of a launch given up before they could be noted.

use std::path::Path;
use std::time::Duration;

use rustix::process::{Pid, Signal, WaitOptions, kill_process, waitpid};
use tokio::time::{Instant, sleep};

use super::MARKER;
use super::census::{self, Process, Scope};

/// How often the reaping looks again.
const POLL: Duration = Duration::from_millis(10);
/// How long strays may take to go after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// The processes of a session outside its group that are children of this process.
#[derive(Debug, Default)]
pub(super) struct Strays {
    /// Each stray's pid and start time: another session's reaping (`reap_escaped` takes every
    /// escaped zombie) may free a stray's pid, which the kernel may then give to a new
    /// chromedriver; only the start time tells the two apart.
    pids: Vec<(u32, u64)>,
    /// The session's profile and group, to find more when dropped (a cancelled `create`);
    /// empty once reaped.
    profile: String,
    group: u32,
}

/// What reaping strays did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Reaped {
    /// Zombie children of this process that had left its session, reaped (a session's own
    /// strays, and any others that had ended by then).
    pub(crate) reaped: usize,
    /// The session's strays still running a grace after its group stopped, sent SIGKILL.
    pub(crate) killed: usize,
}

impl Strays {
    /// No stray yet, for the session of `profile` whose group is `group`.
    pub(super) fn of(profile: &Path, group: u32) -> Self {
        Strays { pids: Vec::new(), profile: profile.display().to_string(), group }
    }

    /// Notes the running processes that carry the session's marker, are outside its group and
    /// are children of this process.
    pub(super) fn find(&mut self) {
        let scope = Scope {
            marker: format!("{MARKER}={}", self.profile),
            dir: String::new(),
            groups: Default::default(),
            descendants: false,
        };
        let me = std::process::id();
        for process in census::take(&scope).running {
            let stray = (process.pid, process.started);
            if process.group != self.group && process.parent == me && !self.pids.contains(&stray) {
                self.pids.push(stray);
            }
        }
    }

    /// Reaps the strays as they end (they end with Chromium), sends SIGKILL to those of the
    /// session still running after `grace`, and returns once none of them is left.
    pub(super) async fn reap(mut self, grace: Duration) -> Reaped {
        self.profile.clear(); // reaped here: nothing for `drop` to do
        let (mut done, started) = (Reaped::default(), Instant::now());
        loop {
            done.reaped += reap_escaped();
            // Still this stray only if the pid's process started when it did: once reaped (here,
            // or by another session's `reap_escaped`) its pid may be another process's.
            self.pids.retain(|&(pid, started)| Process::read(pid).is_some_and(|now| now.started == started));
            let waited = started.elapsed();
            if self.pids.is_empty() || waited >= grace + KILL_WAIT {
                break;
            }
            if waited >= grace && done.killed == 0 {
                for pid in self.pids.iter().filter_map(|&(pid, _)| pid_of(pid)) {
                    let _ = kill_process(pid, Signal::KILL);
                }
                done.killed = self.pids.len();
            }
            sleep(POLL).await;
        }
        if !self.pids.is_empty() {
            tracing::error!(strays = ?self.pids, "crash handlers outlived SIGKILL");
        }
        done
    }
}

/// A cancelled `create`: the strays that run now are noted before the group is killed (this
/// field drops first); a task then waits out the grace and reaps them, with any that started
/// too late to be noted, if there is a runtime.
impl Drop for Strays {
    fn drop(&mut self) {
        if self.profile.is_empty() {
            return;
        }
        self.find();
        self.profile.clear();
        let strays =
            Strays { pids: std::mem::take(&mut self.pids), profile: String::new(), group: self.group };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                sleep(super::STOP_GRACE).await;
                strays.reap(super::STOP_GRACE).await
            });
        }
    }
}

/// Reaps every zombie child of this process that is in another session than this process:
/// one that left it by `setsid`. No other child of this process does that — tokio's children
/// and the supervised groups stay in this session — so none that tokio waits for is taken.
fn reap_escaped() -> usize {
    let Some(me) = Process::read(std::process::id()) else { return 0 };
    let escaped =
        census::children(me.pid).into_iter().filter(|child| child.is_zombie() && child.session != me.session);
    let reaped = escaped
        .filter_map(|child| pid_of(child.pid))
        .filter(|pid| matches!(waitpid(Some(*pid), WaitOptions::NOHANG), Ok(Some(_))));
    reaped.count()
}

fn pid_of(pid: u32) -> Option<Pid> {
    i32::try_from(pid).ok().and_then(Pid::from_raw)
}

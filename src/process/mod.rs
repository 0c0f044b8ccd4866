//! Supervised child processes: no zombie, no orphan (feature `process`, Linux first).
//!
//! A browser, its driver and their helpers are a tree of processes. When the service only holds
//! the first of them, a crash or a dropped handle leaves the rest running, reparented to PID 1,
//! or dead but never waited for (zombies), until the service hits its process or file limits.
//! [`Supervised`] holds the whole tree:
//!
//! - **A process group per child.** [`Supervised::spawn`] starts the command as the leader of a
//!   new process group, so one signal reaches the child and every descendant that stays in its
//!   group (renderers, crash handlers, `sleep`s of a shell script).
//! - **The service as child subreaper** ([`set_child_subreaper`], called by every spawn). A
//!   descendant whose parent dies comes back to the service instead of PID 1, so the service can
//!   reap it.
//! - **Stop** ([`Supervised::stop`]): SIGTERM to the group, SIGKILL to it after the grace, and every
//!   process of the group reaped before it returns.
//! - **Crash detection.** The child's exit is observable at once ([`Supervised::exited`],
//!   [`Supervised::try_status`]), and an exit that no stop asked for logs a `WARN` naming the
//!   process and its exit status or signal.
//! - **Drop** sends SIGKILL to the group and reaps it in the background.
//! - **No signal after the group's end.** Once the group is seen empty, the child reaped, the
//!   kernel may give its id to a new group (pids come round in minutes on a busy host): a handle
//!   kept past that point — stopped or dropped later — signals nothing.
//!
//! ## Which exits bursar reaps
//!
//! The service's other children may belong to tokio (a [`tokio::process::Child`] waits for its
//! own pid) or to other code, so bursar never waits for "any child". It waits for the group's
//! leader only through its own [`tokio::process::Child`], and for the rest of the group only with
//! `waitpid(-group)` after that leader has been reaped: the group's other members that are
//! children of the service can only be descendants of the leader that came back to the
//! subreaper. Do not start other processes into a supervised group.
//!
//! ## When the service dies
//!
//! A service killed with SIGKILL runs no code of its own, so on Linux the first
//! [`Supervised::spawn`] starts a **guardian**: a small `/bin/sh` script in a process group of its
//! own, reading a pipe whose write end only the service holds. The service tells it of each
//! supervised group when the group is created, and again once the group is empty and reaped (so
//! a group id the kernel hands out again is never killed). When the service dies, by any signal,
//! the kernel closes the pipe; the guardian reads its end, sends SIGKILL to every group still
//! registered, and exits. A service that exits normally has the same effect on the groups it
//! did not stop.
//!
//! `prctl(PR_SET_PDEATHSIG)` would not do: it needs `unsafe` `pre_exec` (bursar is
//! `forbid(unsafe_code)`), it reaches only the direct child, not its group, and it fires when the
//! *thread* that forked exits — tokio's blocking threads end after 10 s idle — not the service.
//!
//! A guardian that dies (killed by someone, say) is a `WARN` at the next spawn, which starts
//! another and registers every live group with it again. A write to the guardian that fails is a
//! `WARN` too, never a wait: the guardian is ended and the next spawn starts another. Between the
//! two, groups outlive a service killed with SIGKILL.
//!
//! ## Other platforms
//!
//! Elsewhere bursar handles the plain child: no process group and no subreaper, and
//! [`Supervised::stop`] kills the child at once (there is no SIGTERM on every platform), then
//! waits for it. Its descendants are the program's own business there.
//!
//! ```
//! # #[cfg(target_os = "linux")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::os::unix::process::ExitStatusExt;
//! use std::process::Stdio;
//! use std::time::Duration;
//! use bursar::process::Supervised;
//! use tokio::io::{AsyncBufReadExt, BufReader};
//! use tokio::process::Command;
//!
//! // A stand-in for a browser: two helper processes, then "ready" on stdout.
//! let mut command = Command::new("sh");
//! command.args(["-c", "sleep 300 & sleep 300 & echo ready; wait"]).stdout(Stdio::piped());
//! let mut shell = Supervised::spawn("shell", command)?;
//! let stdout = shell.take_stdout().expect("piped");
//! let ready = BufReader::new(stdout).lines().next_line().await?;
//! assert_eq!(ready.as_deref(), Some("ready"));
//! assert_eq!(shell.try_status(), None); // still running
//!
//! let stopped = shell.stop(Duration::from_millis(200)).await?;
//! assert_eq!(stopped.status.signal(), Some(15)); // SIGTERM was enough
//! assert!(!stopped.forced);
//! assert_eq!(stopped.descendants_reaped, 2); // both sleeps, reaped by the service
//! # Ok(()) }
//! # #[cfg(not(target_os = "linux"))]
//! # fn main() {}
//! ```

#[cfg(target_os = "linux")]
mod group;
#[cfg(target_os = "linux")]
mod guardian;
mod live;
mod stop;
mod supervised;
#[cfg(all(test, target_os = "linux"))]
mod tests;

pub(crate) use live::live_supervised;
pub use stop::{StopError, Stopped};
pub use supervised::Supervised;

/// Makes this process a child subreaper: an orphaned descendant comes back to it instead of to
/// PID 1 (Linux's `prctl(PR_SET_CHILD_SUBREAPER)`). Every [`Supervised::spawn`] calls it; it
/// changes nothing when called again. Elsewhere it does nothing.
///
/// It holds for the whole process and for good: orphans of children that bursar does not
/// supervise come back too, and stay zombies until something waits for them. bursar reaps only
/// the groups of its [`Supervised`] processes; start the service's other long-lived children
/// through [`Supervised`] as well, or reap them yourself.
///
/// # Errors
///
/// The system call's error (none is documented for this `prctl`).
pub fn set_child_subreaper() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
    Ok(())
}

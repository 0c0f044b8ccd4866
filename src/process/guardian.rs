//! The guardian: a small shell, started once per service, that outlives the service only long
//! enough to kill its supervised groups.
//!
//! Its input is a pipe whose write end only the service holds (std opens pipes close-on-exec, so
//! no other child inherits it). The service writes `+<group>` when a supervised group is created
//! and `-<group>` once it is empty and reaped. When the service dies, by any signal, SIGKILL
//! included, the kernel closes that end; the guardian reads end of input, sends SIGKILL to every
//! group still registered, and exits.
//!
//! The input is written under a lock from `Supervised::spawn` (synchronous) and from the tasks
//! that reap, on whatever runtime they run, and the guardian outlives every runtime. So it is a
//! std pipe, not a tokio one (which belongs to the runtime that made it), set non-blocking: a line
//! is a few bytes, below `PIPE_BUF`, so it is written whole or not at all, and a guardian that
//! stopped reading makes the write fail with a `WARN`, never block the runtime.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

use parking_lot::Mutex;

use super::group::Group;

/// Reads `+<group>` and `-<group>` lines; at end of input sends SIGKILL to every group still
/// registered, and exits. A line that is not a sign and a group id above 1 is ignored: `kill`
/// of group 0 or 1 would reach the guardian's own group or every process it may signal.
/// `read`, `case`, `[` and `kill` are builtins of every POSIX shell in use (dash, bash, busybox),
/// so the guardian starts no process of its own; `kill -s KILL -- -<group>` is POSIX's form.
const SCRIPT: &str = r#"groups=
while read -r line; do
  case $line in
    [+-]|[+-]*[!0-9]*|[+-]0*|[+-]1) ;;
    +*) groups="$groups ${line#+}" ;;
    -*) kept=; for group in $groups; do [ "$group" = "${line#-}" ] || kept="$kept $group"; done; groups=$kept ;;
  esac
done
for group in $groups; do kill -s KILL -- "-$group" 2>/dev/null; done"#;

static GUARDIAN: Mutex<Guardian> = Mutex::new(Guardian { running: None, groups: BTreeSet::new() });

struct Guardian {
    /// The guardian and the write end of its input; `None` before the first spawn, and after the
    /// guardian was found dead or could not be written to, until the next spawn starts another.
    running: Option<(Child, ChildStdin)>,
    /// The supervised groups not yet empty and reaped.
    groups: BTreeSet<u32>,
}

/// Registers a new supervised group with the guardian, starting the guardian first if it is not
/// running (the first spawn, or the one after it died: then every live group is registered again).
pub(super) fn register(group: Group) {
    let mut guardian = GUARDIAN.lock();
    guardian.groups.insert(group.id());
    if guardian.is_running() {
        guardian.send(&line('+', group.id()));
    } else {
        guardian.start();
    }
}

/// Forgets `group` if no process of it is left (reaped, zombies included), so that the guardian
/// never kills a group id the kernel may hand out again; returns whether it is empty.
pub(super) fn release_if_empty(group: Group) -> bool {
    let empty = group.is_empty();
    if empty {
        let mut guardian = GUARDIAN.lock();
        if guardian.groups.remove(&group.id()) {
            guardian.send(&line('-', group.id()));
        }
    }
    empty
}

fn line(sign: char, group: u32) -> String {
    format!("{sign}{group}\n")
}

impl Guardian {
    /// Whether the guardian runs; one that exited is reaped here, with a `WARN`.
    fn is_running(&mut self) -> bool {
        let Some((process, _)) = &mut self.running else { return false };
        match process.try_wait() {
            Ok(None) => return true,
            Ok(Some(status)) => {
                tracing::warn!(%status, groups = self.groups.len(), "the process guardian exited; starting another");
            }
            Err(error) => {
                tracing::warn!(%error, groups = self.groups.len(), "the process guardian could not be waited for; starting another");
            }
        }
        false
    }

    /// Starts a guardian and registers every live group with it.
    fn start(&mut self) {
        self.retire();
        match spawn() {
            Ok(running) => {
                self.running = Some(running);
                let lines: String = self.groups.iter().map(|group| line('+', *group)).collect();
                self.send(&lines);
            }
            Err(error) => {
                tracing::warn!(%error, groups = self.groups.len(), "starting the process guardian failed; supervised groups outlive a service killed before the next spawn");
            }
        }
    }

    fn send(&mut self, lines: &str) {
        let Some((_, input)) = &mut self.running else { return };
        if let Err(error) = input.write_all(lines.as_bytes()) {
            tracing::warn!(%error, groups = self.groups.len(), "writing to the process guardian failed; the next spawn starts another");
            self.retire();
        }
    }

    /// Ends the guardian in place, if any, with SIGKILL first: closing its input alone would have
    /// it kill every group it knows. It has SIGKILL pending or has exited, so the wait is short.
    fn retire(&mut self) {
        if let Some((mut process, input)) = self.running.take() {
            let _ = process.kill();
            drop(input);
            let _ = process.wait();
        }
    }
}

/// Starts a guardian: in a process group of its own (a signal to the service's group, a
/// terminal's Ctrl-C, does not reach it), in `/` (it keeps no directory busy), its input a pipe.
fn spawn() -> io::Result<(Child, ChildStdin)> {
    use std::os::unix::process::CommandExt;

    let mut command = Command::new("/bin/sh");
    command.args(["-c", SCRIPT]).current_dir("/").process_group(0);
    command.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null());
    let mut process = command.spawn()?;
    let input = process.stdin.take().expect("piped");
    if let Err(error) = rustix::io::ioctl_fionbio(&input, true) {
        tracing::warn!(%error, "the process guardian's input stays blocking");
    }
    Ok((process, input))
}

/// What the tests look into: the groups registered, the guardian's pid, and the guardian ended as
/// the service's own death ends it.
#[cfg(test)]
pub(super) mod inspect {
    use super::GUARDIAN;

    pub(in crate::process) fn registered() -> Vec<u32> {
        GUARDIAN.lock().groups.iter().copied().collect()
    }

    pub(in crate::process) fn pid() -> Option<u32> {
        GUARDIAN.lock().running.as_ref().map(|(process, _)| process.id())
    }

    /// Closes the guardian's input, waits for it to exit, and forgets every group.
    pub(in crate::process) fn close() -> std::process::ExitStatus {
        let mut guardian = GUARDIAN.lock();
        guardian.groups.clear();
        let (mut process, input) = guardian.running.take().expect("a guardian runs");
        drop(input);
        process.wait().expect("the guardian is our child")
    }

    /// Starts a guardian of its own, not the service's, for a test to write to.
    pub(in crate::process) fn spawn() -> (std::process::Child, std::process::ChildStdin) {
        super::spawn().expect("sh starts")
    }

    /// The guardian's script with `kill -s KILL` replaced by `echo`, given `input`: the `kill`
    /// arguments it would have run, one line each, and nothing killed.
    pub(in crate::process) fn dry_run(input: &str) -> String {
        use std::io::Write;
        use std::process::{Command, Stdio};

        let script = super::SCRIPT.replace("kill -s KILL", "echo");
        let mut command = Command::new("/bin/sh");
        command.args(["-c", &script]).stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut shell = command.spawn().expect("sh starts");
        shell.stdin.take().expect("piped").write_all(input.as_bytes()).expect("written");
        let output = shell.wait_with_output().expect("sh ends");
        String::from_utf8(output.stdout).expect("text")
    }
}

//! A supervised process group on Linux: signalling it, reaping it, seeing it empty.

use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions, kill_process_group, test_kill_process_group, waitpgid};

/// The process group a supervised child leads (its id is the child's pid).
#[derive(Debug, Clone, Copy)]
pub(super) struct Group(Pid);

impl Group {
    pub(super) fn of(leader: u32) -> Self {
        let id = i32::try_from(leader).ok().and_then(Pid::from_raw);
        Self(id.expect("a child's pid is a positive i32"))
    }

    pub(super) fn id(self) -> u32 {
        self.0.as_raw_nonzero().get().unsigned_abs()
    }

    /// Sends `signal` to every process of the group; a group already gone is not an error.
    pub(super) fn signal(self, signal: Signal) -> std::io::Result<()> {
        match kill_process_group(self.0, signal) {
            Err(Errno::SRCH) => Ok(()),
            other => Ok(other?),
        }
    }

    /// Whether no process (a zombie included) is left in the group.
    pub(super) fn is_empty(self) -> bool {
        test_kill_process_group(self.0) == Err(Errno::SRCH)
    }

    /// Reaps every member of the group that is a child of this process and has ended; returns
    /// how many. Only after the leader was reaped through its `Child` (see the module docs).
    pub(super) fn reap(self) -> usize {
        let mut reaped = 0;
        while let Ok(Some(_)) = waitpgid(self.0, WaitOptions::NOHANG) {
            reaped += 1;
        }
        reaped
    }
}

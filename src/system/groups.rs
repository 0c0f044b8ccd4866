//! The resident memory of whole process groups: a browser with its renderers, a driver with its
//! browser, each started in a group of its own.

use std::collections::HashMap;

use super::proc_files::{ProcRoot, first_number, group_in_stat};

/// The resident memory, in bytes, of each of `groups` (process group ids) that has a process:
/// the sum over its processes of `VmRSS` (`/proc/<pid>/status`, which the kernel gives in kB,
/// so no page size is assumed). A group with no process left has no entry; a group of zombies
/// only has `0`. Memory shared between processes (a browser's shared libraries, its shared
/// memory with its renderers) counts once per process, as `VmRSS` does: the sum is an upper
/// bound of what the group holds, which is what a cap on it wants.
///
/// The pool calls it on its reaper's cadence with its connections' groups.
///
/// # Cost
///
/// One scan of `/proc`: a read of `/proc/<pid>/stat` for every process, and of its `status` for
/// each process in one of `groups`. Empty off Linux.
pub(crate) fn group_resident_bytes(groups: &[u32]) -> HashMap<u32, u64> {
    ProcRoot::system().map_or_else(HashMap::new, |proc| resident_bytes_in(proc, groups))
}

pub(super) fn resident_bytes_in(proc: ProcRoot<'_>, groups: &[u32]) -> HashMap<u32, u64> {
    let mut resident = HashMap::new();
    for pid in proc.pids() {
        // A process that ended since the listing has no files left: it holds nothing.
        let Some(group) = proc.read(&format!("{pid}/stat")).as_deref().and_then(group_in_stat) else {
            continue;
        };
        if groups.contains(&group) {
            let status = proc.read(&format!("{pid}/status")).unwrap_or_default();
            // Zombies and kernel threads have no `VmRSS` line: no memory of their own.
            let kilobytes = first_number(&status, "VmRSS").unwrap_or(0);
            *resident.entry(group).or_insert(0) += kilobytes * 1024;
        }
    }
    resident
}

//! `max_rss`: the resident memory of each connection's process group, read on the reaper's
//! cadence, and the connections over the cap retired.
//!
//! A browser grows over a day until the OOM killer ends it and everything beside it. The pool
//! asks the manager once which process group runs a connection
//! ([`Manager::process_group`](super::Manager::process_group)); every `reap_interval` it reads
//! the resident memory of all those groups in one pass over `/proc`, never per call. An idle
//! connection over the cap is destroyed at once; a leased one is marked in the ledger and
//! destroyed when it comes back, so no work is cut off midway.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Manager;
use super::counters::PoolCount;
use super::shared::Shared;

/// Reads the resident memory, in bytes, of every process group asked for that has a process.
pub(crate) type ReadMemory = Arc<dyn Fn(&[u32]) -> HashMap<u32, u64> + Send + Sync>;

/// How the pool reads its connections' memory, and what it read last.
pub(super) struct MemoryWatch {
    read: ReadMemory,
    /// The largest group's resident memory at the last reading; `u64::MAX` before any.
    largest: AtomicU64,
}

impl MemoryWatch {
    pub(super) fn new(read: ReadMemory) -> Self {
        MemoryWatch { read, largest: AtomicU64::new(u64::MAX) }
    }

    /// The largest group's resident memory at the last reading.
    pub(super) fn largest(&self) -> Option<u64> {
        // Relaxed: a gauge for the status; it orders nothing.
        Some(self.largest.load(Ordering::Relaxed)).filter(|&largest| largest != u64::MAX)
    }
}

impl fmt::Debug for MemoryWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryWatch").field("largest", &self.largest()).finish_non_exhaustive()
    }
}

impl<M: Manager> Shared<M> {
    /// One reading of every connection's process group against `max_rss`: idle connections
    /// over it are destroyed, leased ones marked to be destroyed when they come back.
    pub(super) fn watch_memory(self: &Arc<Self>) {
        let Some(max_rss) = self.config.max_rss else { return };
        let mut groups = Vec::new();
        {
            let state = self.state.lock();
            state.sessions.idle_groups(&mut groups);
            state.checkouts.groups(&mut groups);
        }
        if groups.is_empty() {
            return;
        }
        let resident = (self.memory.read)(&groups);
        let largest = resident.values().copied().max().unwrap_or(0);
        // Relaxed: see `MemoryWatch::largest`.
        self.memory.largest.store(largest, Ordering::Relaxed);
        let over: HashSet<u32> =
            resident.iter().filter(|&(_, &bytes)| bytes > max_rss).map(|(&group, _)| group).collect();
        if over.is_empty() {
            return;
        }
        let (idle, leased) = {
            let state = &mut *self.state.lock();
            let idle = state.sessions.take_idle_in_groups(&over);
            let leased = state.checkouts.mark_over_memory(&over);
            (idle, leased.into_iter().map(|session| state.sessions.key_text(session)).collect::<Vec<_>>())
        };
        for conn in &idle {
            let group = conn.group.map_or(0, |group| group.get());
            let rss = resident.get(&group).copied().unwrap_or(0);
            tracing::warn!(target: "bursar::pool", key = ?conn.key, group, rss, max_rss, "idle connection over max_rss; destroyed");
        }
        for key in &leased {
            tracing::warn!(target: "bursar::pool", key = %key, max_rss, "leased connection over max_rss; destroyed when it comes back");
        }
        self.destroy_all(idle, Some(PoolCount::RetiredForMemory));
    }
}

/// The resident memory of every process in one of `groups`, summed by group: one pass over
/// `/proc`, reading each process's group (`/proc/<pid>/stat`) and, for those in a group asked
/// for, its `VmRSS` (`/proc/<pid>/status`). A process that ends midway is skipped. Empty
/// where there is no `/proc`.
pub(crate) fn read_proc(groups: &[u32]) -> HashMap<u32, u64> {
    let wanted: HashSet<u32> = groups.iter().copied().collect();
    let mut resident = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return resident };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
            continue;
        };
        let Some(group) = process_group_of(pid).filter(|group| wanted.contains(group)) else { continue };
        if let Some(bytes) = resident_bytes_of(pid) {
            *resident.entry(group).or_insert(0) += bytes;
        }
    }
    resident
}

/// The process group of `pid`: the fifth field of `/proc/<pid>/stat`, counted after the
/// command name's closing parenthesis (the name itself may hold spaces and parentheses).
fn process_group_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    // state, ppid, pgrp
    after_name.split_whitespace().nth(2)?.parse().ok()
}

/// `VmRSS` of `pid` in bytes (the kernel writes it in kB); none for a zombie or kernel thread.
fn resident_bytes_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    use super::read_proc;

    #[test]
    fn reads_the_resident_memory_of_a_real_process_group_and_only_of_those_asked_for() {
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 30 & sleep 30 & wait"]).process_group(0).stdout(Stdio::null());
        let mut child = command.spawn().unwrap();
        let group = child.id();
        // Wait until both sleeps have started: three processes in the group.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let members = || {
            let entries = std::fs::read_dir("/proc").unwrap().flatten();
            let pids = entries.filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok());
            pids.filter(|&pid| super::process_group_of(pid) == Some(group)).count()
        };
        while members() < 3 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        let read = read_proc(&[group, u32::MAX]);
        let mine = read_proc(&[std::process::id()]);
        let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{group}")]).status();
        let _ = child.wait();
        assert_eq!(read.len(), 1, "only the group that exists: {read:?}");
        let bytes = read[&group];
        // Three small processes: at least a page each, far below a gigabyte.
        assert!((3 * 4096..1 << 30).contains(&bytes), "{bytes} bytes");
        assert!(mine.is_empty() || mine.values().all(|&bytes| bytes > 0));
    }
}

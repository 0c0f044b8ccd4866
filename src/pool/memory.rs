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

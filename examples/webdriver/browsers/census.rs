//! What of a browser run is still there, read from `/proc`: the example's closing line and the
//! Chromium tests' assertions.
//!
//! A process belongs to a run if any of these holds, so that none escapes by one route: its
//! environment carries the run's marker (chromedriver and Chromium's browser process; Chromium
//! writes its helpers' titles over the memory where their environment was), its command line
//! names the run's directory (every Chromium process carries `--user-data-dir=<profile>`), its
//! process group is one the run started, or its parent chain leads to this process — except
//! bursar's process guardian, a `/bin/sh` child that every `Supervised::spawn` of this process
//! shares and that lives as long as this process does.

use std::collections::BTreeSet;

/// One process as `/proc/<pid>/stat` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Process {
    pub(crate) pid: u32,
    pub(crate) command: String,
    /// `R`, `S`, `D`, `Z` (a zombie: ended, not yet waited for) and so on.
    pub(crate) state: char,
    pub(crate) parent: u32,
    pub(crate) group: u32,
    pub(crate) session: u32,
    /// When the process started, in clock ticks after boot: with the pid, names one process
    /// for good (a pid is given again once its process is reaped; a start time is not).
    pub(crate) started: u64,
}

impl Process {
    /// Reads `/proc/<pid>/stat`; `None` if the process is gone.
    pub(crate) fn read(pid: u32) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name is in parentheses and may hold spaces and parentheses itself.
        let (head, rest) = stat.rsplit_once(')')?;
        let command = head.split_once('(')?.1.to_owned();
        let mut fields = rest.split_whitespace();
        let state = fields.next()?.chars().next()?;
        let mut number = || fields.next()?.parse::<u32>().ok();
        let (parent, group, session) = (number()?, number()?, number()?);
        // `starttime`, the 22nd field of `stat`: 15 after `session`, the 6th.
        let started = fields.nth(15)?.parse().ok()?;
        Some(Process { pid, command, state, parent, group, session, started })
    }

    pub(crate) fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} pid {} ({}, parent {}, group {}, session {})",
            self.command, self.pid, self.state, self.parent, self.group, self.session
        )
    }
}

/// The processes of a run: `running` ones and `zombies`.
#[derive(Debug, Default)]
pub(crate) struct Census {
    pub(crate) running: Vec<Process>,
    pub(crate) zombies: Vec<Process>,
}

/// What makes a process one of ours.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    /// An environment variable naming a directory, `NAME=dir`: a process carries it if its
    /// value is `dir` or a path under it (a session's `…/session-1` is not under `…/session-10`).
    pub(crate) marker: String,
    /// A directory that the command line names, or a path under it.
    pub(crate) dir: String,
    /// Process groups.
    pub(crate) groups: BTreeSet<u32>,
    /// Whether a descendant of this process is ours too.
    pub(crate) descendants: bool,
}

/// Every process now in `scope` (this process itself aside).
pub(crate) fn take(scope: &Scope) -> Census {
    let me = std::process::id();
    let all: Vec<Process> = pids().filter_map(Process::read).collect();
    let mut census = Census::default();
    for process in all.iter().filter(|process| process.pid != me && !is_guardian(process, me)) {
        let ours = scope.groups.contains(&process.group)
            || (scope.descendants && descends_from(process, me, &all))
            || names(process.pid, &scope.dir)
            || carries(process.pid, &scope.marker);
        match (ours, process.is_zombie()) {
            (false, _) => {}
            (true, true) => census.zombies.push(process.clone()),
            (true, false) => census.running.push(process.clone()),
        }
    }
    census
}

/// The processes now in process group `group`, zombies included.
pub(crate) fn group(group: u32) -> Vec<Process> {
    pids().filter_map(Process::read).filter(|process| process.group == group).collect()
}

/// The children of `parent` now, zombies included.
pub(crate) fn children(parent: u32) -> Vec<Process> {
    pids().filter_map(Process::read).filter(|process| process.parent == parent).collect()
}

/// The resident memory, in bytes, of every process now in process group `group`: the sum of
/// their `VmRSS`, as the pool reads it for `max_rss`.
pub(crate) fn resident_bytes(group: u32) -> u64 {
    let members = self::group(group).into_iter().map(|process| process.pid);
    members.filter_map(vm_rss_kilobytes).sum::<u64>() * 1024
}

fn vm_rss_kilobytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn pids() -> impl Iterator<Item = u32> {
    let entries = std::fs::read_dir("/proc").into_iter().flatten();
    entries.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
}

/// Whether `process` is bursar's process guardian: a child of this process running `/bin/sh`
/// in a group of its own, with the script that ends in `kill -s KILL` to every group.
fn is_guardian(process: &Process, me: u32) -> bool {
    process.command == "sh"
        && process.parent == me
        && process.group == process.pid
        && command_line(process.pid).windows(12).any(|window| window == b"kill -s KILL")
}

fn descends_from(process: &Process, ancestor: u32, all: &[Process]) -> bool {
    let mut parent = process.parent;
    // A parent chain is at most as long as the process table; the bound guards against a table
    // read while it changed.
    for _ in 0..all.len() {
        if parent == ancestor {
            return true;
        }
        match all.iter().find(|candidate| candidate.pid == parent) {
            Some(next) if parent > 1 => parent = next.parent,
            _ => return false,
        }
    }
    false
}

/// Whether the command line of `pid` names directory `dir` or a path under it: `dir` followed
/// by `/` or the end of an argument (`…/session-1` does not name `…/session-10`).
fn names(pid: u32, dir: &str) -> bool {
    if dir.is_empty() {
        return false;
    }
    let command_line = command_line(pid);
    let dir = dir.as_bytes();
    (0..command_line.len()).any(|at| {
        command_line[at..].strip_prefix(dir).is_some_and(|rest| matches!(rest.first(), None | Some(b'/' | 0)))
    })
}

/// The arguments of `pid`, each ended by a NUL; empty if it is gone.
fn command_line(pid: u32) -> Vec<u8> {
    std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()
}

fn carries(pid: u32, marker: &str) -> bool {
    let environment = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let marker = marker.as_bytes();
    environment.split(|byte| *byte == 0).any(|variable| {
        variable.strip_prefix(marker).is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
    })
}

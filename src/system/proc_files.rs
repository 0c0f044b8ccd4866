//! The fields bursar reads from `/proc` text files, parsed without allocating per field.

use std::path::{Path, PathBuf};

/// Where `/proc` is: the real one, or a test's tree of the same shape.
#[derive(Debug, Clone, Copy)]
pub(super) struct ProcRoot<'a>(pub(super) &'a Path);

impl ProcRoot<'static> {
    /// The system's `/proc`; `None` off Linux, where its files mean something else or nothing.
    pub(super) fn system() -> Option<Self> {
        cfg!(target_os = "linux").then_some(ProcRoot(Path::new("/proc")))
    }
}

impl ProcRoot<'_> {
    pub(super) fn path(self, relative: &str) -> PathBuf {
        self.0.join(relative)
    }

    /// The pids of every process (each a directory named by its number; threads are not listed).
    pub(super) fn pids(self) -> impl Iterator<Item = u32> {
        let entries = std::fs::read_dir(self.0).into_iter().flatten().flatten();
        entries.filter_map(|entry| entry.file_name().to_str()?.parse().ok())
    }

    pub(super) fn read(self, relative: &str) -> Option<String> {
        std::fs::read_to_string(self.path(relative)).ok()
    }
}

/// The process group of a `/proc/<pid>/stat` line: its 5th field. The 2nd, the command name, is
/// in parentheses and may hold spaces and parentheses itself, so fields are counted from the
/// last `)`, which ends it.
pub(super) fn group_in_stat(stat: &str) -> Option<u32> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(2)?.parse().ok()
}

/// The value of a `Name:\tvalue …` line of a `/proc/<pid>/status` file, e.g. `Threads`.
pub(super) fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    let line = status.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))?;
    Some(line.trim())
}

/// The first number of a status field: the real id of `Uid`, the kB of `VmRSS`, `Threads`.
pub(super) fn first_number(status: &str, name: &str) -> Option<u64> {
    status_field(status, name)?.split_whitespace().next()?.parse().ok()
}

/// A soft limit of `/proc/<pid>/limits`, by its name (`Max open files`): `Some(None)` for
/// `unlimited`.
pub(super) fn soft_limit(limits: &str, name: &str) -> Option<Option<u64>> {
    let line = limits.lines().find_map(|line| line.strip_prefix(name))?;
    match line.split_whitespace().next()? {
        "unlimited" => Some(None),
        soft => soft.parse().ok().map(Some),
    }
}
